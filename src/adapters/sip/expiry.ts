// What completed transactions leave behind for a while: for Timer K (T4) a client
// transaction's key, for Timer J (64*T1) a server transaction's response as sent. All keys
// of one kind live the same time, so they expire in the order they were added: one ring
// and one timer serve them all. At 4,000 requests a second Timer J holds some 130,000
// responses; as objects (a map entry, a Wire, its Buffer, its destination) they were most
// of the heap's old generation and made it grow at the request rate, so V8 needed a
// mark-compact every few seconds. Here each entry is its key string, a small integer in a
// Map, and numbers in typed arrays; response bytes go in slabs (core/slabs.ts), dropped
// whole once every response in them has expired.
import { Slabs } from '../../core/slabs.js';

const MAX_SMI_ENTRY = 2 ** 30; // entry numbers in the index stay small integers (no heap object)

type Slots = { [i: number]: unknown; length: number };
/** Copies each live entry's value from its slot in `from` to its slot in `to`; returns `to`. */
type Move = <T extends Slots>(from: T, to: T) => T;

/** Keys that expire `ttlMs` after they were (last) added; each entry has a ring slot for data. */
class ExpiringKeys {
  readonly #ttlMs: number;
  /** Key -> its latest entry number (mod 2^30). */
  readonly #index = new Map<string, number>();
  #keys: (string | null)[] = new Array<string | null>(1024).fill(null);
  #deadlines = new Float64Array(1024);
  /** Oldest entry not yet expired, and the next entry's number. */
  #head = 0;
  #tail = 0;
  #timer: NodeJS.Timeout | null = null;

  constructor(ttlMs: number) {
    this.#ttlMs = ttlMs;
  }

  get size(): number {
    return this.#index.size;
  }

  has(key: string): boolean {
    return this.#index.has(key);
  }

  protected get capacity(): number {
    return this.#keys.length;
  }

