// The writer thread: the one connection that writes the SQLite file. better-sqlite3 is
// synchronous; here the work of inserting and indexing records happens beside the event
// loop instead of in it, and the wait for the disk beside the writer itself (wal-sync.ts).
// Whatever arrived while the previous transaction ran is written in one transaction; when
// one request in it fails, each is written again on its own, so that one refused request
// does not undo the others.
import { parentPort, workerData } from 'node:worker_threads';
import type { Database } from 'better-sqlite3';
import { openDatabase, type Synchronous } from './database.js';
import type { Reply, Request, ToWriter } from './protocol.js';
import { WalSync } from './wal-sync.js';
import { Writes } from './writes.js';

interface WriterData {
  path: string;
  synchronous: Synchronous;
}

/** How often expired keys and leases are deleted from the file (ms). */
const SWEEP_MS = 60_000;

const port = parentPort;
if (!port) throw new Error('writer-thread.ts runs as a worker thread');
const { path, synchronous } = workerData as WriterData;

function send(m: Reply): void {
  port?.postMessage(m);
}

const errorText = (err: unknown): string => (err instanceof Error ? err.message : String(err));
const errorCode = (err: unknown): string => {
  const code = (err as { code?: unknown })?.code;
  return typeof code === 'string' ? code : '';
};

function start(): void {
  let db: Database;
  try {
    // With `full`, WalSync syncs the WAL before answering (see there); SQLite itself runs
    // as NORMAL then, so that a commit does not wait for the disk.
    db = openDatabase(path, { synchronous: 'normal', cacheKiB: 32 * 1024 });
  } catch (err) {
    send({ type: 'fatal', error: errorText(err) });
    port?.close();
    return;
  }
  const writes = new Writes(db);
  const begin = db.prepare('BEGIN IMMEDIATE');
  const commit = db.prepare('COMMIT');
  const rollback = db.prepare('ROLLBACK');

  const durable = synchronous === 'full';
  const wal = new WalSync<Reply>(
    `${path}-wal`,
    (answers) => {
      for (const a of answers) send(a);
    },
    (answers, err) => {
      const error = `the SQLite file was written but could not be synced to disk: ${err.message}`;
      for (const a of answers) {
        if (a.type === 'reply') send({ type: 'reply', id: a.id, ok: false, error, code: errorCode(err) });
      }
    },
  );

  let inbox: ToWriter[] = [];
  let scheduled = false;
  let sweepDue = false;
  let closing: Request | null = null;
  const sweeper = setInterval(() => {
    sweepDue = true;
    schedule();
  }, SWEEP_MS);
  sweeper.unref();

  function apply(m: ToWriter): unknown {
    switch (m.type) {
      case 'append':
        return writes.append(m.prevSeq, m.prevHash, m.last, m.batch);
      case 'restore':
        writes.restore(m.anchor, m.held);
        return null;
      case 'trim':
        return writes.trim(m.before, m.keep);
      case 'queue':
        return writes.queue(m.q);
      case 'state':
        writes.state(m.ops);
        return null;
      case 'ping':
      case 'close':
        return null;
    }
  }

  /** The answer to a request that failed. */
  const failed = (m: ToWriter, err: unknown): Reply | null => {
    if (m.type === 'state') {
      send({ type: 'state-error', error: errorText(err) });
      return null;
    }
    return { type: 'reply', id: m.id, ok: false, error: errorText(err), code: errorCode(err) };
  };

  /**
   * Write `requests` in one transaction. Throws (everything undone) when one of them or
   * the commit fails; else returns their answers and the last state write's number.
   */
  function transaction(requests: ToWriter[], sweep: boolean): { results: Reply[]; upto: number } {
    const results: Reply[] = [];
    let upto = 0;
    begin.run();
    try {
      for (const m of requests) {
        const value = apply(m);
        if (m.type === 'state') upto = m.upto;
        else results.push({ type: 'reply', id: m.id, ok: true, value });
      }
      if (sweep) writes.sweep(Date.now());
      commit.run();
      return { results, upto };
    } catch (err) {
      if (db.inTransaction) rollback.run();
      // The queue lengths it counted are undone too.
      writes.forgetCounts();
      throw err;
    }
  }

  function run(): void {
    scheduled = false;
    const batch: ToWriter[] = [];
    for (const m of inbox) {
      if (m.type === 'close') closing = m;
      else batch.push(m);
    }
    inbox = [];
    const sweep = sweepDue;
    sweepDue = false;
    if (batch.length > 0 || sweep) {
      let results: Reply[] = [];
      let upto = 0;
      try {
        // Everything that arrived together in one transaction (one commit, one sync).
        ({ results, upto } = transaction(batch, sweep));
      } catch (err) {
        // Something failed: nothing of it is in the file. Each request again on its own,
        // so that only the one that fails fails (a savepoint per request would cost every
        // write a statement journal, to serve this rare case).
        if (batch.length === 1) {
          const r = failed(batch[0] as ToWriter, err);
          if (r) results.push(r);
        } else {
          for (const m of batch) {
            try {
              const one = transaction([m], false);
              results.push(...one.results);
              upto = Math.max(upto, one.upto);
            } catch (e) {
              const r = failed(m, e);
              if (r) results.push(r);
            }
          }
        }
      }
      if (upto > 0) send({ type: 'committed', upto });
      // Failures need no sync; answers of what committed wait for theirs (with `full`).
      if (durable) wal.committed(results);
      else for (const r of results) send(r);
    }
    if (closing) void close(closing.id);
  }

  /** After the last transaction: wait for its sync, then close the file and answer. */
  async function close(id: number): Promise<void> {
    clearInterval(sweeper);
    await wal.settled();
    try {
      db.close();
      wal.close();
      send({ type: 'reply', id, ok: true, value: null });
    } catch (err) {
      send({ type: 'reply', id, ok: false, error: errorText(err), code: errorCode(err) });
    }
    port?.close();
  }

  function schedule(): void {
    if (scheduled || closing) return;
    scheduled = true;
    // After the messages already waiting on the port: they join this transaction.
    setImmediate(run);
  }

  port?.on('message', (m: ToWriter) => {
    if (m.type === 'ping') {
      send({ type: 'reply', id: m.id, ok: true, value: null });
      return;
    }
    inbox.push(m);
    schedule();
  });
}

start();
