// A string-keyed map for entries added and removed at a high rate: transactions, sends in
// flight, events being answered. Why not a plain Map: V8's Map leaves, in each hash table it
// outgrows, shrinks or clears, a link to the table that replaced it (for live iterators).
// Once one such table is in the old generation (every live table is after a full
// collection), the scavenger keeps it, the chain of tables after it and every entry any of
// them held alive until the next full collection. Under steady churn each entry's object
// graph (a protocol transaction holds its parsed request) was promoted, and the old generation
// filled with garbage that needs mark-compacts. So the entries move to a fresh Map every
// few hundred insertions: a chain ends with the Map it belongs to. (A dictionary-mode object
// has no such links, but its lookups internalise each key: 2-3 times slower.)
// Measured: docs/decisions/0008-churn-maps.md.

/** Insertions between moves to a fresh Map (at least; see #set). */
const ROTATE_AFTER = 256;

/** A string-keyed map for short-lived entries (see above); Map's methods, minus ordering. */
export class ChurnMap<V> {
  #map = new Map<string, V>();
  #inserted = 0;

  get size(): number {
    return this.#map.size;
  }

  get(key: string): V | undefined {
    return this.#map.get(key);
  }

  has(key: string): boolean {
    return this.#map.has(key);
  }

  set(key: string, value: V): this {
    this.#map.set(key, value);
    // Copying costs one insertion per live entry: at least ROTATE_AFTER, and four times the
    // live entries, go in between, so a map holding many long-lived entries copies rarely.
    if (++this.#inserted >= ROTATE_AFTER && this.#inserted >= 4 * this.#map.size) {
      this.#inserted = 0;
      this.#map = new Map(this.#map);
    }
    return this;
  }

  delete(key: string): boolean {
    return this.#map.delete(key);
  }

  clear(): void {
    this.#map = new Map();
    this.#inserted = 0;
  }

  values(): IterableIterator<V> {
    return this.#map.values();
  }
}
