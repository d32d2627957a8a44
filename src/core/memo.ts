// A bounded memo for values computed from a string (parsed addresses, protocol headers,
// peer checks). When full it drops everything at once: cheaper than LRU upkeep on every hit,
// and the working set refills within a few events. Keys longer than `maxKeyLength` are
// computed every time, so odd or hostile input cannot pin much memory. A full memo starts
// a new Map rather than clearing its own: a cleared Map links its old table to the new one,
// which can keep garbage alive through young-generation collections (churn-map.ts).
export class Memo<T> {
  #map = new Map<string, T>();
  readonly #max: number;
  readonly #maxKeyLength: number;

  constructor(max: number, maxKeyLength = Number.POSITIVE_INFINITY) {
    this.#max = max;
    this.#maxKeyLength = maxKeyLength;
  }

  /** The value for `key`, computed by `compute` the first time (a throw is not remembered). */
  get(key: string, compute: () => T): T {
    if (key.length > this.#maxKeyLength) return compute();
    let v = this.#map.get(key);
    if (v === undefined) {
      v = compute();
      if (this.#map.size >= this.#max) this.#map = new Map();
      this.#map.set(key, v);
    }
    return v;
  }

  /** Remember `value` for `key`, as if computed (for a value built together with its text). */
  remember(key: string, value: T): void {
    if (key.length > this.#maxKeyLength) return;
    if (this.#map.size >= this.#max) this.#map = new Map();
    this.#map.set(key, value);
  }

  get size(): number {
    return this.#map.size;
  }
}
