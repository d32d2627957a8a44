// Indexed search of the audit trail (AuditLog.search). The index (schema.ts) names chunks of
// records that may match: FTS5 over the chunk's terms for every field of the filter and
// the words of `q`, the chunk's time span for `from`/`to`. The chunks are read newest
// first; each record in them is checked with compileFilter, the one definition of what a
// filter means, so the index only has to find a superset of the matches, never the exact set.
import type { Database, Statement } from 'better-sqlite3';
import { compileFilter, personOf, type QueryPage } from '../../core/audit/query.js';
import type { AuditRecord } from '../../core/audit/record.js';
import type { AuditFilter } from '../../core/audit/types.js';
import { parseRecord } from './records.js';
import { fieldTerm, matchQuery, textQuery } from './terms.js';

/** Chunks asked for at a time. */
const CHUNKS_PER_QUERY = 64;

/** The FTS5 query for a filter's indexed fields and words (null: none of them is set). */
export function filterMatch(filter: AuditFilter): string | null {
  const terms: string[] = [];
  const set = (v: string | undefined): v is string => v !== undefined && v !== '';
  if (set(filter.user)) {
    const person = personOf(filter.user);
    terms.push(person !== null ? fieldTerm('person', person) : fieldTerm('party', filter.user));
  }
  if (set(filter.domain)) terms.push(fieldTerm('domain', filter.domain.toLowerCase()));
  if (set(filter.network)) terms.push(fieldTerm('network', filter.network));
  if (set(filter.kind)) terms.push(fieldTerm('kind', filter.kind));
  if (filter.decision !== undefined) terms.push(fieldTerm('decision', filter.decision));
  if (set(filter.rule)) terms.push(fieldTerm('rule', filter.rule));
  if (filter.category !== undefined) terms.push(fieldTerm('category', filter.category));
  if (filter.outcome !== undefined) terms.push(fieldTerm('outcome', filter.outcome));
  if (set(filter.eventId)) terms.push(fieldTerm('eventId', filter.eventId));
  if (set(filter.traceId)) terms.push(fieldTerm('traceId', filter.traceId));
  const text = filter.q === undefined ? null : textQuery(filter.q);
  return matchQuery(terms, text);
}

type Chunk = [start: number, end: number];

export class Searcher {
  readonly #db: Database;
  readonly #statements = new Map<string, Statement<unknown[], Chunk>>();
  readonly #records: Statement<[number, number], unknown[]>;
  readonly #newest: Statement<[number, number], unknown[]>;

  constructor(db: Database) {
    this.#db = db;
    this.#records = db
      .prepare<[number, number], unknown[]>(
        'SELECT seq, json FROM audit_records WHERE seq >= ? AND seq < ? ORDER BY seq DESC',
      )
      .raw();
    this.#newest = db
      .prepare<[number, number], unknown[]>(
        'SELECT seq, json FROM audit_records WHERE seq < ? ORDER BY seq DESC LIMIT ?',
      )
      .raw();
  }

  #chunks(sql: string): Statement<unknown[], Chunk> {
    let s = this.#statements.get(sql);
    if (!s) {
      s = this.#db.prepare<unknown[], Chunk>(sql).raw();
      this.#statements.set(sql, s);
    }
    return s;
  }

  /** As AuditLog.search; `head` is the log's head seq (0 when empty). */
  search(filter: AuditFilter, before: number | null, limit: number, head: number): QueryPage {
    // First: a filter that does not compile (a bad time) fails as the scan would.
    const match = compileFilter(filter);
    const want = Math.max(0, Math.floor(limit));
    let upper = before === null ? head + 1 : Math.floor(before);
    if (want === 0 || upper <= 1) return { records: [], next: upper > 1 ? upper : null };
    const fts = filterMatch(filter);
    const from = filter.from === undefined ? null : Date.parse(filter.from);
    const to = filter.to === undefined ? null : Date.parse(filter.to);
    if (fts === null && from === null && to === null) return this.#scan(match, upper, want);

    const where: string[] = [];
    const args: (string | number)[] = [];
    let sql: string;
    if (fts !== null) {
      sql = 'SELECT c.start, c.end FROM audit_terms t JOIN audit_chunks c ON c.start = t.rowid';
      where.push('audit_terms MATCH ?', 't.rowid < ?');
      args.push(fts);
    } else {
      sql = 'SELECT c.start, c.end FROM audit_chunks c';
      where.push('c.start < ?');
    }
    if (from !== null) where.push('c.tmax >= ?');
    if (to !== null) where.push('c.tmin < ?');
    const order = fts !== null ? 't.rowid' : 'c.start';
    const stmt = this.#chunks(
      `${sql} WHERE ${where.join(' AND ')} ORDER BY ${order} DESC LIMIT ${CHUNKS_PER_QUERY}`,
    );
    const times: number[] = [];
    if (from !== null) times.push(from);
    if (to !== null) times.push(to);

    const records: AuditRecord[] = [];
    for (;;) {
      const chunks = stmt.all(...args, upper, ...times);
      for (const [start, end] of chunks) {
        const rows = this.#records.all(start, Math.min(end, upper));
        for (const row of rows) {
          const r = parseRecord(row[0] as number, row[1]);
          if (!match(r)) continue;
          records.push(r);
          if (records.length >= want) return { records, next: row[0] as number };
        }
        upper = start;
      }
      if (chunks.length < CHUNKS_PER_QUERY) return { records, next: null };
    }
  }

  /** No indexed field: every record, newest first, checked one by one. */
  #scan(match: (r: AuditRecord) => boolean, upper: number, want: number): QueryPage {
    const records: AuditRecord[] = [];
    const page = Math.min(1000, Math.max(100, want * 4));
    let cursor = upper;
    for (;;) {
      const rows = this.#newest.all(cursor, page);
      for (const row of rows) {
        cursor = row[0] as number;
        const r = parseRecord(cursor, row[1]);
        if (!match(r)) continue;
        records.push(r);
        if (records.length >= want) return { records, next: cursor };
      }
      if (rows.length < page) return { records, next: null };
    }
  }
}
