// Every write to the SQLite file, on the connection the writer thread holds. Each method
// runs inside the transaction the writer thread opened (it groups whatever arrived
// together into one transaction, one sync to disk).
import type { Database, Statement } from 'better-sqlite3';
import { GENESIS_HASH } from '../../core/audit/record.js';
import type { AuditHead } from '../../core/store.js';
import type { AppendReply, QueueOp, RecordBatch, StateOp } from './protocol.js';
import { parseRecord } from './records.js';
import { CHUNK } from './schema.js';
import { wordTerms } from './terms.js';

interface Marks {
  head_seq: number | null;
  head_hash: string | null;
  anchor_seq: number | null;
  anchor_hash: string | null;
  records: number;
}

const headOf = (m: Marks): AuditHead | null =>
  m.head_seq === null ? null : { seq: m.head_seq, hash: m.head_hash ?? '' };

export class Writes {
  readonly #marks: Statement<[], Marks>;
  readonly #setHead: Statement<[number, string, number]>;
  readonly #setAnchor: Statement<[number, string]>;
  readonly #restoreMarks: Statement<[number, string, number, string, number]>;
  readonly #db: Database;
  /** INSERTs of 1 to CHUNK records in one statement, made when first needed. */
  readonly #insertRecords: Statement<(number | Buffer)[]>[] = [];
  readonly #insertChunk: Statement<[number, number, number | null, number | null]>;
  readonly #insertTerms: Statement<[number, string]>;
  readonly #anyRecord: Statement<[], number>;
  readonly #recordText: Statement<[number], string>;
  readonly #deleteRecords: Statement<[number, string]>;
  readonly #deadChunks: Statement<[number, number], number>;
  readonly #deleteChunk: Statement<[number]>;
  readonly #deleteTerms: Statement<[number]>;
  readonly #state: Record<StateOp[0], Statement<unknown[]>>;
  readonly #sweepKv: Statement<[number]>;
  readonly #sweepLeases: Statement<[number]>;
  readonly #qCount: Statement<[string], number>;
  readonly #qLast: Statement<[string], number | null>;
  readonly #qInsert: Statement<[string, number, string]>;
  readonly #qHead: Statement<[string, number], [number, string]>;
  readonly #qDelete: Statement<[string, number]>;
  /** Items per queue, known once counted (this connection is the only writer). */
  readonly #queueLength = new Map<string, number>();