  /** The ring slot of `key`'s entry, or -1. */
  protected slotOf(key: string): number {
    const n = this.#index.get(key);
    return n === undefined ? -1 : n & (this.#keys.length - 1);
  }

  /** Add (or renew) `key`; returns its entry's ring slot, for the caller's data. */
  protected addKey(key: string): number {
    if (this.#tail - this.#head === this.#keys.length) this.#grow();
    const n = this.#tail++;
    const slot = n & (this.#keys.length - 1);
    const at = performance.now() + this.#ttlMs;
    this.#keys[slot] = key;
    this.#deadlines[slot] = at;
    this.#index.set(key, n % MAX_SMI_ENTRY);
    if (!this.#timer) this.#arm(at);
    return slot;
  }

  /** The slot of the oldest live entry, or -1 when there is none. */
  protected oldestSlot(): number {
    return this.#head < this.#tail ? this.#head & (this.#keys.length - 1) : -1;
  }

  clear(): void {
    this.#index.clear();
    this.#keys.fill(null);
    this.#head = this.#tail = 0;
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = null;
    this.cleared();
  }

  /** An entry's slot is free again (subclasses drop what they keep there). */
  protected expired(_slot: number): void {}

  /** Every entry is gone. */
  protected cleared(): void {}

  /**
   * The ring doubled: subclasses move their per-slot data with `move` (it copies each live
   * entry from its old slot to its new one, into the array given, and returns that array).
   */
  protected resized(_move: Move): void {}

  #grow(): void {
    const oldMask = this.#keys.length - 1;
    const size = this.#keys.length * 2;
    const newMask = size - 1;
    const head = this.#head;
    const tail = this.#tail;
    const move: Move = (from, to) => {
      for (let n = head; n < tail; n++) to[n & newMask] = from[n & oldMask];
      return to;
    };
    this.#keys = move(this.#keys, new Array<string | null>(size).fill(null));
    this.#deadlines = move(this.#deadlines, new Float64Array(size));
    this.resized(move);
  }

  #arm(at: number): void {
    this.#timer = setTimeout(() => this.#expire(), Math.max(0, at - performance.now()));
    this.#timer.unref();
  }

  #expire(): void {
    this.#timer = null;
    const now = performance.now();
    const mask = this.#keys.length - 1;
    while (this.#head < this.#tail) {
      const slot = this.#head & mask;
      if ((this.#deadlines[slot] as number) > now) break;
      const key = this.#keys[slot] as string;
      this.#keys[slot] = null;
      // A key added again since has a later entry; that one decides.
      if (this.#index.get(key) === this.#head % MAX_SMI_ENTRY) this.#index.delete(key);
      this.#head++;
      this.expired(slot);
    }
    if (this.#head < this.#tail) this.#arm(this.#deadlines[this.#head & mask] as number);
  }
}

/** Keys that expire `ttlMs` after they were (last) added (Timer K). */
export class ExpiringSet extends ExpiringKeys {
  add(key: string): void {
    this.addKey(key);
  }
}

/** Where a response went, and its bytes. */
export interface SentResponse {
  bytes: Buffer;
  dest: { transport: 'udp' | 'tcp' | 'tls'; address: string; port: number };
}

const TRANSPORTS = ['udp', 'tcp', 'tls'] as const;
const SLAB = 1024 * 1024;

/** Responses as sent, by transaction key, each for `ttlMs` after it was set (Timer J). */
export class ExpiringResponses extends ExpiringKeys {
  readonly #slabs = new Slabs(SLAB);
  #slabOf = new Float64Array(this.capacity);
  #offset = new Uint32Array(this.capacity);
  #length = new Uint32Array(this.capacity);
  #port = new Uint32Array(this.capacity);
  #transport = new Uint8Array(this.capacity);
  /** Addresses are the transport's interned strings: a slot holds a pointer, not a copy. */
  #address: (string | null)[] = new Array<string | null>(this.capacity).fill(null);

  set(key: string, r: SentResponse): void {
    const bytes = r.bytes.length;
    const offset = this.#slabs.reserve(bytes);
    const slabNo = this.#slabs.current;
    r.bytes.copy(this.#slabs.slab(slabNo), offset);
    const slot = this.addKey(key);
    this.#slabOf[slot] = slabNo;
    this.#offset[slot] = offset;
    this.#length[slot] = bytes;
    this.#port[slot] = r.dest.port;
    this.#transport[slot] = TRANSPORTS.indexOf(r.dest.transport);
    this.#address[slot] = r.dest.address;
  }

  get(key: string): SentResponse | undefined {
    const slot = this.slotOf(key);
    if (slot < 0) return undefined;
    const slab = this.#slabs.slab(this.#slabOf[slot] as number);
    const start = this.#offset[slot] as number;
    return {
      bytes: slab.subarray(start, start + (this.#length[slot] as number)),
      dest: {
        transport: TRANSPORTS[this.#transport[slot] as number] ?? 'udp',
        address: this.#address[slot] as string,
        port: this.#port[slot] as number,
      },
    };
  }

  protected override expired(slot: number): void {
    this.#address[slot] = null;
    // Slabs older than the oldest live response's are done with (the current one stays).
    const oldest = this.oldestSlot();
    this.#slabs.dropBefore(oldest >= 0 ? (this.#slabOf[oldest] as number) : this.#slabs.current);
  }

  protected override cleared(): void {
    this.#slabs.clear();
    this.#address.fill(null);
  }

  protected override resized(move: Move): void {
    const size = this.capacity;
    this.#slabOf = move(this.#slabOf, new Float64Array(size));
    this.#offset = move(this.#offset, new Uint32Array(size));
    this.#length = move(this.#length, new Uint32Array(size));
    this.#port = move(this.#port, new Uint32Array(size));
    this.#transport = move(this.#transport, new Uint8Array(size));
    this.#address = move(this.#address, new Array<string | null>(size).fill(null));
  }
}
