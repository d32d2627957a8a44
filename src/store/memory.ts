// The embedded store: everything in this process's memory. The default when no Redis is
// configured (one replica). Keys with a TTL expire lazily on access and by a sweep timer
// that does not keep the process alive.

import { recordJson } from '../core/audit/chain.js';
import type { AuditRecord } from '../core/audit/record.js';
import { GENESIS_HASH } from '../core/audit/record.js';
import type { AppendResult, AuditHead, AuditLog, Store } from '../core/store.js';
import { chainProblem, restoreProblem } from './chain-check.js';
import { TextArena } from './text-arena.js';

interface Entry {
  value: string;
  /** Epoch ms, or 0 for no expiry. */
  expiresAt: number;
}

export class StoreClosedError extends Error {
  constructor() {
    super('store is closed');
    this.name = 'StoreClosedError';
  }
}

export class MemoryAuditLog implements AuditLog {
  readonly kind = 'memory';
  /**
   * Kept records in ascending seq order (contiguous above the anchor, held islands below),
   * each as its JSON text, outside the heap (text-arena.ts). A record as an object is some
   * 25 strings and objects the collector must mark on every full collection, and even as
   * one string each the log was most of the old generation. Reads parse (so hand out copies).
   */
  private texts = new TextArena();
  private headMark: AuditHead | null = null;
  private anchorMark: AuditHead | null = null;

  constructor(private readonly check: () => void) {}

  async append(records: readonly AuditRecord[]): Promise<AppendResult> {
    this.check();
    if (records.length === 0) return { ok: true };
    const first = records[0] as AuditRecord;
    const head = this.headMark;
    if (first.seq !== (head ? head.seq : 0) + 1 || first.prev !== (head ? head.hash : GENESIS_HASH)) {
      return { ok: false, head: head ? { ...head } : null };
    }
    const problem = chainProblem(head, records);
    if (problem) throw new Error(`audit append rejected: ${problem}`);
    for (const r of records) this.texts.push(r.seq, recordJson(r));
    const last = records[records.length - 1] as AuditRecord;
    this.headMark = { seq: last.seq, hash: last.hash };
    return { ok: true };
  }

  async head(): Promise<AuditHead | null> {
    this.check();
    return this.headMark ? { ...this.headMark } : null;
  }

  async anchor(): Promise<AuditHead | null> {
    this.check();
    return this.anchorMark ? { ...this.anchorMark } : null;
  }

  private record(i: number): AuditRecord {
    return JSON.parse(this.texts.text(i)) as AuditRecord;
  }

  async range(fromSeq: number, limit: number): Promise<AuditRecord[]> {
    this.check();
    if (limit <= 0) return [];
    const out: AuditRecord[] = [];
    const start = this.texts.lowerBound(fromSeq);
    const end = Math.min(this.texts.length, start + limit);
    for (let i = start; i < end; i++) out.push(this.record(i));
    return out;
  }

  async reverseRange(beforeSeq: number, limit: number): Promise<AuditRecord[]> {
    this.check();
    if (limit <= 0) return [];
    const end = this.texts.lowerBound(beforeSeq + 1);
    const out: AuditRecord[] = [];
    for (let i = end - 1; i >= Math.max(0, end - limit); i--) out.push(this.record(i));
    return out;
  }

  async length(): Promise<number> {
    this.check();
    return this.texts.length;
  }

  async restore(anchor: AuditHead, held: readonly AuditRecord[]): Promise<void> {
    this.check();
    if (this.headMark || this.texts.length > 0) throw new Error('audit restore: the log is not empty');
    const problem = restoreProblem(anchor, held);
    if (problem) throw new Error(`audit restore rejected: ${problem}`);
    for (const r of held) this.texts.push(r.seq, recordJson(r));
    this.anchorMark = { ...anchor };
    this.headMark = { ...anchor };
  }

  async trim(beforeSeq: number, keep: ReadonlySet<number> = new Set()): Promise<number> {
    this.check();
    const head = this.headMark;
    if (!head) return 0;
    const cut = Math.min(beforeSeq, head.seq + 1);
    const anchorSeq = cut - 1;
    if (anchorSeq >= 1 && (!this.anchorMark || anchorSeq > this.anchorMark.seq)) {
      const i = this.texts.lowerBound(anchorSeq);
      if (i < this.texts.length && this.texts.key(i) === anchorSeq) {
        this.anchorMark = { seq: anchorSeq, hash: this.record(i).hash };
      }
    }
    const end = this.texts.lowerBound(cut);
    let removed = 0;
    for (let i = 0; i < end; i++) if (!keep.has(this.texts.key(i))) removed++;
    if (removed > 0) this.texts.retain((seq, i) => i >= end || keep.has(seq));
    return removed;
  }
}

export interface MemoryStoreOptions {
  /** How often expired keys are swept (ms); default 30 s. */
  sweepMs?: number;
}

export class MemoryStore implements Store {
  readonly kind = 'memory' as const;
  readonly audit: MemoryAuditLog;
  private readonly kv = new Map<string, Entry>();
  private readonly hashes = new Map<string, Map<string, string>>();
  private readonly queues = new Map<string, string[]>();
  private readonly leases = new Map<string, { owner: string; expiresAt: number }>();
  private readonly timer: NodeJS.Timeout;
  private closed = false;

