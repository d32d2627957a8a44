// Indexed search in the archive (AuditLog.search): the filter becomes SQL that finds
// candidates — the terms index (tsvector, GIN) for words, persons, domains, rules and ids;
// the partition key and time index for from/to; plain columns for kind, decision, category,
// outcome and network — newest first by seq, keyset-paged. Each candidate is then checked
// against the exact semantics (compileFilter), so SQL may find too much but never too
// little.
import { compileFilter, type QueryPage } from '../../core/audit/query.js';
import type { AuditRecord } from '../../core/audit/record.js';
import type { AuditFilter } from '../../core/audit/types.js';
import { parseRows } from './rows.js';
import { filterQuery, pgText, recordAt } from './terms.js';

export type RunQuery = (
  what: string,
  text: string,
  params: (string | number)[],
) => Promise<{ seq: string; record: string }[]>;

/** The SQL conditions (with their parameters from `$1`) that every match satisfies. */
export function candidateSql(filter: AuditFilter): { where: string[]; params: (string | number)[] } {
  const where: string[] = [];
  const params: (string | number)[] = [];
  const p = (v: string | number): string => {
    params.push(v);
    return `$${params.length}`;
  };
  const query = filterQuery(filter);
  if (query !== null) where.push(`terms @@ ${p(query)}::tsquery`);
  // A record whose time does not parse (or lies past year 9999) has no `at`: a candidate.
  const from = filter.from === undefined ? null : recordAt(filter.from);
  if (from !== null) where.push(`(at >= ${p(from)}::timestamptz OR at IS NULL)`);
  const to = filter.to === undefined ? null : recordAt(filter.to);
  if (to !== null) where.push(`(at < ${p(to)}::timestamptz OR at IS NULL)`);
  if (filter.kind !== undefined && filter.kind !== '') where.push(`kind = ${p(pgText(filter.kind))}`);
  if (filter.decision !== undefined) where.push(`decision = ${p(pgText(filter.decision))}`);
  if (filter.category !== undefined) where.push(`category = ${p(pgText(filter.category))}`);
  if (filter.outcome !== undefined) where.push(`outcome = ${p(pgText(filter.outcome))}`);
  if (filter.network !== undefined && filter.network !== '') {
    const n = p(pgText(filter.network));
    where.push(`(from_network = ${n} OR to_network = ${n})`);
  }
  return { where, params };
}

/**
 * Records matching `filter`, newest first, seq < `before` (null: from the head), at most
 * `limit`; `next` is the smallest seq returned when the page is full (null at the start of
 * the log or when fewer matched).
 */
export async function searchArchive(
  filter: AuditFilter,
  before: number | null,
  limit: number,
  run: RunQuery,
  schema: string,
): Promise<QueryPage> {
  // First: a bad time throws RangeError, as the scan does.
  const match = compileFilter(filter);
  const want = Math.max(0, Math.floor(limit));
  const records: AuditRecord[] = [];
  if (want === 0) return { records, next: null };
  const { where, params } = candidateSql(filter);
  const base = params.length;
  const conds = [...where, `seq < $${base + 1}`];
  const text = `SELECT seq, record FROM ${schema}.audit_record WHERE ${conds.join(' AND ')} ORDER BY seq DESC LIMIT $${base + 2}`;
  let cursor = before === null ? Number.MAX_SAFE_INTEGER : Math.floor(before);
  // Most candidates match; grow the batch when they do not.
  let batch = Math.min(want + 16, 1000);
  while (cursor > 1 && records.length < want) {
    const rows = await run('audit search', text, [...params, cursor, batch]);
    for (const r of parseRows(rows)) {
      cursor = r.seq;
      if (match(r)) {
        records.push(r);
        if (records.length >= want) break;
      }
    }
    if (rows.length < batch) break;
    batch = Math.min(batch * 4, 5000);
  }
  const smallest = records[records.length - 1]?.seq ?? 0;
  return { records, next: records.length >= want && smallest > 1 ? smallest : null };
}
