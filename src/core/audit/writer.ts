// The audit writer: turns entries into chained records and makes them durable in batches.
//
// Entries written while no append is in flight are collected until the next turn of the
// event loop (or until `maxBatch`), chained after the log's head and appended in one store
// call; entries written while an append is in flight wait for it and form the next batch.
// Each write() resolves with the record's seq and hash only when its batch is durable
// (the store acknowledged the append) and rejects when the store failed, so the pipeline
// can refuse the event (audit.failClosed). When another replica appended first (the
// store's conditional append fails), the writer takes the new head, re-chains and retries.
//
// Posted entries (post(): outcome records nothing waits on) are not lost to a store outage:
// when their batch fails they are kept (up to `maxRetained`) and appended again, with a
// growing delay, once the store answers. A failed append may have been written all the
// same (the connection broke after the commit): before each new attempt the writer looks
// for the records it last sent, by seq and hash, so that they are never written twice.
import type { Logger } from '../logger.js';
import { silentLogger } from '../logger.js';
import type { PipelineObserver } from '../observer.js';
import { nullObserver } from '../observer.js';
import type { AuditHead, AuditLog } from '../store.js';
import { chainEntries } from './chain.js';
import type { AuditEntry } from './record.js';

export interface AuditWriterOptions {
  /** Most records per append (default 500). */
  maxBatch?: number;
  /** Re-chain attempts when other writers keep appending first (default 100). */
  maxConflictRetries?: number;
  /** Posted entries kept for another attempt while the store fails (default 10,000); more are dropped, logged. */
  maxRetained?: number;
  /** First and longest delay between attempts for kept entries (default 100 ms and 5 s). */
  retryMinMs?: number;
  retryMaxMs?: number;
  observer?: PipelineObserver;
  logger?: Logger;
}

export interface WrittenRecord {
  seq: number;
  hash: string;
}

export class AuditWriterClosedError extends Error {
  constructor() {
    super('audit writer is closed');
    this.name = 'AuditWriterClosedError';
  }
}

export class AuditWriteError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'AuditWriteError';
  }
}

const ignore = (): void => {};

interface Pending {
  entry: AuditEntry;
  resolve(r: WrittenRecord): void;
  reject(err: Error): void;
}

/** Posted entries whose append failed, and the last record of each failed attempt. */
interface Retained {
  items: Pending[];
  /** Where attempts that may have been written ended: found there, the entries are written. */
  marks: WrittenRecord[];
}

type BatchResult = { ok: true } | { ok: false; error: AuditWriteError; mark: WrittenRecord | null };

export class AuditWriter {
  private readonly log: AuditLog;
  private readonly maxBatch: number;
  private readonly maxRetries: number;
  private readonly maxRetained: number;
  private readonly retryMinMs: number;
  private readonly retryMaxMs: number;
  private readonly observer: PipelineObserver;
  private readonly logger: Logger;
  private queue: Pending[] = [];
  /** The head after our last append; undefined when unknown (start, after an error). */
  private head: AuditHead | null | undefined = undefined;
  private running = false;
  private scheduled = false;
  private closed = false;
  private idleWaiters: Array<() => void> = [];
  private retained: Retained[] = [];
  private retainedCount = 0;
  /** Kept entries are tried again at the next drain. */
  private retryDue = false;
  private retryTimer: NodeJS.Timeout | null = null;
  private retryDelayMs: number;

  constructor(log: AuditLog, opts: AuditWriterOptions = {}) {
    this.log = log;
    this.maxBatch = Math.max(1, opts.maxBatch ?? 500);
    this.maxRetries = Math.max(1, opts.maxConflictRetries ?? 100);
    this.maxRetained = Math.max(0, opts.maxRetained ?? 10_000);
    this.retryMinMs = Math.max(1, opts.retryMinMs ?? 100);
    this.retryMaxMs = Math.max(this.retryMinMs, opts.retryMaxMs ?? 5000);
    this.retryDelayMs = this.retryMinMs;
    this.observer = opts.observer ?? nullObserver;
    this.logger = opts.logger ?? silentLogger;
  }

  /** Records accepted but not yet durable (kept posted entries included). */
  get pending(): number {
    return this.queue.length + this.retainedCount;
  }

  /** Chain and append one entry; resolves when its record is durable. */
  write(entry: AuditEntry): Promise<WrittenRecord> {
    if (this.closed) return Promise.reject(new AuditWriterClosedError());
    return new Promise<WrittenRecord>((resolve, reject) => {
      this.queue.push({ entry, resolve, reject });
      this.observer.auditLag(this.pending);
      this.schedule();
    });
  }

  /**
   * Chain and append one entry without waiting for it: for records nothing waits on (an
   * event's outcome after its delivery). A failed append is logged with its batch.
   */
  post(entry: AuditEntry): void {
    if (this.closed) {
      this.logger.error({ eventId: entry.eventId }, 'audit record posted after close: not written');
      return;
    }
    this.queue.push({ entry, resolve: ignore, reject: ignore });
    this.observer.auditLag(this.pending);
    this.schedule();
  }

