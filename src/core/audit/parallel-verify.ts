// Verify on every core. Hashing each record is the cost of a verify, and it needs nothing
// but the record and the one before it: so the seqs [1..head] are cut into ranges, worker
// threads check the ranges (each record's hash, the links inside the range, no gap in
// seq), and this thread joins the ranges' ends in order, checking each range's first
// record against the end of the range before as the one-thread verify would. The result
// is the one verifyLog gives, record count and problem text included.
//
// The workers open the log themselves, through its source (AuditLog.source: a reader
// module and its options), so records do not cross between threads. A log without a
// source, or too short to be worth the threads, is verified here (verifyLog).
//
// Where a range's read does not continue the range before (a store whose records are not
// in seq order: only a tampered one), the one-thread verify runs instead, so that the
// result is still its result.
import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';
import type { AuditLog, AuditLogSource } from '../store.js';
import type { RangeReport, RangeTask } from './range-verify.js';
import { validSeq } from './range-verify.js';
import type { AuditRecord } from './record.js';
import type { VerifyResult } from './types.js';
import { ChainVerifier, type VerifyLogOptions, verifyLogAt } from './verify.js';
import type { FromVerifyWorker, ToVerifyWorker, VerifyWorkerData } from './verify-protocol.js';

export interface ParallelVerifyOptions extends VerifyLogOptions {
  /** Worker threads (default: the cores this process may use, os.availableParallelism). */
  workers?: number;
  /** Records per range (default: about four ranges per worker, 10,000 to 500,000 each). */
  rangeSize?: number;
  /**
   * Logs with fewer records above the anchor are verified on this thread (default 20,000;
   * run from source, 200,000: each worker starts tsx first, some 300 ms).
   */
  minRecords?: number;
  /** Told how the verify ran: on `workers` threads in `ranges` ranges, or on this thread (0, 0). */
  onPlan?: (plan: { workers: number; ranges: number }) => void;
  /** Told when the workers could not be used and this thread verified instead. */
  onWarning?: (message: string) => void;
}

const DEFAULT_PAGE_SIZE = 2000;

// The compiled worker sits next to this module (dist/core/audit/verify-worker.js). Run from
// source (tsx: tests, benchmarks) it is the .ts file, and Node 20 does not carry tsx's
// loader into worker threads: a small bootstrap registers it there first (as the SIP UDP
// thread does, decision 0007).
const FROM_SOURCE = import.meta.url.endsWith('.ts');
const WORKER_URL = new URL(FROM_SOURCE ? './verify-worker.ts' : './verify-worker.js', import.meta.url);
const DEFAULT_MIN_RECORDS = FROM_SOURCE ? 200_000 : 20_000;

function startWorker(data: VerifyWorkerData): Worker {
  // No execArgv: the process's --import hooks (a test runner's, the network list) are not
  // the worker's business.
  const options = { name: 'parley-verify', workerData: data, execArgv: [] };
  if (!FROM_SOURCE) return new Worker(WORKER_URL, options);
  const tsx = import.meta.resolve('tsx/esm/api');
  const boot = `import(${JSON.stringify(tsx)}).then((m) => { m.register(); return import(${JSON.stringify(WORKER_URL.href)}); });`;
  return new Worker(boot, { ...options, eval: true });
}

/**
 * The ranges: below the anchor (the records legal holds kept, few or none: at most
 * `heldRanges` ranges of equal width), then the chain above it, `size` seqs each, up to
 * the head.
 */
export function planRanges(head: number, anchor: number, size: number, heldRanges = 8): RangeTask[] {
  const tasks: RangeTask[] = [];
  const add = (lo: number, hi: number) => tasks.push({ id: tasks.length, lo, hi });
  // Nothing past the head is read (a head behind the anchor is a damaged log: verify says so).
  const below = Math.min(anchor, head);
  if (below > 0) {
    const width = Math.ceil(below / Math.max(1, Math.min(heldRanges, Math.ceil(below / size))));
    for (let lo = 1; lo <= below; lo += width) add(lo, Math.min(below, lo + width - 1));
  }
  for (let lo = below + 1; lo <= head; lo += size) add(lo, Math.min(head, lo + size - 1));
  return tasks;
}

interface Deferred {
  promise: Promise<RangeReport>;
  resolve(r: RangeReport): void;
  reject(err: Error): void;
}

function deferred(): Deferred {
  let resolve!: (r: RangeReport) => void;
  let reject!: (err: Error) => void;
  const promise = new Promise<RangeReport>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  // Settled ranges nobody waits for (after a failure) must not be unhandled rejections.
  promise.catch(() => {});
  return { promise, resolve, reject };
}

/** Worker threads checking ranges, each given the next range when it reports the last. */
class RangePool {
  readonly #workers: Worker[] = [];
  readonly #busy = new Set<Worker>();
  readonly #results: Deferred[];
  #next = 0;
  #failed: Error | null = null;

