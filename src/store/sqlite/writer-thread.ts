// The writer thread: the one connection that writes the SQLite file. better-sqlite3 is
// synchronous, and a write with `synchronous = FULL` waits for the disk; here that wait
// and the work of inserting and indexing records happen beside the event loop instead of
// in it. Whatever arrived while the previous transaction ran is written in one
// transaction (one sync to disk), each request inside a savepoint of its own so that one
// refused request does not undo the others.
import { parentPort, workerData } from 'node:worker_threads';
import type { Database } from 'better-sqlite3';
import { openDatabase, type Synchronous } from './database.js';
import type { Reply, Request, StateMessage, ToWriter } from './protocol.js';
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
    db = openDatabase(path, { synchronous, cacheKiB: 32 * 1024 });
  } catch (err) {
    send({ type: 'fatal', error: errorText(err) });
    port?.close();
    return;
  }
  const writes = new Writes(db);
  const begin = db.prepare('BEGIN IMMEDIATE');
  const commit = db.prepare('COMMIT');
  const rollback = db.prepare('ROLLBACK');
  const savepoint = db.prepare('SAVEPOINT op');
  const release = db.prepare('RELEASE op');
  const undo = db.prepare('ROLLBACK TO op');

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
      case 'close':
        return null;
    }
  }

  function run(): void {
    scheduled = false;
    const batch = inbox;
    inbox = [];
    const sweep = sweepDue;
    sweepDue = false;
    if (batch.length === 0 && !sweep) return;
    const results: Reply[] = [];
    let upto = 0;
    try {
      begin.run();
      try {
        for (const m of batch) {
          if (m.type === 'close') {
            closing = m;
            continue;
          }
          savepoint.run();
          try {
            const value = apply(m);
            release.run();
            if (m.type === 'state') upto = (m as StateMessage).upto;
            else results.push({ type: 'reply', id: m.id, ok: true, value });
          } catch (err) {
            undo.run();
            release.run();
            if (m.type === 'state') send({ type: 'state-error', error: errorText(err) });
            else
              results.push({
                type: 'reply',
                id: m.id,
                ok: false,
                error: errorText(err),
                code: errorCode(err),
              });
          }
        }
        if (sweep) writes.sweep(Date.now());
        commit.run();
      } catch (err) {
        if (db.inTransaction) rollback.run();
        throw err;
      }
    } catch (err) {
      // Nothing of this transaction is in the file.
      writes.forgetCounts();
      const error = errorText(err);
      const code = errorCode(err);
      for (const m of batch) {
        if (m.type === 'state') send({ type: 'state-error', error });
        else if (m.type !== 'close') send({ type: 'reply', id: m.id, ok: false, error, code });
      }
      upto = 0;
      results.length = 0;
    }
    if (upto > 0) send({ type: 'committed', upto });
    for (const r of results) send(r);
    if (closing) {
      clearInterval(sweeper);
      const id = closing.id;
      try {
        db.close();
        send({ type: 'reply', id, ok: true, value: null });
      } catch (err) {
        send({ type: 'reply', id, ok: false, error: errorText(err), code: errorCode(err) });
      }
      port?.close();
    }
  }

  function schedule(): void {
    if (scheduled || closing) return;
    scheduled = true;
    // After the messages already waiting on the port: they join this transaction.
    setImmediate(run);
  }

  port?.on('message', (m: ToWriter) => {
    inbox.push(m);
    schedule();
  });
}

start();
