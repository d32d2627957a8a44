// The audit writer: turns entries into chained records and makes them durable in batches.
//
// Entries written while no append is in flight are collected until the next turn of the
// event loop (or until `maxBatch`), chained after the log's head and appended in one store
// call; entries written while an append is in flight wait for it and form the next batch.
// Each write() resolves with the record's seq and hash only when its batch is durable
// (the store acknowledged the append) and rejects when the store failed, so the pipeline
// can refuse the event (audit.failClosed). When another replica appended first (the
// store's conditional append fails), the writer takes the new head, re-chains and retries.
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

export class AuditWriter {
  private readonly log: AuditLog;
  private readonly maxBatch: number;
  private readonly maxRetries: number;
  private readonly observer: PipelineObserver;
  private readonly logger: Logger;
  private queue: Pending[] = [];
  /** The head after our last append; undefined when unknown (start, after an error). */
  private head: AuditHead | null | undefined = undefined;
  private running = false;
  private scheduled = false;
  private closed = false;
  private idleWaiters: Array<() => void> = [];

  constructor(log: AuditLog, opts: AuditWriterOptions = {}) {
    this.log = log;
    this.maxBatch = Math.max(1, opts.maxBatch ?? 500);
    this.maxRetries = Math.max(1, opts.maxConflictRetries ?? 100);
    this.observer = opts.observer ?? nullObserver;
    this.logger = opts.logger ?? silentLogger;
  }

  /** Records accepted but not yet durable. */
  get pending(): number {
    return this.queue.length;
  }

  /** Chain and append one entry; resolves when its record is durable. */
  write(entry: AuditEntry): Promise<WrittenRecord> {
    if (this.closed) return Promise.reject(new AuditWriterClosedError());
    return new Promise<WrittenRecord>((resolve, reject) => {
      this.queue.push({ entry, resolve, reject });
      this.observer.auditLag(this.queue.length);
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
    this.observer.auditLag(this.queue.length);
    this.schedule();
  }

  /** Resolves when every entry written before the call is durable (or has failed). */
  flush(): Promise<void> {
    if (!this.running && !this.scheduled && this.queue.length === 0) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  /** Flush, then refuse new writes. */
  async close(): Promise<void> {
    this.closed = true;
    await this.flush();
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
      while (this.queue.length > 0) {
        const batch = this.queue.length <= this.maxBatch ? this.queue : this.queue.slice(0, this.maxBatch);
        this.queue = this.queue.length <= this.maxBatch ? [] : this.queue.slice(this.maxBatch);
        await this.appendBatch(batch);
        this.observer.auditLag(this.queue.length);
      }
    } finally {
      this.running = false;
      if (this.queue.length > 0) this.schedule();
      else {
        const waiters = this.idleWaiters;
        this.idleWaiters = [];
        for (const w of waiters) w();
      }
    }
  }

  private async appendBatch(batch: Pending[]): Promise<void> {
    const started = performance.now();
    const entries = batch.map((p) => p.entry);
    try {
      for (let attempt = 0; ; attempt++) {
        if (this.head === undefined) this.head = await this.log.head();
        const records = chainEntries(this.head, entries);
        const res = await this.log.append(records);
        if (res.ok) {
          const lastRec = records[records.length - 1];
          this.head = lastRec ? { seq: lastRec.seq, hash: lastRec.hash } : this.head;
          this.observer.auditFlushed(records.length, (performance.now() - started) / 1000);
          for (let i = 0; i < batch.length; i++) {
            const p = batch[i] as Pending;
            const r = records[i];
            // A posted entry has nobody to tell.
            if (r && p.resolve !== ignore) p.resolve({ seq: r.seq, hash: r.hash });
          }
          return;
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
      this.logger.error({ err: e.message, records: batch.length }, 'audit batch not written');
      for (const p of batch) p.reject(e);
    }
  }
}
