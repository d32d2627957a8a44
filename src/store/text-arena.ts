// Texts kept outside the JavaScript heap, in slabs (core/slabs.ts), with a number (the
// audit record's seq) beside each. The embedded store's audit log grows by one record per
// decision, for as long as the process runs; as heap strings they were most of the old
// generation, so it filled at the decision rate and needed a full collection (marking every
// record) every few seconds at thousands of decisions a second.
import { Slabs } from '../core/slabs.js';

/** Bytes per slab; a longer text gets a slab of its own. */
const SLAB = 4 * 1024 * 1024;

export class TextArena {
  #slabs = new Slabs(SLAB);
  #count = 0;
  #keys = new Float64Array(1024);
  #slab = new Uint32Array(1024);
  #start = new Uint32Array(1024);
  #length = new Uint32Array(1024);

  get length(): number {
    return this.#count;
  }

  /** Add `text` with its number `key`; keys must not decrease (lowerBound searches them). */
  push(key: number, text: string): void {
    if (this.#count === this.#keys.length) this.#grow();
    const bytes = Buffer.byteLength(text);
    const start = this.#slabs.reserve(bytes);
    const slab = this.#slabs.current;
    this.#slabs.slab(slab).write(text, start, 'utf8');
    const i = this.#count++;
    this.#keys[i] = key;
    this.#slab[i] = slab;
    this.#start[i] = start;
    this.#length[i] = bytes;
  }

  key(i: number): number {
    return this.#keys[i] as number;
  }

  text(i: number): string {
    const slab = this.#slabs.slab(this.#slab[i] as number);
    const start = this.#start[i] as number;
    return slab.toString('utf8', start, start + (this.#length[i] as number));
  }

  /**
   * Replace entry `i`'s text (its key stays). The new text is appended; the old bytes stay
   * until the next `retain`. (The tests use it to tamper with a stored record.)
   */
  replace(i: number, text: string): void {
    const key = this.key(i);
    this.push(key, text);
    const last = this.#count - 1;
    this.#slab[i] = this.#slab[last] as number;
    this.#start[i] = this.#start[last] as number;
    this.#length[i] = this.#length[last] as number;
    this.#count = last;
  }

  /** Index of the first entry whose key is >= `key`. */
  lowerBound(key: number): number {
    let lo = 0;
    let hi = this.#count;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if ((this.#keys[mid] as number) < key) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

  /** Keep only the entries `keep` says yes to (in order), in fresh slabs. */
  retain(keep: (key: number, i: number) => boolean): void {
    const next = new TextArena();
    for (let i = 0; i < this.#count; i++) {
      const key = this.key(i);
      if (keep(key, i)) next.push(key, this.text(i));
    }
    this.#slabs = next.#slabs;
    this.#count = next.#count;
    this.#keys = next.#keys;
    this.#slab = next.#slab;
    this.#start = next.#start;
    this.#length = next.#length;
  }

  #grow(): void {
    const n = this.#keys.length * 2;
    this.#keys = grown(new Float64Array(n), this.#keys);
    this.#slab = grown(new Uint32Array(n), this.#slab);
    this.#start = grown(new Uint32Array(n), this.#start);
    this.#length = grown(new Uint32Array(n), this.#length);
  }
}

function grown<T extends Float64Array | Uint32Array>(into: T, from: T): T {
  into.set(from);
  return into;
}
