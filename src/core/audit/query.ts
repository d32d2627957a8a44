// Filtering and paging through the audit log (newest first), for the CLI, the admin API
// and the compliance console.
import { tryParseAddress } from '../address.js';
import { hasNetworkScheme, networkModules } from '../network.js';
import type { AuditLog } from '../store.js';
import type { AuditRecord } from './record.js';
import type { AuditFilter } from './types.js';

export type RecordPredicate = (r: AuditRecord) => boolean;

/** Scan at most this many records per query (the page then ends early with a `next`). */
export const DEFAULT_MAX_SCAN = 50_000;

const bareOf = (uri: string): string | null => {
  const a = tryParseAddress(uri);
  return a ? `${a.user}@${a.domain}`.toLowerCase() : null;
};

/**
 * The person an address names, as `user@domain` in lower case, from any form a person
 * knows: a URI of a registered network as records hold it, a form a network's codec
 * reads (`personOf`: e.g. a native user ID, or a web link to one), or a bare
 * `carol@hs.test` (a `/resource` is ignored). Null when `text` is none of these. Records
 * keep each party's canonical URI, so comparing this form finds the person whatever
 * network the record saw them on.
 */
export function personOf(text: string): string | null {
  let s = text.trim();
  if (s.startsWith('<') && s.endsWith('>')) s = s.slice(1, -1).trim();
  if (hasNetworkScheme(s)) return bareOf(s);
  for (const network of networkModules()) {
    const person = network.codec.personOf?.(s, personOf);
    if (person !== undefined) return person;
  }
  // user@domain[/resource]; a colon before the `@` is some other scheme.
  const at = s.lastIndexOf('@');
  const colon = s.indexOf(':');
  if (at <= 0 || (colon >= 0 && colon < at)) return null;
  const domain = s.slice(at + 1).split('/', 1)[0] ?? '';
  return domain ? `${s.slice(0, at)}@${domain}`.toLowerCase() : null;
}

const domainOf = (uri: string): string | null => tryParseAddress(uri)?.domain ?? null;

const WORD = /[\p{L}\p{N}]+/gu;
const QUERY_WORD = /([\p{L}\p{N}]+)(\*?)/gu;

/**
 * The words of a text as the full-text filter `q` sees them: maximal runs of Unicode
 * letters and digits, each lower-cased (String.prototype.toLowerCase, no accent folding),
 * in order, repeats kept. Indexed stores index exactly these, so that they find what the
 * reference predicate finds (`"Ünïcode-Text, 2026!"` → `ünïcode`, `text`, `2026`).
 */
export function wordsOf(text: string): string[] {
  const out: string[] = [];
  for (const m of text.matchAll(WORD)) out.push(m[0].toLowerCase());
  return out;
}

/** One word of `q`: `prefix` when it was written with a trailing `*` (`invoic*`). */
export interface QueryWord {
  word: string;
  prefix: boolean;
}

/**
 * The words of a full-text query `q`, as wordsOf reads them, each marked as a prefix when
 * a `*` follows it directly. Repeats are dropped. No words (`"!!"`, `"*"`): no text filter.
 */
export function queryWords(q: string): QueryWord[] {
  const seen = new Set<string>();
  const out: QueryWord[] = [];
  for (const m of q.matchAll(QUERY_WORD)) {
    const word = (m[1] as string).toLowerCase();
    const prefix = m[2] === '*';
    const key = `${prefix ? '*' : ''}${word}`;
    if (seen.has(key)) continue;
    seen.add(key);
    out.push({ word, prefix });
  }
  return out;
}

