// Key/value, hashes and leases of the SQLite store. The main thread answers them at once:
// reads from the file (a point query) under the writes it has made that the writer thread
// has not committed yet (the overlay), and read-modify-writes (setIfAbsent, incrWindow,
// acquireLease) decided here, atomically, as this thread is the only one deciding. Writes
// are then written behind, with the next transaction of the writer thread: a crash (not a
// stop) can lose the last milliseconds of counters, dedupe marks and leases; never a queue
// item or an audit record, which wait for their commit. One gateway process per file.
import type { Database, Statement } from 'better-sqlite3';
import type { StateOp } from './protocol.js';

interface KvEntry {
  value: string | null;
  expiresAt: number;
  n: number;
}

interface FieldEntry {
  value: string | null;
  n: number;
}

interface LeaseEntry {
  owner: string | null;
  expiresAt: number;
  n: number;
}

const live = (expiresAt: number, now: number): boolean => expiresAt === 0 || expiresAt > now;

export class KeptState {
  readonly #kvGet: Statement<[string], [string, number]>;
  readonly #hGet: Statement<[string, string], string>;
  readonly #hAll: Statement<[string], [string, string]>;
  readonly #leaseGet: Statement<[string], [string, number]>;
  readonly #write: (op: StateOp) => number;
  readonly #kv = new Map<string, KvEntry>();
  readonly #hashes = new Map<string, Map<string, FieldEntry>>();
  readonly #leases = new Map<string, LeaseEntry>();

  constructor(db: Database, write: (op: StateOp) => number) {
    this.#kvGet = db
      .prepare<[string], [string, number]>('SELECT value, expires_at FROM kv WHERE key = ?')
      .raw();
    this.#hGet = db
      .prepare<[string, string], string>('SELECT value FROM hashes WHERE key = ? AND field = ?')
      .pluck();
    this.#hAll = db
      .prepare<[string], [string, string]>('SELECT field, value FROM hashes WHERE key = ?')
      .raw();
    this.#leaseGet = db
      .prepare<[string], [string, number]>('SELECT owner, expires_at FROM leases WHERE name = ?')
      .raw();
    this.#write = write;
  }

  /** The writer thread committed every write numbered up to `upto`: the file has them now. */
  committed(upto: number): void {
    for (const [k, e] of this.#kv) if (e.n <= upto) this.#kv.delete(k);
    for (const [k, fields] of this.#hashes) {
      for (const [f, e] of fields) if (e.n <= upto) fields.delete(f);
      if (fields.size === 0) this.#hashes.delete(k);
    }
    for (const [k, e] of this.#leases) if (e.n <= upto) this.#leases.delete(k);
  }

  /** The live value and expiry of `key`, or null. */
  #entry(key: string, now: number): { value: string; expiresAt: number } | null {
    const o = this.#kv.get(key);
    if (o)
      return o.value !== null && live(o.expiresAt, now) ? { value: o.value, expiresAt: o.expiresAt } : null;
    const row = this.#kvGet.get(key);
    return row && live(row[1], now) ? { value: row[0], expiresAt: row[1] } : null;
  }

  get(key: string): string | null {
    return this.#entry(key, Date.now())?.value ?? null;
  }

  set(key: string, value: string, ttlMs?: number): void {
    this.#put(key, value, ttlMs && ttlMs > 0 ? Date.now() + ttlMs : 0);
  }

  #put(key: string, value: string, expiresAt: number): void {
    const n = this.#write(['set', key, value, expiresAt]);
    this.#kv.set(key, { value, expiresAt, n });
  }

  del(key: string): void {
    const n = this.#write(['del', key]);
    this.#kv.set(key, { value: null, expiresAt: 0, n });
  }

  setIfAbsent(key: string, value: string, ttlMs?: number): boolean {
    if (this.#entry(key, Date.now())) return false;
    this.set(key, value, ttlMs);
    return true;
  }

  incrWindow(key: string, windowMs: number): number {
    const now = Date.now();
    const e = this.#entry(key, now);
    if (!e) {
      this.#put(key, '1', now + windowMs);
      return 1;
    }
    const count = (Number.parseInt(e.value, 10) || 0) + 1;
    this.#put(key, String(count), e.expiresAt === 0 ? now + windowMs : e.expiresAt);
    return count;
  }

  hset(key: string, field: string, value: string): void {
    const n = this.#write(['hset', key, field, value]);
    this.#fields(key).set(field, { value, n });
  }

  hdel(key: string, field: string): void {
    const n = this.#write(['hdel', key, field]);
    this.#fields(key).set(field, { value: null, n });
  }

  #fields(key: string): Map<string, FieldEntry> {
    let f = this.#hashes.get(key);
    if (!f) {
      f = new Map();
      this.#hashes.set(key, f);
    }
    return f;
  }

  hget(key: string, field: string): string | null {
    const o = this.#hashes.get(key)?.get(field);
    if (o) return o.value;
    return this.#hGet.get(key, field) ?? null;
  }

  hgetall(key: string): Record<string, string> {
    const out: Record<string, string> = {};
    for (const [f, v] of this.#hAll.all(key)) out[f] = v;
    const o = this.#hashes.get(key);
    if (o) {
      for (const [f, e] of o) {
        if (e.value === null) delete out[f];
        else out[f] = e.value;
      }
    }
    return out;
  }

  /** The live holder of lease `name`, or null. */
  #holder(name: string, now: number): string | null {
    const o = this.#leases.get(name);
    if (o) return o.owner !== null && o.expiresAt > now ? o.owner : null;
    const row = this.#leaseGet.get(name);
    return row && row[1] > now ? row[0] : null;
  }

  acquireLease(name: string, owner: string, ttlMs: number): boolean {
    const now = Date.now();
    const holder = this.#holder(name, now);
    if (holder !== null && holder !== owner) return false;
    const expiresAt = now + ttlMs;
    const n = this.#write(['lease', name, owner, expiresAt]);
    this.#leases.set(name, { owner, expiresAt, n });
    return true;
  }

  releaseLease(name: string, owner: string): void {
    if (this.#holder(name, Date.now()) !== owner) return;
    const n = this.#write(['unlease', name]);
    this.#leases.set(name, { owner: null, expiresAt: 0, n });
  }

  leaseOwner(name: string): string | null {
    return this.#holder(name, Date.now());
  }
}
