// The audit writer: turns entries into chained records and makes them durable in batches.
//
// Entries written while no append is in flight are collected until the next turn of the
// event loop (or until `maxBatch`), chained after the log's head and appended in one store
// call; entries written while an append is in flight wait for it and form the next batch
// (with `maxInFlight` above 1, up to that many batches are sent, each chained after the
// one before, before the first is acknowledged).
// Each write() resolves with the record's seq and hash only when its batch is durable
// (the store acknowledged the append) and rejects when the store failed, so the pipeline
// can refuse the event (audit.failClosed). When another replica appended first (the
// store's conditional append fails), the writer takes the new head, re-chains and retries.
// Posted entries (post(): outcome records nothing waits on) outlive a store outage: kept
// (bounded) and sent again once the store answers, re-stamped with the time they are
// finally written, so that the trail stays in time order (retained.ts).
import type { Logger } from '../logger.js';
import { silentLogger } from '../logger.js';
import type { PipelineObserver } from '../observer.js';
import { nullObserver } from '../observer.js';
import type { AppendResult, AuditHead, AuditLog } from '../store.js';
import { chainEntries } from './chain.js';
import type { AuditEntry, AuditRecord } from './record.js';
import { type Mark, RetainedPosts } from './retained.js';
import { isoTime } from './time.js';

export interface AuditWriterOptions {
  /** Most records per append (default 500). */
  maxBatch?: number;
  /**
   * Appends sent before the first of them is acknowledged (default 1). Above 1, a batch is
   * chained after the one still in flight and sent at once, so that the store writes one
   * batch while the next is being made (a store that writes on another thread or server);
   * when a batch fails, the ones sent after it (chained after it) are re-chained and sent again.
   */
  maxInFlight?: number;
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

type Outcome = AppendResult | { error: unknown };

/** A batch sent to the store, waiting for its answer. */
interface InFlight {
  batch: Pending[];
  records: AuditRecord[];
  started: number;
  result: Promise<Outcome>;
}

export class AuditWriter {
  private readonly log: AuditLog;
  private readonly maxBatch: number;
  private readonly maxInFlight: number;
  private readonly maxRetries: number;
  private readonly observer: PipelineObserver;
  private readonly logger: Logger;
  private queue: Pending[] = [];
  /** Sent, oldest first; each chained after the one before it. */
  private inflight: InFlight[] = [];
  /** The head after the last batch sent; undefined when unknown (start, after an error). */
  private head: AuditHead | null | undefined = undefined;
  /** Conflicts in a row of the oldest batch (another writer appended first). */
  private conflicts = 0;
  /** While a failure is sorted out, nothing new is sent (it would jump the queue). */
  private paused = false;
  private running = false;
  private scheduled = false;
  private closed = false;
  private idleWaiters: Array<() => void> = [];
  private readonly retained: RetainedPosts<Pending>;
  /** Kept entries are sent again at the next drain. */
  private retryDue = false;

  constructor(log: AuditLog, opts: AuditWriterOptions = {}) {
    this.log = log;
    this.maxBatch = Math.max(1, opts.maxBatch ?? 500);
    this.maxInFlight = Math.max(1, opts.maxInFlight ?? 1);
    this.maxRetries = Math.max(1, opts.maxConflictRetries ?? 100);
    this.observer = opts.observer ?? nullObserver;
    this.logger = opts.logger ?? silentLogger;
    const minMs = Math.max(1, opts.retryMinMs ?? 100);
    this.retained = new RetainedPosts<Pending>(
      Math.max(0, opts.maxRetained ?? 10_000),
      minMs,
      Math.max(minMs, opts.retryMaxMs ?? 5000),
      () => this.retryNow(),
    );
  }

  /** Records accepted but not yet durable or sent (kept posted entries included). */
  get pending(): number {
    return this.queue.length + this.retained.size;
  }

