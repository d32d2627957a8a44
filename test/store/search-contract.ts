// The search contract: every AuditLog, with its own `search` or without (queryLog then
// scans), answers every filter exactly as the reference predicate (compileFilter) finds
// over all records: newest first, paged with `before`, no record twice, none missing, a
// page with a `next` full and `next` its smallest seq, and `next` null at the end
// (docs/compliance.md, "Searching"). Run from test/store/search-*.test.ts for each store.
import { isDeepStrictEqual } from 'node:util';
import type { Test } from 'tap';
import { chainEntries } from '../../src/core/audit/chain.js';
import { compileFilter, queryLog } from '../../src/core/audit/query.js';
import type { AuditEntry, AuditRecord } from '../../src/core/audit/record.js';
import type { AuditFilter } from '../../src/core/audit/types.js';
import type { AuditLog } from '../../src/core/store.js';
import {
  EXPECTED_EMPTY,
  FIXED_ENTRIES,
  FIXED_EXPECTATIONS,
  GENERATED_FILTERS,
  generateEntries,
} from './search-records.js';

export interface LogUnderTest {
  log: AuditLog;
  cleanup(): Promise<void>;
}

export interface SearchContractReport {
  /** The filters asked of the generated trail, by name, in order. */
  filters: string[];
  /** The filters asked of the hand-written records (their JSON), in order. */
  fixed: string[];
  /** Records in the generated trail. */
  records: number;
  /** How queryLog found the pages (`index`, `scan`): which path was tested. */
  modes: string[];
  /** What did not hold (empty when the log passed). */
  failures: string[];
}

export interface SearchContractOptions {
  /**
   * false: record what fails in the report without failing the test (the contract's own
   * test runs it against broken searches). Default true.
   */
  assert?: boolean;
  /** Records to generate (default CONTRACT_RECORDS). */
  records?: number;
}

/** Records generated for the contract (a few thousand: every filter finds some). */
export const CONTRACT_RECORDS = 3000;
/** Page sizes asked for every filter. Small ones page through the first records only. */
export const CONTRACT_LIMITS = [1000, 100, 50, 7, 2, 1] as const;
/** How many records the page sizes below 7 page through. */
const SMALL_PAGE_DEPTH = 120;
/** Filters also paged from cursors other than the head. */
const FROM_CURSOR = ['everything', 'user: bare person', 'q: one word', 'one month'];

/** Append entries in batches, each chained after the log's head. */
export async function fill(
  log: AuditLog,
  entries: readonly AuditEntry[],
  batch = 500,
): Promise<AuditRecord[]> {
  const out: AuditRecord[] = [];
  for (let i = 0; i < entries.length; i += batch) {
    const records = chainEntries(await log.head(), entries.slice(i, i + batch));
    const r = await log.append(records);
    if (!r.ok) throw new Error(`append at ${records[0]?.seq} conflicted: the log under test is not empty`);
    out.push(...records);
  }
  return out;
}

/** Asserts (or only records, with assert: false) and keeps what failed. */
class Checker {
  readonly failures: string[] = [];
  readonly modes = new Set<string>();
  constructor(
    private readonly t: Test,
    private readonly assert: boolean,
  ) {}

  same(got: unknown, want: unknown, message: string): void {
    const ok = isDeepStrictEqual(got, want);
    if (!ok) this.failures.push(message);
    if (this.assert) {
      if (ok) this.t.pass(message);
      else this.t.same(got, want, message);
    }
  }

  ok(cond: boolean, message: string): void {
    if (!cond) this.failures.push(message);
    if (this.assert) this.t.ok(cond, message);
  }

  /**
   * Page through queryLog from `before` with `limit` until `next` is null (or `depth`
   * records were read), checking each page; the seqs read, in order.
   */
  async pageThrough(
    log: AuditLog,
    filter: AuditFilter,
    limit: number,
    before: number | null,
    depth = Number.POSITIVE_INFINITY,
  ): Promise<number[]> {
    const seqs: number[] = [];
    const problems: string[] = [];
    let cursor = before;
    for (let pages = 0; seqs.length < depth; pages++) {
      if (pages > 5000) {
        problems.push(`no end after ${pages} pages`);
        break;
      }
      const page = await queryLog(log, filter, cursor, limit);
      this.modes.add(page.search.mode);
      const got = page.records.map((r) => r.seq);
      if (got.length > limit) problems.push(`a page of ${got.length} records for limit ${limit}`);
      got.forEach((s, i) => {
        if (cursor !== null && s >= cursor) problems.push(`seq ${s} is not below before=${cursor}`);
        if (i > 0 && s >= (got[i - 1] as number))
          problems.push(`seq ${s} after ${got[i - 1]}: not newest first`);
      });
      seqs.push(...got);
      if (page.next === null) break;
      if (got.length < limit)
        problems.push(`a page with a next (${page.next}) has ${got.length} of ${limit} records`);
      const smallest = got[got.length - 1];
      if (smallest !== undefined && page.next !== smallest)
        problems.push(`next is ${page.next}, not the smallest seq returned (${smallest})`);
      if (cursor !== null && page.next >= cursor) {
        problems.push(`next ${page.next} does not move back from ${cursor}`);
        break;
      }
      cursor = page.next;
    }
    this.ok(
      problems.length === 0,
      `${JSON.stringify(filter)}, pages of ${limit}: well-formed${problems.length ? ` (${problems.slice(0, 3).join('; ')})` : ''}`,
    );
    return seqs;
  }
}