  constructor(opts: MemoryStoreOptions = {}) {
    this.audit = new MemoryAuditLog(() => this.check());
    this.timer = setInterval(() => this.sweep(), opts.sweepMs ?? 30_000);
    this.timer.unref();
  }

  private check(): void {
    if (this.closed) throw new StoreClosedError();
  }

  private live(key: string, now = Date.now()): Entry | undefined {
    const e = this.kv.get(key);
    if (e && e.expiresAt !== 0 && e.expiresAt <= now) {
      this.kv.delete(key);
      return undefined;
    }
    return e;
  }

  /** Remove expired keys and leases now (the timer does this periodically). */
  sweep(): void {
    const now = Date.now();
    for (const [k, e] of this.kv) if (e.expiresAt !== 0 && e.expiresAt <= now) this.kv.delete(k);
    for (const [k, l] of this.leases) if (l.expiresAt <= now) this.leases.delete(k);
  }

  async get(key: string): Promise<string | null> {
    this.check();
    return this.live(key)?.value ?? null;
  }

  async set(key: string, value: string, ttlMs?: number): Promise<void> {
    this.check();
    this.kv.set(key, { value, expiresAt: ttlMs && ttlMs > 0 ? Date.now() + ttlMs : 0 });
  }

  async del(key: string): Promise<void> {
    this.check();
    this.kv.delete(key);
  }

  async setIfAbsent(key: string, value: string, ttlMs?: number): Promise<boolean> {
    this.check();
    if (this.live(key)) return false;
    this.kv.set(key, { value, expiresAt: ttlMs && ttlMs > 0 ? Date.now() + ttlMs : 0 });
    return true;
  }

  async incrWindow(key: string, windowMs: number): Promise<number> {
    this.check();
    const now = Date.now();
    const e = this.live(key, now);
    if (!e) {
      this.kv.set(key, { value: '1', expiresAt: now + windowMs });
      return 1;
    }
    const n = (Number.parseInt(e.value, 10) || 0) + 1;
    e.value = String(n);
    if (e.expiresAt === 0) e.expiresAt = now + windowMs;
    return n;
  }

  async hset(key: string, field: string, value: string): Promise<void> {
    this.check();
    let h = this.hashes.get(key);
    if (!h) {
      h = new Map();
      this.hashes.set(key, h);
    }
    h.set(field, value);
  }

  async hget(key: string, field: string): Promise<string | null> {
    this.check();
    return this.hashes.get(key)?.get(field) ?? null;
  }

  async hgetall(key: string): Promise<Record<string, string>> {
    this.check();
    const out: Record<string, string> = {};
    const h = this.hashes.get(key);
    if (h) for (const [f, v] of h) out[f] = v;
    return out;
  }

  async hdel(key: string, field: string): Promise<void> {
    this.check();
    const h = this.hashes.get(key);
    if (!h) return;
    h.delete(field);
    if (h.size === 0) this.hashes.delete(key);
  }

  async enqueue(queue: string, payload: string, maxLen: number): Promise<boolean> {
    this.check();
    let q = this.queues.get(queue);
    if (!q) {
      q = [];
      this.queues.set(queue, q);
    }
    if (q.length >= maxLen) return false;
    q.push(payload);
    return true;
  }

  async dequeue(queue: string, count: number): Promise<string[]> {
    this.check();
    const q = this.queues.get(queue);
    if (!q || count <= 0) return [];
    const out = q.splice(0, count);
    if (q.length === 0) this.queues.delete(queue);
    return out;
  }

  async peek(queue: string, count: number): Promise<string[]> {
    this.check();
    const q = this.queues.get(queue);
    if (!q || count <= 0) return [];
    return q.slice(0, count);
  }

  async ack(queue: string, items: readonly string[]): Promise<number> {
    this.check();
    const q = this.queues.get(queue);
    if (!q) return 0;
    let n = 0;
    while (n < items.length && n < q.length && q[n] === items[n]) n++;
    q.splice(0, n);
    if (q.length === 0) this.queues.delete(queue);
    return n;
  }

  async queueLength(queue: string): Promise<number> {
    this.check();
    return this.queues.get(queue)?.length ?? 0;
  }

  async acquireLease(name: string, owner: string, ttlMs: number): Promise<boolean> {
    this.check();
    const now = Date.now();
    const l = this.leases.get(name);
    if (l && l.expiresAt > now && l.owner !== owner) return false;
    this.leases.set(name, { owner, expiresAt: now + ttlMs });
    return true;
  }

  async releaseLease(name: string, owner: string): Promise<void> {
    this.check();
    const l = this.leases.get(name);
    if (l && l.owner === owner) this.leases.delete(name);
  }

  async leaseOwner(name: string): Promise<string | null> {
    this.check();
    const l = this.leases.get(name);
    if (!l) return null;
    if (l.expiresAt <= Date.now()) {
      this.leases.delete(name);
      return null;
    }
    return l.owner;
  }

  async ping(): Promise<boolean> {
    return !this.closed;
  }

  async close(): Promise<void> {
    this.closed = true;
    clearInterval(this.timer);
  }
}