  constructor(db: Database) {
    this.#marks = db.prepare<[], Marks>(
      'SELECT head_seq, head_hash, anchor_seq, anchor_hash, records FROM audit_marks',
    );
    this.#setHead = db.prepare(
      'UPDATE audit_marks SET head_seq = ?, head_hash = ?, records = records + ? WHERE id = 1',
    );
    this.#setAnchor = db.prepare('UPDATE audit_marks SET anchor_seq = ?, anchor_hash = ? WHERE id = 1');
    this.#restoreMarks = db.prepare(
      'UPDATE audit_marks SET head_seq = ?, head_hash = ?, anchor_seq = ?, anchor_hash = ?, records = ? WHERE id = 1',
    );
    this.#db = db;
    this.#insertChunk = db.prepare('INSERT INTO audit_chunks (start, end, tmin, tmax) VALUES (?, ?, ?, ?)');
    this.#insertTerms = db.prepare('INSERT INTO audit_terms (rowid, terms) VALUES (?, ?)');
    this.#anyRecord = db.prepare<[], number>('SELECT EXISTS (SELECT 1 FROM audit_records)').pluck();
    this.#recordText = db.prepare<[number], string>('SELECT json FROM audit_records WHERE seq = ?').pluck();
    this.#deleteRecords = db.prepare(
      'DELETE FROM audit_records WHERE seq < ? AND seq NOT IN (SELECT value FROM json_each(?))',
    );
    this.#deadChunks = db
      .prepare<[number, number], number>(
        `SELECT start FROM audit_chunks c WHERE c.start > ? AND c.start < ?
         AND NOT EXISTS (SELECT 1 FROM audit_records r WHERE r.seq >= c.start AND r.seq < c.end)
         ORDER BY c.start LIMIT 5000`,
      )
      .pluck();
    this.#deleteChunk = db.prepare('DELETE FROM audit_chunks WHERE start = ?');
    this.#deleteTerms = db.prepare('DELETE FROM audit_terms WHERE rowid = ?');
    this.#state = {
      set: db.prepare(
        `INSERT INTO kv (key, value, expires_at) VALUES (?, ?, ?)
         ON CONFLICT (key) DO UPDATE SET value = excluded.value, expires_at = excluded.expires_at`,
      ),
      del: db.prepare('DELETE FROM kv WHERE key = ?'),
      hset: db.prepare(
        `INSERT INTO hashes (key, field, value) VALUES (?, ?, ?)
         ON CONFLICT (key, field) DO UPDATE SET value = excluded.value`,
      ),
      hdel: db.prepare('DELETE FROM hashes WHERE key = ? AND field = ?'),
      lease: db.prepare(
        `INSERT INTO leases (name, owner, expires_at) VALUES (?, ?, ?)
         ON CONFLICT (name) DO UPDATE SET owner = excluded.owner, expires_at = excluded.expires_at`,
      ),
      unlease: db.prepare('DELETE FROM leases WHERE name = ?'),
    };
    this.#sweepKv = db.prepare('DELETE FROM kv WHERE expires_at > 0 AND expires_at <= ?');
    this.#sweepLeases = db.prepare('DELETE FROM leases WHERE expires_at <= ?');
    this.#qCount = db.prepare<[string], number>('SELECT count(*) FROM queue_items WHERE queue = ?').pluck();
    this.#qLast = db
      .prepare<[string], number | null>('SELECT max(pos) FROM queue_items WHERE queue = ?')
      .pluck();
    this.#qInsert = db.prepare('INSERT INTO queue_items (queue, pos, payload) VALUES (?, ?, ?)');
    this.#qHead = db
      .prepare<[string, number], [number, string]>(
        'SELECT pos, payload FROM queue_items WHERE queue = ? ORDER BY pos LIMIT ?',
      )
      .raw();
    this.#qDelete = db.prepare('DELETE FROM queue_items WHERE queue = ? AND pos <= ?');
  }

  /** Append records after the stored head; refused (with the head) when they do not follow it. */
  append(prevSeq: number, prevHash: string, last: AuditHead, batch: RecordBatch): AppendReply {
    const m = this.#marks.get() as Marks;
    const follows =
      m.head_seq === null
        ? prevSeq === 0 && prevHash === GENESIS_HASH
        : m.head_seq === prevSeq && m.head_hash === prevHash;
    if (!follows) return { ok: false, head: headOf(m) };
    this.#insert(batch);
    this.#setHead.run(last.seq, last.hash, batch.count);
    return { ok: true };
  }

  /** Into an empty log: the held records, then the anchor as both anchor and head. */
  restore(anchor: AuditHead, held: RecordBatch): void {
    const m = this.#marks.get() as Marks;
    if (m.head_seq !== null || m.records > 0 || this.#anyRecord.get())
      throw new Error('audit restore: the log is not empty');
    this.#insert(held);
    this.#restoreMarks.run(anchor.seq, anchor.hash, anchor.seq, anchor.hash, held.count);
  }

  /** As AuditLog.trim: the anchor first, then the records, then the index of what went. */
  trim(before: number, keep: readonly number[]): number {
    const m = this.#marks.get() as Marks;
    if (m.head_seq === null) return 0;
    const cut = Math.min(Math.floor(before), m.head_seq + 1);
    const anchorSeq = cut - 1;
    if (anchorSeq < 1) return 0;
    if (m.anchor_seq === null || anchorSeq > m.anchor_seq) {
      const text = this.#recordText.get(anchorSeq);
      if (text !== undefined) this.#setAnchor.run(anchorSeq, parseRecord(anchorSeq, text).hash);
    }
    const removed = this.#deleteRecords.run(cut, JSON.stringify(keep)).changes;
    // Chunks whose records all went; a chunk with a held record stays (with all its terms:
    // the search checks each record it finds through them).
    let after = -1;
    for (;;) {
      const dead = this.#deadChunks.all(after, cut);
      if (dead.length === 0) break;
      for (const start of dead) {
        this.#deleteTerms.run(start);
        this.#deleteChunk.run(start);
      }
      after = dead[dead.length - 1] as number;
    }
    if (removed > 0) this.#setHead.run(m.head_seq, m.head_hash ?? '', -removed);
    return removed;
  }

  /** Records and their index: runs of at most CHUNK records, one terms document each. */
  #insert(b: RecordBatch): void {
    const n = b.count;
    const texts = Buffer.from(b.texts.buffer, b.texts.byteOffset, b.texts.byteLength);
    const times = b.times.split('\n');
    const fieldTerms = b.terms.split('\n');
    const seq = (j: number): number => (b.seqs ? (b.seqs[j] as number) : b.first + j);
    let bodyAt = 0;
    for (let i = 0; i < n; i += CHUNK) {
      const end = Math.min(i + CHUNK, n);
      // The chunk's terms, repeats and all: FTS5 keeps one of each per document.
      const terms: string[] = [];
      let tmin = Number.POSITIVE_INFINITY;
      let tmax = Number.NEGATIVE_INFINITY;
      const args: (number | Buffer)[] = new Array(2 * (end - i));
      for (let j = i; j < end; j++) {
        args[2 * (j - i)] = seq(j);
        // The UTF-8 bytes as they came (inserted as text: CAST in the statement).
        args[2 * (j - i) + 1] = texts.subarray(j === 0 ? 0 : (b.textEnds[j - 1] as number), b.textEnds[j]);
        const t = Date.parse(times[j] as string);
        if (t < tmin) tmin = t;
        if (t > tmax) tmax = t;
        const length = b.bodyLengths[j] as number;
        if (length >= 0) {
          terms.push(wordTerms(b.bodies.slice(bodyAt, bodyAt + length)));
          bodyAt += length;
        }
        terms.push(fieldTerms[j] as string);
      }
      // One statement for the chunk's records: a call per row costs more than the row.
      this.#recordsInsert(end - i).run(...args);
      const start = seq(i);
      const stop = seq(end - 1) + 1;
      const finite = tmin !== Number.POSITIVE_INFINITY;
      this.#insertChunk.run(start, stop, finite ? tmin : null, finite ? tmax : null);
      this.#insertTerms.run(start, terms.join(' '));
    }
  }

  #recordsInsert(rows: number): Statement<(number | Buffer)[]> {
    let st = this.#insertRecords[rows];
    if (!st) {
      const values = Array.from({ length: rows }, () => '(?, CAST(? AS TEXT))').join(', ');
      // OR FAIL: no statement journal to undo the statement's own rows on an error; the
      // writer rolls the whole transaction back then anyway.
      st = this.#db.prepare<(number | Buffer)[]>(
        `INSERT OR FAIL INTO audit_records (seq, json) VALUES ${values}`,
      );
      this.#insertRecords[rows] = st;
    }
    return st;
  }

  state(ops: readonly StateOp[]): void {
    for (const op of ops) {
      const [name, ...args] = op;
      this.#state[name].run(...args);
    }
  }

  /** Drop expired keys and leases (reads already ignore them). */
  sweep(now: number): void {
    this.#sweepKv.run(now);
    this.#sweepLeases.run(now);
  }

  #length(queue: string): number {
    let n = this.#queueLength.get(queue);
    if (n === undefined) {
      n = this.#qCount.get(queue) ?? 0;
      this.#queueLength.set(queue, n);
    }
    return n;
  }

  queue(q: QueueOp): boolean | number | string[] {
    switch (q.op) {
      case 'enqueue': {
        const n = this.#length(q.queue);
        if (n >= q.maxLen) return false;
        this.#qInsert.run(q.queue, (this.#qLast.get(q.queue) ?? 0) + 1, q.payload);
        this.#queueLength.set(q.queue, n + 1);
        return true;
      }
      case 'peek':
        return q.count <= 0 ? [] : this.#qHead.all(q.queue, q.count).map((r) => r[1]);
      case 'dequeue': {
        if (q.count <= 0) return [];
        const rows = this.#qHead.all(q.queue, q.count);
        return this.#remove(q.queue, rows, rows.length).map((r) => r[1]);
      }
      case 'ack': {
        if (q.items.length === 0) return 0;
        const rows = this.#qHead.all(q.queue, q.items.length);
        let n = 0;
        while (n < rows.length && rows[n]?.[1] === q.items[n]) n++;
        return this.#remove(q.queue, rows, n).length;
      }
      case 'length':
        return this.#length(q.queue);
    }
  }

  /** Remove the first `n` of `rows` (the queue's head, in order). */
  #remove(queue: string, rows: [number, string][], n: number): [number, string][] {
    if (n === 0) return [];
    this.#qDelete.run(queue, (rows[n - 1] as [number, string])[0]);
    this.#queueLength.set(queue, this.#length(queue) - n);
    return rows.slice(0, n);
  }

  /** Forget cached queue lengths (after a transaction that did not commit). */
  forgetCounts(): void {
    this.#queueLength.clear();
  }
}
