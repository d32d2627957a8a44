// Entries that all live the same time (Timer J: 64*T1, Timer K: T4) expire in the order
// they were added, so one queue and one timer serve them all. At thousands of requests a
// second a Timeout per transaction, alive for 32 s, was a large share of the heap the
// collector must mark.

/** A map whose entries expire `ttlMs` after they were set. */
export class ExpiringMap<V> {
  readonly #ttlMs: number;
  readonly #map = new Map<string, { value: V; at: number }>();
  // The queue: keys and deadlines in insertion order, from #head on.
  #keys: string[] = [];
  #deadlines: number[] = [];
  #head = 0;
  #timer: NodeJS.Timeout | null = null;

  constructor(ttlMs: number) {
    this.#ttlMs = ttlMs;
  }

  get size(): number {
    return this.#map.size;
  }

  get(key: string): V | undefined {
    return this.#map.get(key)?.value;
  }

  has(key: string): boolean {
    return this.#map.has(key);
  }

  /** Set `key` (replacing an entry: its expiry starts again). */
  set(key: string, value: V): void {
    const at = performance.now() + this.#ttlMs;
    this.#map.set(key, { value, at });
    this.#keys.push(key);
    this.#deadlines.push(at);
    if (!this.#timer) this.#arm(at);
  }

  delete(key: string): void {
    this.#map.delete(key);
  }

  clear(): void {
    this.#map.clear();
    this.#keys = [];
    this.#deadlines = [];
    this.#head = 0;
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = null;
  }

  #arm(at: number): void {
    this.#timer = setTimeout(() => this.#expire(), Math.max(0, at - performance.now()));
    this.#timer.unref();
  }

  #expire(): void {
    this.#timer = null;
    const now = performance.now();
    while (this.#head < this.#keys.length && (this.#deadlines[this.#head] as number) <= now) {
      const key = this.#keys[this.#head] as string;
      const at = this.#deadlines[this.#head] as number;
      this.#head++;
      // A key set again later has a later deadline: only its last setting removes it.
      if (this.#map.get(key)?.at === at) this.#map.delete(key);
    }
    if (this.#head > 1024 && this.#head * 2 > this.#keys.length) {
      this.#keys = this.#keys.slice(this.#head);
      this.#deadlines = this.#deadlines.slice(this.#head);
      this.#head = 0;
    }
    const next = this.#deadlines[this.#head];
    if (next !== undefined) this.#arm(next);
  }
}
