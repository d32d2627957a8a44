// Bytes kept outside the JavaScript heap: appended in order to large Buffers ("slabs"),
// addressed by slab number and offset, dropped a whole slab at a time from the oldest.
// The collector neither marks nor moves them (V8 counts them as external memory), which is
// why per-message data kept for seconds or for good goes here (decision 0008): the memory
// store's audit texts, the responses a protocol's transactions keep to answer retransmissions.

export class Slabs {
  readonly #size: number;
  /** #slabs[i] is slab number #first + i; the last one is being filled. */
  #slabs: Buffer[] = [];
  #first = 0;
  #used: number;

  /** `size`: bytes per slab; a longer item gets a slab of its own. */
  constructor(size: number) {
    this.#size = size;
    this.#used = size;
  }

  /** The number of the slab the last `reserve` placed its bytes in. */
  get current(): number {
    return this.#first + this.#slabs.length - 1;
  }

  /** Room for `bytes` more in the current slab (a new one when they do not fit); returns their offset. */
  reserve(bytes: number): number {
    if (this.#used + bytes > this.#size || this.#slabs.length === 0) {
      this.#slabs.push(Buffer.allocUnsafeSlow(Math.max(this.#size, bytes)));
      this.#used = 0;
    }
    const offset = this.#used;
    this.#used += bytes;
    return offset;
  }

  /** Slab number `n` (not yet dropped). */
  slab(n: number): Buffer {
    return this.#slabs[n - this.#first] as Buffer;
  }

  /** Drop the slabs numbered below `n`; the current one always stays. */
  dropBefore(n: number): void {
    while (this.#first < n && this.#slabs.length > 1) {
      this.#slabs.shift();
      this.#first++;
    }
  }

  clear(): void {
    this.#first += this.#slabs.length;
    this.#slabs = [];
    this.#used = this.#size;
  }
}