  /** Records accepted and not yet durable: pending ones and those sent but not answered. */
  get unwritten(): number {
    let sent = 0;
    for (const f of this.inflight) sent += f.batch.length;
    return this.pending + sent;
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
    if (this.retained.size > 0) this.retryNow();
    if (!this.running && !this.scheduled && this.queue.length === 0) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  /** Flush, then refuse new writes; kept entries the store still refuses are dropped (logged). */
  async close(): Promise<void> {
    this.closed = true;
    await this.flush();
    const dropped = this.retained.clear();
    if (dropped > 0) {
      this.logger.error(
        { records: dropped },
        'audit writer closed while the store refused posted records: they are not written',
      );
    }
  }

  private retryNow(): void {
    if (this.retained.size === 0) return;
    this.retryDue = true;
    this.schedule();
  }

  /** Kept entries not written after all go first, re-stamped: they are written now. */
  private async requeueRetained(): Promise<void> {
    this.retryDue = false;
    const { items, written } = await this.retained.takeUnwritten(this.log);
    if (written > 0)
      this.logger.info({ records: written }, 'posted audit records were written before the failure');
    if (items.length === 0) return;
    const time = isoTime(new Date());
    for (const p of items) p.entry = { ...p.entry, time };
    this.queue = [...items, ...this.queue];
    this.logger.info({ records: items.length }, 'posted audit records sent again after the store failed');
  }

  private schedule(): void {
    if (this.scheduled || (this.running && this.inflight.length >= this.maxInFlight)) return;
    this.scheduled = true;
    setImmediate(() => {
      this.scheduled = false;
      if (this.running) this.send();
      else void this.drain();
    });
  }

  private take(): Pending[] {
    const batch = this.queue.length <= this.maxBatch ? this.queue : this.queue.slice(0, this.maxBatch);
    this.queue = this.queue.length <= this.maxBatch ? [] : this.queue.slice(this.maxBatch);
    return batch;
  }

  /** Send batches while there is room in flight and the head to chain after is known. */
  private send(): void {
    while (
      !this.paused &&
      this.queue.length > 0 &&
      this.inflight.length < this.maxInFlight &&
      this.head !== undefined
    ) {
      const batch = this.take();
      let records: AuditRecord[];
      try {
        records = chainEntries(
          this.head,
          batch.map((p) => p.entry),
        );
      } catch (err) {
        this.fail(batch, err);
        continue;
      }
      const last = records[records.length - 1];
      if (last) this.head = { seq: last.seq, hash: last.hash };
      let result: Promise<Outcome>;
      try {
        result = this.log.append(records).then(
          (r) => r,
          (error: unknown) => ({ error }),
        );
      } catch (error) {
        result = Promise.resolve({ error });
      }
      this.inflight.push({ batch, records, started: performance.now(), result });
    }
  }

  private async drain(): Promise<void> {
    if (this.running) return;
    this.running = true;
    try {
      while (this.queue.length > 0 || this.inflight.length > 0 || this.retryDue) {
        if (this.retryDue && this.inflight.length === 0) await this.requeueRetained();
        if (this.queue.length === 0 && this.inflight.length === 0) continue;
        if (this.head === undefined && this.inflight.length === 0) {
          try {
            this.head = await this.log.head();
          } catch (err) {
            this.fail(this.take(), err);
            continue;
          }
        }
        this.send();
        const sent = this.inflight[0];
        if (!sent) continue;
        // It keeps its place in flight until answered (room for maxInFlight - 1 more).
        const res = await sent.result;
        this.inflight.shift();
        await this.settle(sent, res);
        this.observer.auditLag(this.pending);
      }
    } finally {
      this.running = false;
      if (this.queue.length > 0 || this.retryDue) this.schedule();
      else {
        const waiters = this.idleWaiters;
        this.idleWaiters = [];
        for (const w of waiters) w();
      }
    }
  }

  /** The oldest batch's answer. */
  private async settle(sent: InFlight, res: Outcome): Promise<void> {
    if ('error' in res || !res.ok) {
      this.paused = true;
      try {
        await this.recover(sent, res);
      } finally {
        this.paused = false;
      }
      return;
    }
    this.conflicts = 0;
    this.retained.succeeded();
    // The store answers again: kept entries need not wait for their timer.
    if (this.retained.size > 0) this.retryDue = true;
    this.observer.auditFlushed(sent.records.length, (performance.now() - sent.started) / 1000);
    const { batch, records } = sent;
    for (let i = 0; i < batch.length; i++) {
      const p = batch[i] as Pending;
      const r = records[i];
      // A posted entry has nobody to tell.
      if (r && p.resolve !== ignore) p.resolve({ seq: r.seq, hash: r.hash });
    }
  }

  /** The oldest batch failed (an error, or another writer appended first). */
  private async recover(sent: InFlight, res: Outcome): Promise<void> {
    if ('error' in res) {
      // The append may or may not have happened: read the head again next time.
      this.head = undefined;
      const last = sent.records[sent.records.length - 1];
      this.fail(sent.batch, res.error, last ? { seq: last.seq, hash: last.hash } : null);
      this.queue = [...(await this.resend()), ...this.queue];
      return;
    }
    if (res.ok) return;
    // Another writer appended first: re-chain after its head and send again.
    this.conflicts += 1;
    if (this.conflicts >= this.maxRetries) {
      const attempts = this.conflicts;
      this.conflicts = 0;
      this.head = undefined;
      this.fail(
        sent.batch,
        new AuditWriteError(`audit append kept conflicting with other writers (${attempts} attempts)`),
      );
      this.queue = [...(await this.resend()), ...this.queue];
      return;
    }
    this.head = res.head;
    this.queue = [...sent.batch, ...(await this.resend()), ...this.queue];
    if (this.conflicts > 3) {
      // Several replicas racing: back off a little, with jitter.
      await new Promise((r) => setTimeout(r, Math.random() * Math.min(50, 2 ** (this.conflicts - 1))));
      this.head = undefined;
    }
  }

  /**
   * After the oldest batch failed: the batches sent after it were chained after it, so
   * they fail too. Wait for their answers; returns their entries, in order, to send again.
   */
  private async resend(): Promise<Pending[]> {
    const rest = this.inflight;
    this.inflight = [];
    const again: Pending[] = [];
    let unknown = false;
    for (const sent of rest) {
      const res = await sent.result;
      if ('error' in res) {
        unknown = true;
        again.push(...sent.batch);
      } else if (res.ok) {
        // Written after all (the failed append did happen): tell its writers.
        await this.settle(sent, res);
        unknown = true;
      } else {
        // The latest head the store reported.
        this.head = res.head;
        again.push(...sent.batch);
      }
    }
    if (unknown) this.head = undefined;
    return again;
  }

  /**
   * A batch failed: tell its writers; keep its posted entries for another attempt. `mark`:
   * the batch's last record when the append may have been written all the same.
   */
  private fail(batch: Pending[], err: unknown, mark: Mark | null = null): void {
    const e =
      err instanceof AuditWriteError
        ? err
        : new AuditWriteError(`audit store append failed: ${(err as Error)?.message ?? String(err)}`, {
            cause: err,
          });
    this.logger.error({ err: e.message, records: batch.length }, 'audit batch not written');
    const posted: Pending[] = [];
    for (const p of batch) {
      if (p.resolve === ignore) posted.push(p);
      else p.reject(e);
    }
    if (posted.length === 0 || this.closed) return;
    const lost = this.retained.keep(posted, mark);
    if (lost > 0) {
      this.logger.error(
        { records: lost, kept: this.retained.size },
        'audit records lost: too many posted records wait for the store',
      );
    }
  }
}