export function searchContract(
  t: Test,
  name: string,
  makeLog: () => Promise<LogUnderTest>,
  opts: SearchContractOptions = {},
): Promise<SearchContractReport> {
  const count = opts.records ?? CONTRACT_RECORDS;
  const report: SearchContractReport = { filters: [], fixed: [], records: 0, modes: [], failures: [] };
  const withLog = async (fn: (log: AuditLog) => Promise<void>) => {
    const { log, cleanup } = await makeLog();
    try {
      await fn(log);
    } finally {
      await cleanup();
    }
  };
  let check: Checker | undefined;

  return t
    .test(`${name}: search contract`, async (t) => {
      const c = new Checker(t, opts.assert !== false);
      check = c;
      await withLog(async (log) => {
        c.same(await log.length(), 0, 'hand-written: the log starts empty');
        await fill(log, FIXED_ENTRIES, 4);
        for (const [filter, want] of FIXED_EXPECTATIONS) {
          report.fixed.push(JSON.stringify(filter));
          for (const limit of [100, 3, 1]) {
            const seqs = await c.pageThrough(log, filter, limit, null);
            c.same(seqs, want, `hand-written: ${JSON.stringify(filter)}, pages of ${limit}`);
          }
        }
        const older = await queryLog(log, { user: 'carol@hs.test' }, 3, 10);
        c.same(
          [older.records.map((r) => r.seq), older.next],
          [[2, 1], null],
          'hand-written: before gives only older records; the start of the log ends it',
        );
        const mid = await queryLog(log, {}, 6, 2);
        c.same(
          [mid.records.map((r) => r.seq), mid.next],
          [[5, 4], 4],
          'hand-written: a full page in the middle, next its smallest seq',
        );
        const none = await queryLog(log, {}, 1, 10);
        c.same([none.records, none.next], [[], null], 'hand-written: before 1 finds nothing, and ends');
        const bad = await queryLog(log, { from: 'last tuesday' }, null, 10).then(
          () => 'answered',
          (e: unknown) => (e instanceof RangeError ? 'RangeError' : String(e)),
        );
        c.same(bad, 'RangeError', 'hand-written: an unparseable time is refused');
      });

      await withLog(async (log) => {
        const records = await fill(log, generateEntries(count));
        report.records = records.length;
        c.same(await log.length(), records.length, 'generated: every record kept');
        const newestFirst = [...records].reverse();
        for (const [label, filter] of GENERATED_FILTERS) {
          report.filters.push(label);
          const match = compileFilter(filter);
          const want = newestFirst.filter(match).map((r) => r.seq);
          // The trail must make each filter tell something: a filter that finds nothing
          // (or everything) by accident proves little.
          if (EXPECTED_EMPTY.has(label)) c.same(want.length, 0, `${label}: finds nothing, by design`);
          else if (label !== 'everything' && label !== 'q: no words')
            c.ok(want.length > 0 && want.length < records.length, `${label}: finds ${want.length} records`);
          for (const limit of CONTRACT_LIMITS) {
            const depth = limit < 7 ? SMALL_PAGE_DEPTH : Number.POSITIVE_INFINITY;
            const seqs = await c.pageThrough(log, filter, limit, null, depth);
            const expected = want.slice(0, depth);
            c.same(
              seqs,
              expected,
              `${label}: pages of ${limit} give the ${expected.length} records the reference finds`,
            );
          }
        }
        // Starting from a cursor anywhere: beyond the head, the middle, the very start.
        const head = records.length;
        for (const before of [head + 1, head + 1000, Math.floor(head / 2), 2, 1]) {
          for (const [label, filter] of GENERATED_FILTERS.filter(([l]) => FROM_CURSOR.includes(l))) {
            const match = compileFilter(filter);
            const want = newestFirst.filter((r) => r.seq < before && match(r)).map((r) => r.seq);
            const seqs = await c.pageThrough(log, filter, 50, before);
            c.same(seqs, want, `${label}, from before=${before}`);
          }
        }
        c.same(await log.length(), records.length, 'generated: searching changed nothing');
      });
      if (opts.assert === false) t.pass(`ran without asserting: ${c.failures.length} failures recorded`);
    })
    .then(() => {
      report.modes = [...(check?.modes ?? [])].sort();
      report.failures = check?.failures ?? ['the contract did not run'];
      return report;
    });
}
