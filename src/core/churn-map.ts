// A string-keyed map for entries added and removed at a high rate: transactions, sends in
// flight, events being answered. Why not Map or Set: V8's Map and Set leave, in each hash
// table they outgrow, shrink or clear, a link to the table that replaced it (for live
// iterators). Once one such table has reached the old generation, the scavenger treats it,
// the chain of tables after it and every entry any of them held as live until the next full
// collection: under steady churn each entry's object graph (a SIP transaction holds its
// parsed request) is promoted, and the old generation fills with garbage that needs
// mark-compacts. A dictionary-mode object (Object.create(null)) has no such links.
// Measured: docs/decisions/0008-churn-maps.md.

/** A string-keyed map for short-lived entries (see above); Map's methods, minus ordering. */
export class ChurnMap<V> {
  #entries: Record<string, V> = Object.create(null);
  #size = 0;

  get size(): number {
    return this.#size;
  }

  get(key: string): V | undefined {
    return this.#entries[key];
  }

  has(key: string): boolean {
    return key in this.#entries;
  }

  set(key: string, value: V): this {
    if (!(key in this.#entries)) this.#size++;
    this.#entries[key] = value;
    return this;
  }

  delete(key: string): boolean {
    if (!(key in this.#entries)) return false;
    delete this.#entries[key];
    this.#size--;
    return true;
  }

  clear(): void {
    this.#entries = Object.create(null);
    this.#size = 0;
  }

  *values(): IterableIterator<V> {
    for (const key in this.#entries) yield this.#entries[key] as V;
  }
}