  constructor(
    count: number,
    data: VerifyWorkerData,
    private readonly tasks: readonly RangeTask[],
  ) {
    this.#results = tasks.map(() => deferred());
    for (let i = 0; i < count; i++) {
      const w = startWorker(data);
      this.#workers.push(w);
      w.on('message', (m: FromVerifyWorker) => this.#onMessage(w, m));
      w.on('error', (err) => this.#fail(err));
      w.on('exit', (code) => {
        if (this.#busy.has(w)) this.#fail(new Error(`a verify worker exited (code ${code})`));
      });
    }
  }

  result(i: number): Promise<RangeReport> {
    return (this.#results[i] as Deferred).promise;
  }

  #dispatch(w: Worker): void {
    const task = this.tasks[this.#next];
    if (task === undefined || this.#failed) {
      this.#busy.delete(w);
      return;
    }
    this.#next += 1;
    this.#busy.add(w);
    w.postMessage({ type: 'range', task } satisfies ToVerifyWorker);
  }

  #onMessage(w: Worker, m: FromVerifyWorker): void {
    if (m.type === 'ready') this.#dispatch(w);
    else if (m.type === 'range') {
      this.#results[m.report.id]?.resolve(m.report);
      this.#dispatch(w);
    } else this.#fail(new Error(m.message));
  }

  #fail(err: Error): void {
    if (this.#failed) return;
    this.#failed = err;
    for (const d of this.#results) d.reject(err);
  }

  /** Stop every worker: idle ones close their reader; busy ones are cut short. */
  async close(): Promise<void> {
    this.#failed ??= new Error('verify finished');
    await Promise.all(
      this.#workers.map(async (w) => {
        const exited = new Promise<void>((done) => w.once('exit', () => done()));
        if (this.#busy.has(w)) {
          this.#busy.delete(w);
          await w.terminate();
          return;
        }
        w.postMessage({ type: 'close' } satisfies ToVerifyWorker);
        const timer = setTimeout(() => void w.terminate(), 1000);
        await exited;
        clearTimeout(timer);
      }),
    );
  }
}

const sameRecord = (a: AuditRecord, b: AuditRecord | null): boolean =>
  b !== null && a.seq === b.seq && a.hash === b.hash && a.prev === b.prev;

/** The joined result, or "run the one-thread verify" (the ranges do not join up). */
export type Joined = VerifyResult | 'sequential';

/**
 * Join the ranges' reports in order, as the one-thread verify would have read them: `v`
 * is a fresh verifier (with the log's anchor, head and known head), `report(i)` the
 * report of tasks[i].
 */
export async function joinRanges(
  v: ChainVerifier,
  tasks: readonly RangeTask[],
  report: (i: number) => Promise<RangeReport>,
): Promise<Joined> {
  // What the one-thread read meets next, as the range before saw it: undefined before the
  // first range, null once the log ended.
  let carried: AuditRecord | null | undefined;
  for (let i = 0; i < tasks.length; i++) {
    if (carried === null) break;
    const rep = await report(i);
    const first = rep.kind === 'empty' ? null : rep.first;
    if (carried !== undefined && !sameRecord(carried, first)) {
      // This range's read does not go on from where the one before stopped.
      if (!v.push(carried)) return v.finish();
      return 'sequential';
    }
    if (rep.kind === 'empty') break;
    if (rep.kind === 'after' && validSeq(rep.first) && rep.first.seq > (tasks[i] as RangeTask).hi) {
      carried = rep.first;
      continue;
    }
    // The range's first record continues the one before (a record with no valid seq fails).
    if (!v.push(rep.first)) return v.finish();
    if (rep.kind === 'after') return 'sequential';
    if (rep.kind === 'failed') return { ...rep.failure, records: v.count + rep.failure.records };
    const mine = v.position();
    v.continueFrom({
      count: mine.count + rep.position.count,
      last: rep.position.last,
      knownSeen: mine.knownSeen || rep.position.knownSeen,
    });
    carried = rep.next;
  }
  return v.finish();
}

/**
 * Verify a whole log on every core: the same result as verifyLog (which it uses for a log
 * without a source, or a short one).
 */
export async function verifyLogParallel(
  log: AuditLog,
  opts: ParallelVerifyOptions = {},
): Promise<VerifyResult> {
  const head = await log.head();
  const anchor = await log.anchor();
  const source: AuditLogSource | undefined = log.source;
  const workers = Math.max(1, Math.floor(opts.workers ?? availableParallelism()));
  const base = anchor ? anchor.seq : 0;
  const chained = head ? head.seq - base : 0;
  const sequential = (): Promise<VerifyResult> => {
    opts.onPlan?.({ workers: 0, ranges: 0 });
    return verifyLogAt(log, head, anchor, opts);
  };
  if (!source || !head || workers < 2 || chained < (opts.minRecords ?? DEFAULT_MIN_RECORDS))
    return sequential();

  const size = Math.max(
    1,
    Math.floor(opts.rangeSize ?? Math.min(500_000, Math.max(10_000, Math.ceil(chained / (workers * 4))))),
  );
  const tasks = planRanges(head.seq, base, size, workers * 4);
  const knownHead = opts.knownHead ?? null;
  const pool = new RangePool(
    Math.min(workers, tasks.length),
    {
      module: source.module,
      options: source.options,
      anchor,
      knownHead,
      pageSize: opts.pageSize ?? DEFAULT_PAGE_SIZE,
    },
    tasks,
  );
  opts.onPlan?.({ workers: Math.min(workers, tasks.length), ranges: tasks.length });
  let joined: Joined;
  try {
    const v = new ChainVerifier(anchor, { head, untilSeq: head.seq, knownHead });
    joined = await joinRanges(v, tasks, (i) => pool.result(i));
  } catch (err) {
    opts.onWarning?.(`parallel verify failed (${(err as Error).message}); verifying on one thread`);
    joined = 'sequential';
  } finally {
    await pool.close();
  }
  return joined === 'sequential' ? sequential() : joined;
}
