// The store contract (the core's second port). The embedded default keeps everything in a
// SQLite file; Redis lets several replicas share state; PostgreSQL can hold the audit trail
// (the archive) beside either. The memory store is for tests and benchmarks. Every
// implementation passes the same contract suite (test/store/contract.ts).
import type { QueryPage } from './audit/query.js';
import type { AuditRecord } from './audit/record.js';
import type { AuditFilter } from './audit/types.js';

export interface AuditHead {
  seq: number;
  hash: string;
}

export type AppendResult = { ok: true } | { ok: false; head: AuditHead | null };

/**
 * How another thread (or process) opens the same log to read it: `module` is the URL of
 * an ES module whose `openAuditReader(options)` returns an AuditReader; `options` is plain
 * JSON (a file path, a connection URL). Lets verify read and hash in parallel.
 */
export interface AuditLogSource {
  module: string;
  options: Record<string, unknown>;
}

/** A read-only view of a log, opened from its AuditLogSource. */
export interface AuditReader {
  /** As AuditLog.range. */
  range(fromSeq: number, limit: number): Promise<AuditRecord[]>;
  /**
   * Optional, for a store that keeps each record as its JSON text: range's records as those
   * texts (range's records are JSON.parse of them; a text that is not a JSON object stands
   * for a record without a valid seq). Verify then hashes most records from their text,
   * without building them (core/audit/text-hash.ts): about twice as fast.
   */
  rangeText?(fromSeq: number, limit: number): Promise<string[]>;
  close(): Promise<void>;
}

/** The audit stream: an append-only, hash-chained log. */
export interface AuditLog {
  /** What keeps it: `memory`, `redis`, `sqlite`, `postgres`. */
  readonly kind: string;
  /** Present when other threads can open this log (see AuditLogSource). */
  readonly source?: AuditLogSource;
  /**
   * Append records that continue the chain. Atomic: either all are written or none.
   * Fails (ok: false, with the current head) when records[0] does not follow the stored
   * head (its seq is not head.seq + 1 or its prev is not head.hash) — another writer got
   * there first; the caller re-chains and retries. Throws when the given records do not
   * chain among themselves (a caller bug), or when the store is unreachable.
   */
  append(records: readonly AuditRecord[]): Promise<AppendResult>;
  /** The last record's seq and hash, or the trim anchor when every record was trimmed, or null when empty. */
  head(): Promise<AuditHead | null>;
  /** Records with seq >= fromSeq in ascending order, at most `limit`. */
  range(fromSeq: number, limit: number): Promise<AuditRecord[]>;
  /** Records with seq <= beforeSeq in descending order (newest first), at most `limit`. */
  reverseRange(beforeSeq: number, limit: number): Promise<AuditRecord[]>;
  /** How many records are kept. */
  length(): Promise<number>;
  /**
   * Delete records with seq < beforeSeq, except those in `keep` (legal holds). Afterwards
   * the anchor is the seq and hash of record min(beforeSeq, head.seq + 1) - 1 — the record
   * just before the cut — and never moves backwards. Held records below the anchor stay but
   * are outside the continuous chain: verify checks their own hash, and their link to a
   * held predecessor where there is one. The head stays the last record ever appended.
   */
  trim(beforeSeq: number, keep?: ReadonlySet<number>): Promise<number>;
  /** The trim anchor: the record the first kept record follows, or null if never trimmed. */
  anchor(): Promise<AuditHead | null>;
  /**
   * Migration into an empty log whose source was trimmed: take `anchor` as the trim anchor
   * and the head (the next append must follow it), and keep `held` (records at or below the
   * anchor that legal holds kept, ascending) as they are. Throws when the log is not empty.
   */
  restore(anchor: AuditHead, held: readonly AuditRecord[]): Promise<void>;
  /**
   * Indexed search: records matching `filter`, newest first, with seq < `before` (null:
   * from the head), at most `limit`, and the keyset cursor for the next page. Same results
   * as queryLog's scan, without its cap. Absent: callers scan (queryLog).
   */
  search?(filter: AuditFilter, before: number | null, limit: number): Promise<QueryPage>;
}

export interface QueueItem {
  id: string;
  payload: string;
}

/** Shared state: key/value with expiry, counters, dedupe, bounded queues, leases. */
export interface Store {
  /** What keeps the state (the audit trail may live elsewhere: `audit.kind`). */
  readonly kind: 'memory' | 'redis' | 'sqlite';
  readonly audit: AuditLog;

  get(key: string): Promise<string | null>;
  set(key: string, value: string, ttlMs?: number): Promise<void>;
  del(key: string): Promise<void>;
  /** Set only if absent; true when this call set it (dedupe of retries, first-message flags). */
  setIfAbsent(key: string, value: string, ttlMs?: number): Promise<boolean>;
  /** Increment a counter that lives `windowMs` from its first increment; returns the new count. */
  incrWindow(key: string, windowMs: number): Promise<number>;

  /** Hash maps (e.g. room mappings, presence cache). */
  hset(key: string, field: string, value: string): Promise<void>;
  hget(key: string, field: string): Promise<string | null>;
  hgetall(key: string): Promise<Record<string, string>>;
  hdel(key: string, field: string): Promise<void>;

  /** Append to a bounded FIFO queue; false (nothing written) when it already holds maxLen items. */
  enqueue(queue: string, payload: string, maxLen: number): Promise<boolean>;
  /** Remove and return up to `count` items from the head of the queue. */
  dequeue(queue: string, count: number): Promise<string[]>;
  /**
   * Up to `count` items from the head of the queue, left in place. With `ack` this is the
   * crash-safe way to consume: an item leaves the queue only after it was handled, so a
   * consumer that dies in between leaves it at the head for the next one (at least once,
   * in order). Meant for one consumer per queue at a time (hold a lease).
   */
  peek(queue: string, count: number): Promise<string[]>;
  /**
   * Remove the head items while they equal `items` in order (what `peek` returned), stopping
   * at the first that differs; atomic. Returns how many were removed (fewer when another
   * consumer got there first).
   */
  ack(queue: string, items: readonly string[]): Promise<number>;
  queueLength(queue: string): Promise<number>;

  /** Take or renew a lease: true when `owner` holds it afterwards. */
  acquireLease(name: string, owner: string, ttlMs: number): Promise<boolean>;
  releaseLease(name: string, owner: string): Promise<void>;
  leaseOwner(name: string): Promise<string | null>;

  /** True when the store answers. */
  ping(): Promise<boolean>;
  close(): Promise<void>;
}
