// The audit trail in the SQLite file. Appends, trims and restores go to the writer thread
// (one transaction each, with the head and anchor in audit_marks); reads and searches run
// here, on the main thread's own connection (WAL: readers never wait for the writer).
import { extname } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Database, Statement } from 'better-sqlite3';
import type { QueryPage } from '../../core/audit/query.js';
import type { AuditRecord } from '../../core/audit/record.js';
import type { AuditFilter } from '../../core/audit/types.js';
import type { AppendResult, AuditHead, AuditLog, AuditLogSource } from '../../core/store.js';
import { chainProblem, restoreProblem } from '../chain-check.js';
import { Columns } from './columns.js';
import { explain } from './database.js';
import type { AppendReply } from './protocol.js';
import { parseRows } from './records.js';
import { Searcher } from './search.js';
import { type WriterClient, WriterError } from './writer.js';

interface Marks {
  head_seq: number | null;
  head_hash: string | null;
  anchor_seq: number | null;
  anchor_hash: string | null;
  records: number;
}

/** The module other threads open this log with (reader.ts), in this module's own form (.ts or .js). */
const READER = new URL(`./reader${extname(fileURLToPath(import.meta.url))}`, import.meta.url).href;

export class SqliteAuditLog implements AuditLog {
  readonly kind = 'sqlite';
  readonly source: AuditLogSource;
  readonly #path: string;
  readonly #check: () => void;
  readonly #writer: WriterClient;
  readonly #columns = new Columns();
  readonly #searcher: Searcher;
  readonly #marks: Statement<[], Marks>;
  readonly #range: Statement<[number, number], unknown[]>;
  readonly #reverse: Statement<[number, number], unknown[]>;

  constructor(db: Database, path: string, writer: WriterClient, check: () => void) {
    this.#path = path;
    this.#check = check;
    this.#writer = writer;
    this.source = { module: READER, options: { path } };
    this.#searcher = new Searcher(db);
    this.#marks = db.prepare<[], Marks>(
      'SELECT head_seq, head_hash, anchor_seq, anchor_hash, records FROM audit_marks',
    );
    this.#range = db
      .prepare<[number, number], unknown[]>(
        'SELECT seq, json FROM audit_records WHERE seq >= ? ORDER BY seq LIMIT ?',
      )
      .raw();
    this.#reverse = db
      .prepare<[number, number], unknown[]>(
        'SELECT seq, json FROM audit_records WHERE seq <= ? ORDER BY seq DESC LIMIT ?',
      )
      .raw();
  }

  /** A writer failure as the error callers see: what SQLite said about which file. */
  #failure(err: unknown): Error {
    if (err instanceof WriterError && err.code === '') return new Error(err.message);
    return explain(this.#path, err);
  }

  #readMarks(): Marks {
    try {
      return this.#marks.get() as Marks;
    } catch (err) {
      throw explain(this.#path, err);
    }
  }

  async append(records: readonly AuditRecord[]): Promise<AppendResult> {
    this.#check();
    if (records.length === 0) return { ok: true };
    const first = records[0] as AuditRecord;
    const problem = chainProblem({ seq: first.seq - 1, hash: first.prev }, records);
    if (problem) throw new Error(`audit append rejected: ${problem}`);
    const last = records[records.length - 1] as AuditRecord;
    try {
      return await this.#writer.request<AppendReply>({
        type: 'append',
        prevSeq: first.seq - 1,
        prevHash: first.prev,
        last: { seq: last.seq, hash: last.hash },
        batch: this.#columns.batch(records),
      });
    } catch (err) {
      throw this.#failure(err);
    }
  }

  async head(): Promise<AuditHead | null> {
    this.#check();
    const m = this.#readMarks();
    return m.head_seq === null ? null : { seq: m.head_seq, hash: m.head_hash ?? '' };
  }

  async anchor(): Promise<AuditHead | null> {
    this.#check();
    const m = this.#readMarks();
    return m.anchor_seq === null ? null : { seq: m.anchor_seq, hash: m.anchor_hash ?? '' };
  }

  async length(): Promise<number> {
    this.#check();
    return this.#readMarks().records;
  }

  async range(fromSeq: number, limit: number): Promise<AuditRecord[]> {
    this.#check();
    if (limit <= 0) return [];
    return parseRows(this.#range.all(fromSeq, Math.floor(limit)));
  }

  async reverseRange(beforeSeq: number, limit: number): Promise<AuditRecord[]> {
    this.#check();
    if (limit <= 0 || beforeSeq < 1) return [];
    return parseRows(this.#reverse.all(beforeSeq, Math.floor(limit)));
  }

  async trim(beforeSeq: number, keep: ReadonlySet<number> = new Set()): Promise<number> {
    this.#check();
    try {
      return await this.#writer.request<number>({ type: 'trim', before: beforeSeq, keep: [...keep] });
    } catch (err) {
      throw this.#failure(err);
    }
  }

  async restore(anchor: AuditHead, held: readonly AuditRecord[]): Promise<void> {
    this.#check();
    const problem = restoreProblem(anchor, held);
    if (problem) throw new Error(`audit restore rejected: ${problem}`);
    try {
      await this.#writer.request<null>({
        type: 'restore',
        anchor: { seq: anchor.seq, hash: anchor.hash },
        held: this.#columns.batch(held),
      });
    } catch (err) {
      throw this.#failure(err);
    }
  }

  async search(filter: AuditFilter, before: number | null, limit: number): Promise<QueryPage> {
    this.#check();
    const head = this.#readMarks().head_seq ?? 0;
    return this.#searcher.search(filter, before, limit, head);
  }
}