/** Compile a filter once into a predicate. Throws RangeError on an unparseable time. */
export function compileFilter(filter: AuditFilter): RecordPredicate {
  const tests: RecordPredicate[] = [];
  const time = (s: string, what: string): number => {
    const t = Date.parse(s);
    if (Number.isNaN(t)) throw new RangeError(`${what} is not an ISO 8601 instant: "${s}"`);
    return t;
  };
  if (filter.from !== undefined) {
    const from = time(filter.from, 'from');
    tests.push((r) => Date.parse(r.time) >= from);
  }
  if (filter.to !== undefined) {
    const to = time(filter.to, 'to');
    tests.push((r) => Date.parse(r.time) < to);
  }
  if (filter.user !== undefined && filter.user !== '') {
    const u = filter.user;
    const want = personOf(u);
    if (want !== null) {
      // The person, on whichever network a record saw them (narrow with `network`). A
      // party is read as the filter is: a record's URI, or a bare user@domain (an actor).
      tests.push((r) => personOf(r.from) === want || personOf(r.to) === want);
    } else {
      // Not an address form we know: only the exact text of a party matches.
      tests.push((r) => r.from === u || r.to === u);
    }
  }
  if (filter.domain !== undefined && filter.domain !== '') {
    const d = filter.domain.toLowerCase();
    tests.push((r) => domainOf(r.from) === d || domainOf(r.to) === d);
  }
  if (filter.network !== undefined && filter.network !== '') {
    const n = filter.network;
    tests.push((r) => r.fromNetwork === n || r.toNetwork === n);
  }
  if (filter.kind !== undefined && filter.kind !== '') {
    const k = filter.kind;
    tests.push((r) => r.kind === k);
  }
  if (filter.decision !== undefined) {
    const d = filter.decision;
    tests.push((r) => r.decision === d);
  }
  if (filter.rule !== undefined && filter.rule !== '') {
    const rule = filter.rule;
    tests.push((r) => r.rule === rule);
  }
  if (filter.category !== undefined) {
    const c = filter.category;
    tests.push((r) => r.category === c);
  }
  if (filter.outcome !== undefined) {
    const out = filter.outcome;
    tests.push((r) => r.outcome === out);
  }
  if (filter.eventId !== undefined && filter.eventId !== '') {
    const id = filter.eventId;
    tests.push((r) => r.eventId === id);
  }
  if (filter.traceId !== undefined && filter.traceId !== '') {
    const id = filter.traceId;
    tests.push((r) => r.traceId === id);
  }
  const words = filter.q === undefined ? [] : queryWords(filter.q);
  if (words.length > 0) {
    const exact = words.filter((w) => !w.prefix).map((w) => w.word);
    const prefixes = words.filter((w) => w.prefix).map((w) => w.word);
    tests.push((r) => {
      if (r.content.mode !== 'full') return false;
      const have = new Set(wordsOf(r.content.body));
      for (const w of exact) if (!have.has(w)) return false;
      for (const p of prefixes) {
        let found = false;
        for (const h of have) {
          if (h.startsWith(p)) {
            found = true;
            break;
          }
        }
        if (!found) return false;
      }
      return true;
    });
  }
  if (tests.length === 0) return () => true;
  return (r) => {
    for (const t of tests) if (!t(r)) return false;
    return true;
  };
}

export function matchesFilter(record: AuditRecord, filter: AuditFilter): boolean {
  return compileFilter(filter)(record);
}

export interface QueryPage {
  records: AuditRecord[];
  /** Pass as `before` for the next (older) page; null when the start of the log was reached. */
  next: number | null;
}

/**
 * How a page was found: `index`, by the log's own search (every kept record considered,
 * no cap); or `scan`, by reading records newest first: `scanned` of the `total` kept were
 * read for this page, and `capped` when the scan stopped at its cap before the page was
 * full (the page may then be short, or empty, with a `next` to continue from).
 */
export type SearchMode =
  | { mode: 'index' }
  | { mode: 'scan'; scanned: number; total: number; capped: boolean };

export interface QueryResult extends QueryPage {
  search: SearchMode;
}

/**
 * Records matching `filter`, newest first, with seq < `before` (null: from the head), at
 * most `limit`. A log with its own (indexed) search answers it, without a cap. Otherwise
 * this scans backwards in pages until `limit` matches or the start of the log, and gives
 * up after `maxScan` records, returning what it found and where to continue. Throws
 * RangeError on an unparseable time, whichever way the log is searched.
 */
export async function queryLog(
  log: AuditLog,
  filter: AuditFilter,
  before: number | null,
  limit: number,
  opts: { maxScan?: number; pageSize?: number } = {},
): Promise<QueryResult> {
  const match = compileFilter(filter);
  const want = Math.max(0, Math.floor(limit));
  if (log.search && want > 0) {
    const page = await log.search(filter, before, want);
    return { records: page.records, next: page.next, search: { mode: 'index' } };
  }
  const maxScan = opts.maxScan ?? DEFAULT_MAX_SCAN;
  const pageSize = opts.pageSize ?? Math.min(1000, Math.max(100, want * 4));
  const records: AuditRecord[] = [];
  let scanned = 0;
  const result = async (next: number | null, capped: boolean): Promise<QueryResult> => ({
    records,
    next,
    search: { mode: 'scan', scanned, total: await log.length(), capped },
  });
  let cursor: number;
  if (before === null) {
    const head = await log.head();
    if (!head) return result(null, false);
    cursor = head.seq;
  } else {
    cursor = before - 1;
  }
  while (cursor >= 1 && records.length < want) {
    const ask = Math.min(pageSize, maxScan - scanned);
    const page = await log.reverseRange(cursor, ask);
    if (page.length === 0) return result(null, false);
    for (const r of page) {
      scanned += 1;
      cursor = r.seq - 1;
      if (match(r)) {
        records.push(r);
        if (records.length >= want) break;
      }
    }
    if (page.length < ask && records.length < want) return result(null, false);
    if (scanned >= maxScan) break;
  }
  const next = cursor >= 1 ? cursor + 1 : null;
  return result(next, next !== null && records.length < want);
}
