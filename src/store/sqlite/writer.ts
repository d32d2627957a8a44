// The main thread's side of the writer thread: starts it on the first write (a process that
// only reads, such as `parley audit verify`, never starts it), sends requests and settles
// their promises from the replies. The thread keeps the process alive only while a
// request waits for its reply.
import { extname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import type { Synchronous } from './database.js';
import { type Reply, type RequestBody, type StateOp, transferables } from './protocol.js';

export class WriterError extends Error {
  constructor(
    message: string,
    readonly code: string,
  ) {
    super(message);
    this.name = 'WriterError';
  }
}

interface Waiting {
  resolve(v: unknown): void;
  reject(e: Error): void;
}

/**
 * The worker's entry. Compiled, it is the .js beside this module. Run as TypeScript (tests
 * and benchmarks under tsx), Node 20 does not carry the loader into worker threads, so a
 * small bootstrap registers it there first.
 */
function spawnWriter(data: { path: string; synchronous: Synchronous }): Worker {
  const ext = extname(fileURLToPath(import.meta.url));
  const entry = new URL(`./writer-thread${ext}`, import.meta.url);
  if (ext !== '.ts') return new Worker(entry, { workerData: data });
  const loader = import.meta.resolve(['tsx', 'esm', 'api'].join('/'));
  const code = `const { workerData } = require('node:worker_threads');
import(workerData.loader).then((m) => { m.register(); return import(workerData.entry); });`;
  return new Worker(code, { eval: true, workerData: { ...data, loader, entry: entry.href } });
}

export class WriterClient {
  readonly #path: string;
  readonly #synchronous: Synchronous;
  readonly #onCommitted: (upto: number) => void;
  readonly #onStateError: (error: string) => void;
  #worker: Worker | null = null;
  #nextId = 1;
  readonly #waiting = new Map<number, Waiting>();
  #failed: WriterError | null = null;
  #closed: Promise<void> | null = null;
  #stateOps: StateOp[] = [];
  #stateUpto = 0;
  #stateScheduled = false;

  constructor(o: {
    path: string;
    synchronous: Synchronous;
    onCommitted: (upto: number) => void;
    onStateError: (error: string) => void;
  }) {
    this.#path = o.path;
    this.#synchronous = o.synchronous;
    this.#onCommitted = o.onCommitted;
    this.#onStateError = o.onStateError;
  }

  /** True unless the writer thread failed. */
  get healthy(): boolean {
    return this.#failed === null;
  }

  #start(): Worker {
    if (this.#worker) return this.#worker;
    const w = spawnWriter({ path: this.#path, synchronous: this.#synchronous });
    w.unref();
    w.on('message', (m: Reply) => this.#receive(m));
    w.on('error', (err) => this.#fail(`the SQLite writer thread failed: ${err.message}`));
    w.on('exit', () => {
      if (!this.#closed) this.#fail('the SQLite writer thread stopped');
      else this.#settleAll(new WriterError('store is closed', 'CLOSED'));
    });
    this.#worker = w;
    return w;
  }

  #receive(m: Reply): void {
    switch (m.type) {
      case 'reply': {
        const w = this.#waiting.get(m.id);
        if (!w) return;
        this.#waiting.delete(m.id);
        // Idle: let the process end (not while closing: it waits for the thread to exit).
        if (this.#waiting.size === 0 && !this.#closed) this.#worker?.unref();
        if (m.ok) w.resolve(m.value);
        else w.reject(new WriterError(m.error, m.code));
        return;
      }
      case 'committed':
        this.#onCommitted(m.upto);
        return;
      case 'state-error':
        this.#onStateError(m.error);
        return;
      case 'fatal':
        this.#fail(m.error);
        return;
    }
  }

  #fail(message: string): void {
    if (this.#failed) return;
    this.#failed = new WriterError(message, 'WRITER_FAILED');
    this.#stateOps = [];
    this.#settleAll(this.#failed);
  }

  #settleAll(err: Error): void {
    const waiting = [...this.#waiting.values()];
    this.#waiting.clear();
    for (const w of waiting) w.reject(err);
  }

  /** Send a request; resolves with the writer's answer once its transaction committed. */
  request<T>(body: RequestBody): Promise<T> {
    if (this.#failed) return Promise.reject(this.#failed);
    if (this.#closed) return Promise.reject(new WriterError('store is closed', 'CLOSED'));
    const w = this.#start();
    this.#flushState();
    const id = this.#nextId++;
    return new Promise<T>((resolve, reject) => {
      if (this.#waiting.size === 0) w.ref();
      this.#waiting.set(id, { resolve: resolve as (v: unknown) => void, reject });
      w.postMessage({ ...body, id }, transferables(body));
    });
  }

  /**
   * Queue a state write (sent with the others of this turn of the event loop). Returns its
   * number: `onCommitted(upto)` with upto >= it says it is in the file.
   */
  state(op: StateOp): number {
    this.#stateUpto += 1;
    // A failed writer takes nothing more (the overlay keeps answering what was set).
    if (this.#failed) return this.#stateUpto;
    this.#stateOps.push(op);
    if (!this.#stateScheduled) {
      this.#stateScheduled = true;
      setImmediate(() => this.#flushState());
    }
    return this.#stateUpto;
  }

  #flushState(): void {
    this.#stateScheduled = false;
    if (this.#stateOps.length === 0 || this.#failed) return;
    const ops = this.#stateOps;
    this.#stateOps = [];
    this.#start().postMessage({ type: 'state', upto: this.#stateUpto, ops });
  }

  /** Write what waits, then stop the thread. */
  close(): Promise<void> {
    if (this.#closed) return this.#closed;
    this.#closed = (async () => {
      if (!this.#worker) {
        if (this.#stateOps.length === 0) return;
        this.#start();
      }
      this.#flushState();
      const w = this.#worker as Worker;
      if (this.#failed) {
        await w.terminate();
        return;
      }
      const id = this.#nextId++;
      w.ref();
      const exited = new Promise<void>((r) => w.once('exit', () => r()));
      await new Promise<void>((resolve, reject) => {
        this.#waiting.set(id, { resolve: () => resolve(), reject });
        w.postMessage({ type: 'close', id });
      }).catch(() => {});
      await exited;
    })();
    return this.#closed;
  }
}