  /**
   * Resolves when every entry written before the call is durable (or has failed); posted
   * entries kept after a failure are tried once more first (they stay kept if that fails).
   */
  flush(): Promise<void> {
    if (this.retained.length > 0) {
      this.retryDue = true;
      this.schedule();
    }
    if (!this.running && !this.scheduled && this.queue.length === 0) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  /** Flush, then refuse new writes; kept entries the store still refuses are dropped (logged). */
  async close(): Promise<void> {
    this.closed = true;
    await this.flush();
    if (this.retryTimer) clearTimeout(this.retryTimer);
    this.retryTimer = null;
    if (this.retainedCount > 0) {
      this.logger.error(
        { records: this.retainedCount },
        'audit writer closed while the store refused posted records: they are not written',
      );
      this.retained = [];
      this.retainedCount = 0;
    }
  }

  private schedule(): void {
    if (this.running || this.scheduled) return;
    this.scheduled = true;
    setImmediate(() => {
      this.scheduled = false;
      void this.drain();
    });
  }

  private async drain(): Promise<void> {
    if (this.running) return;
    this.running = true;
    try {
      if (this.retryDue) {
        this.retryDue = false;
        await this.retryRetained();
      }
      while (this.queue.length > 0) {
        const batch = this.queue.length <= this.maxBatch ? this.queue : this.queue.slice(0, this.maxBatch);
        this.queue = this.queue.length <= this.maxBatch ? [] : this.queue.slice(this.maxBatch);
        const res = await this.appendBatch(batch, [], false);
        if (!res.ok) this.failed(batch, res);
        this.observer.auditLag(this.pending);
      }
    } finally {
      this.running = false;
      if (this.queue.length > 0 || (this.retryDue && this.retained.length > 0)) this.schedule();
      else {
        const waiters = this.idleWaiters;
        this.idleWaiters = [];
        for (const w of waiters) w();
      }
    }
  }

  /** A batch failed: tell the writers; keep the posted entries for another attempt. */
  private failed(batch: Pending[], res: Extract<BatchResult, { ok: false }>): void {
    const posted: Pending[] = [];
    for (const p of batch) {
      if (p.resolve === ignore) posted.push(p);
      else p.reject(res.error);
    }
    this.logger.error({ err: res.error.message, records: batch.length }, 'audit batch not written');
    if (posted.length === 0) return;
    const room = this.maxRetained - this.retainedCount;
    if (room < posted.length) {
      this.logger.error(
        { records: posted.length - Math.max(0, room), kept: this.retainedCount },
        'audit records lost: too many posted records wait for the store',
      );
    }
    const kept = room >= posted.length ? posted : posted.slice(0, Math.max(0, room));
    if (kept.length === 0) return;
    this.retained.push({ items: kept, marks: res.mark ? [res.mark] : [] });
    this.retainedCount += kept.length;
    this.armRetry();
  }

  private armRetry(): void {
    if (this.retryTimer || this.closed) return;
    const delay = this.retryDelayMs;
    this.retryDelayMs = Math.min(this.retryMaxMs, this.retryDelayMs * 2);
    this.retryTimer = setTimeout(() => {
      this.retryTimer = null;
      this.retryDue = true;
      this.schedule();
    }, delay);
    this.retryTimer.unref();
  }

  /** Append the kept entries, oldest first, until one group fails again. */
  private async retryRetained(): Promise<void> {
    while (this.retained.length > 0) {
      const g = this.retained[0] as Retained;
      const res = await this.appendBatch(g.items, g.marks, true);
      if (!res.ok) {
        if (res.mark) g.marks.push(res.mark);
        this.armRetry();
        return;
      }
      this.retained.shift();
      this.retainedCount -= g.items.length;
      this.retryDelayMs = this.retryMinMs;
      this.logger.info({ records: g.items.length }, 'posted audit records written after the store returned');
    }
  }

  /** Whether an earlier attempt that may have been written was (its last record is there). */
  private async written(marks: readonly WrittenRecord[]): Promise<boolean> {
    for (const m of marks) {
      const [r] = await this.log.range(m.seq, 1);
      if (r && r.seq === m.seq && r.hash === m.hash) return true;
    }
    return false;
  }

  private async appendBatch(
    batch: Pending[],
    marks: readonly WrittenRecord[],
    retrying: boolean,
  ): Promise<BatchResult> {
    const started = performance.now();
    const entries = batch.map((p) => p.entry);
    /** The last record of an append whose outcome is unknown (it threw). */
    let sent: WrittenRecord | null = null;
    try {
      for (let attempt = 0; ; attempt++) {
        if (marks.length > 0 && (await this.written(marks))) {
          this.head = undefined;
          return { ok: true };
        }
        if (this.head === undefined) this.head = await this.log.head();
        const records = chainEntries(this.head, entries);
        const lastRec = records[records.length - 1];
        sent = lastRec ? { seq: lastRec.seq, hash: lastRec.hash } : null;
        const res = await this.log.append(records);
        sent = null;
        if (res.ok) {
          this.head = lastRec ? { seq: lastRec.seq, hash: lastRec.hash } : this.head;
          this.observer.auditFlushed(records.length, (performance.now() - started) / 1000);
          for (let i = 0; i < batch.length; i++) {
            const p = batch[i] as Pending;
            const r = records[i];
            // A posted entry has nobody to tell.
            if (r && p.resolve !== ignore) p.resolve({ seq: r.seq, hash: r.hash });
          }
          // The store answers again: kept entries need not wait for their timer.
          if (this.retained.length > 0 && !retrying) this.retryDue = true;
          return { ok: true };
        }
        this.head = res.head;
        if (attempt + 1 >= this.maxRetries) {
          throw new AuditWriteError(
            `audit append kept conflicting with other writers (${attempt + 1} attempts)`,
          );
        }
        if (attempt >= 3) {
          // Several replicas racing: back off a little, with jitter.
          await new Promise((r) => setTimeout(r, Math.random() * Math.min(50, 2 ** attempt)));
          this.head = undefined;
        }
      }
    } catch (err) {
      // The append may or may not have happened: read the head again next time.
      this.head = undefined;
      const e =
        err instanceof AuditWriteError
          ? err
          : new AuditWriteError(`audit store append failed: ${(err as Error)?.message ?? String(err)}`, {
              cause: err,
            });
      return { ok: false, error: e, mark: sent };
    }
  }
}
