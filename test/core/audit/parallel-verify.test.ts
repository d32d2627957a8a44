// Parallel verify gives verifyLog's result, record count and problem text included, for
// every kind of tampering: checked with the ranges run on this thread (many range and page
// sizes, and random tampering), and with real worker threads over a JSONL file source.
import fc from 'fast-check';
import t from 'tap';
import { chainEntries } from '../../../src/core/audit/chain.js';
import { hashRecord } from '../../../src/core/audit/hash.js';
import { joinRanges, planRanges, verifyLogParallel } from '../../../src/core/audit/parallel-verify.js';
import { verifyRange } from '../../../src/core/audit/range-verify.js';
import type { AuditRecord } from '../../../src/core/audit/record.js';
import type { VerifyResult } from '../../../src/core/audit/types.js';
import { ChainVerifier, verifyLog, verifyLogAt } from '../../../src/core/audit/verify.js';
import type { AuditHead } from '../../../src/core/store.js';
import { LineFile } from '../../../src/store/jsonl-reader.js';
import { MemoryStore } from '../../../src/store/memory.js';
import { type FileLog, fileLog, tempDir } from '../../fixtures/file-log.js';
import { entries } from './fixtures.js';

const dir = tempDir(t, 'parley-pverify-');
const H = (r: AuditRecord | undefined): AuditHead => ({ seq: r?.seq ?? 0, hash: r?.hash ?? '' });
const recs = chainEntries(null, entries(300));
const at = (seq: number) => recs[seq - 1] as AuditRecord;

/** An edit that keeps the record's own hash right (so the next record's link breaks). */
const forged = (r: AuditRecord): AuditRecord => {
  const f = { ...r, content: { mode: 'full' as const, body: 'forged' } };
  return { ...f, hash: hashRecord(f) };
};
const without = (...seqs: number[]) => recs.filter((r) => !seqs.includes(r.seq));
const replaced = (seq: number, by: AuditRecord | string) => recs.map((r) => (r.seq === seq ? by : r));
const swapped = (a: number, b: number) => recs.map((r) => (r.seq === a ? at(b) : r.seq === b ? at(a) : r));

interface Scenario {
  name: string;
  lines: (AuditRecord | string)[];
  head?: AuditHead | null;
  anchor?: AuditHead | null;
  knownHead?: AuditHead | null;
  /** What verifyLog says (a sanity check that the scenario is the tampering it names). */
  expect: RegExp | 'ok';
}

// A trimmed log: anchor 100, records 3, 4, 50 and 100 held by legal holds, chain 101..300.
const anchor100 = H(at(100));
const held = [at(3), at(4), at(50), at(100)];
const trimmed = [...held, ...recs.slice(100)];

const scenarios: Scenario[] = [
  { name: 'intact', lines: recs, expect: 'ok' },
  ...[1, 50, 51, 150, 300].map((k) => ({
    name: `record ${k} edited`,
    lines: replaced(k, { ...at(k), decision: 'deny' as const }),
    expect: /hash mismatch/,
  })),
  ...[49, 100, 299].map((k) => ({
    name: `record ${k} edited, its hash recomputed`,
    lines: replaced(k, forged(at(k))),
    expect: /prev mismatch/,
  })),
  ...[1, 51, 100, 150].map((k) => ({ name: `record ${k} deleted`, lines: without(k), expect: /missing/ })),
  { name: 'records 49..53 deleted', lines: without(49, 50, 51, 52, 53), expect: /49\.\.53 missing/ },
  { name: 'tail deleted (head kept)', lines: recs.slice(0, 250), head: H(at(300)), expect: /truncated/ },
  { name: 'last record deleted', lines: recs.slice(0, 299), head: H(at(300)), expect: /truncated/ },
  { name: 'head marker rolled back', lines: recs, head: H(at(200)), expect: 'ok' },
  {
    name: 'head marker forged',
    lines: recs,
    head: { seq: 300, hash: 'f'.repeat(64) },
    expect: /head marker/,
  },
  { name: 'no head marker', lines: recs, head: null, expect: /no head marker/ },
  { name: 'records 50 and 51 swapped', lines: swapped(50, 51), expect: /record 50 missing/ },
  { name: 'records 100 and 101 swapped', lines: swapped(100, 101), expect: /record 100 missing/ },
  { name: 'records 20 and 250 swapped', lines: swapped(20, 250), expect: /missing/ },
  {
    name: 'record 60 twice',
    lines: [...recs.slice(0, 60), at(60), ...recs.slice(60)],
    expect: /out of order/,
  },
  { name: 'record 40 moved to the end', lines: [...without(40), at(40)], expect: /record 40 missing/ },
  {
    name: 'record 40 moved back',
    lines: [...recs.slice(0, 120), at(40), ...recs.slice(120)],
    expect: /order/,
  },
  { name: 'known head intact', lines: recs, knownHead: H(at(120)), expect: 'ok' },
  {
    name: 'known head differs',
    lines: recs,
    knownHead: { seq: 120, hash: 'a'.repeat(64) },
    expect: /known head/,
  },
  {
    name: 'known head past the end',
    lines: recs.slice(0, 200),
    head: H(at(200)),
    knownHead: H(at(250)),
    expect: /known head 250/,
  },
  { name: 'an unreadable line', lines: replaced(51, 'not json {'), expect: /no valid seq/ },
  { name: 'an unreadable first line', lines: replaced(1, '[1,2]'), expect: /no valid seq/ },
  {
    name: 'a record without seq',
    lines: replaced(120, { ...at(120), seq: undefined } as unknown as AuditRecord),
    expect: /no valid seq/,
  },
  { name: 'trimmed with holds', lines: trimmed, anchor: anchor100, expect: 'ok' },
  {
    name: 'trimmed: a held record edited',
    lines: trimmed.map((r) => (r.seq === 50 ? { ...r, to: 'sip:mallory@evil.example' } : r)),
    anchor: anchor100,
    expect: /hash mismatch/,
  },
  {
    name: 'trimmed: the held anchor record forged',
    lines: trimmed.map((r) => (r.seq === 100 ? forged(r) : r)),
    anchor: anchor100,
    expect: /trim anchor/,
  },
  {
    name: 'trimmed: the anchor forged',
    lines: trimmed,
    anchor: { seq: 100, hash: 'b'.repeat(64) },
    expect: /trim anchor/,
  },
  {
    name: 'trimmed: the first kept record deleted',
    lines: trimmed.filter((r) => r.seq !== 101),
    anchor: anchor100,
    expect: /record 101 missing/,
  },
  {
    name: 'trimmed: held records swapped',
    lines: [at(4), at(3), ...trimmed.slice(2)],
    anchor: anchor100,
    expect: /out of order/,
  },
  { name: 'trimmed: no anchor kept', lines: recs.slice(100), expect: /record 1\.\.100 missing/ },
  {
    name: 'everything trimmed, holds kept',
    lines: [at(5), at(6)],
    head: H(at(300)),
    anchor: H(at(300)),
    expect: 'ok',
  },
];

const logOf = (s: Scenario): FileLog =>
  fileLog(dir, s.lines, {
    ...(s.head !== undefined ? { head: s.head } : {}),
    ...(s.anchor !== undefined ? { anchor: s.anchor } : {}),
  });

/** The parallel verify with its ranges run on this thread; `fellBack`: the ranges did not join. */
async function inThread(
  log: FileLog,
  rangeSize: number,
  opts: { knownHead?: AuditHead | null; pageSize?: number; texts?: boolean },
): Promise<{ result: VerifyResult; fellBack: boolean }> {
  const head = await log.head();
  const anchor = await log.anchor();
  if (!head) return { result: await verifyLogAt(log, head, anchor, opts), fellBack: false };
  const tasks = planRanges(head.seq, anchor?.seq ?? 0, rangeSize);
  const knownHead = opts.knownHead ?? null;
  const ctx = { anchor, knownHead, pageSize: opts.pageSize ?? 2000 };
  const file = new LineFile(log.path);
  // As records, or as their texts (the worker hashes those without parsing them).
  const reader = opts.texts
    ? {
        range: async () => [],
        rangeText: async (from: number, limit: number) => file.rangeText(from, limit),
      }
    : { range: async (from: number, limit: number) => file.range(from, limit) };
  try {
    const v = new ChainVerifier(anchor, { head, untilSeq: head.seq, knownHead });
    const joined = await joinRanges(v, tasks, (i) => verifyRange(reader, ctx, tasks[i] as (typeof tasks)[0]));
    if (joined !== 'sequential') return { result: joined, fellBack: false };
    return { result: await verifyLogAt(log, head, anchor, opts), fellBack: true };
  } finally {
    file.close();
  }
}

t.test('ranges: below the anchor in a few, then the chain in ranges of one size', async (t) => {
  t.same(planRanges(10, 0, 4), [
    { id: 0, lo: 1, hi: 4 },
    { id: 1, lo: 5, hi: 8 },
    { id: 2, lo: 9, hi: 10 },
  ]);
  t.same(planRanges(300, 100, 150), [
    { id: 0, lo: 1, hi: 100 },
    { id: 1, lo: 101, hi: 250 },
    { id: 2, lo: 251, hi: 300 },
  ]);
  t.same(
    planRanges(1000, 900, 50, 3).map((r) => [r.lo, r.hi]),
    [
      [1, 300],
      [301, 600],
      [601, 900],
      [901, 950],
      [951, 1000],
    ],
    'a long trimmed stretch in at most 3 ranges',
  );
  t.same(planRanges(5, 5, 10), [{ id: 0, lo: 1, hi: 5 }], 'everything trimmed');
});

t.test('each tampering: the ranges joined on this thread give verifyLog’s result', async (t) => {
  for (const s of scenarios) {
    const log = logOf(s);
    const knownHead = s.knownHead ?? null;
    for (const pageSize of [2000, 7]) {
      const expected = await verifyLog(log, { knownHead, pageSize });
      if (s.expect === 'ok') t.equal(expected.ok, true, `${s.name}: verifyLog says intact`);
      else t.match(expected, { ok: false, problem: s.expect }, `${s.name}: verifyLog finds it`);
      for (const texts of [false, true]) {
        for (const size of [1, 7, 50, 51, 299, 1000]) {
          const { result, fellBack } = await inThread(log, size, { knownHead, pageSize, texts });
          const how = `${s.name}, ranges of ${size}, pages of ${pageSize}${texts ? ', as texts' : ''}`;
          t.same(result, expected, how);
          t.notOk(fellBack, `${how}: the ranges joined`);
        }
      }
    }
    log.close();
  }
});

t.test('random logs and random tampering: the same result as verifyLog (property)', async (t) => {
  const base = chainEntries(null, entries(120));
  const op = fc.oneof(
    fc.record({ kind: fc.constant('edit' as const), at: fc.nat(119) }),
    fc.record({ kind: fc.constant('forge' as const), at: fc.nat(119) }),
    fc.record({ kind: fc.constant('delete' as const), at: fc.nat(119), n: fc.integer({ min: 1, max: 5 }) }),
    fc.record({ kind: fc.constant('swap' as const), at: fc.nat(119), to: fc.nat(119) }),
    fc.record({ kind: fc.constant('dup' as const), at: fc.nat(119), to: fc.nat(119) }),
    fc.record({ kind: fc.constant('garbage' as const), at: fc.nat(119) }),
  );
  await fc.assert(
    fc.asyncProperty(
      fc.record({
        trimTo: fc.option(fc.integer({ min: 1, max: 119 }), { nil: undefined }),
        holds: fc.uniqueArray(fc.integer({ min: 1, max: 119 }), { maxLength: 6 }),
        ops: fc.array(op, { maxLength: 2 }),
        headBack: fc.option(fc.integer({ min: 1, max: 120 }), { nil: undefined }),
        known: fc.option(fc.integer({ min: 1, max: 130 }), { nil: undefined }),
        size: fc.integer({ min: 1, max: 130 }),
        pageSize: fc.constantFrom(3, 16, 2000),
      }),
      async (c) => {
        let lines: (AuditRecord | string)[] = base.filter(
          (r) => c.trimTo === undefined || r.seq > c.trimTo || c.holds.includes(r.seq),
        );
        for (const o of c.ops) {
          const i = o.at % lines.length;
          if (o.kind === 'edit') lines[i] = { ...(lines[i] as AuditRecord), reason: 'edited' };
          else if (o.kind === 'forge' && typeof lines[i] !== 'string')
            lines[i] = forged(lines[i] as AuditRecord);
          else if (o.kind === 'delete') lines.splice(i, o.n);
          else if (o.kind === 'swap') {
            const j = o.to % lines.length;
            [lines[i], lines[j]] = [lines[j] as AuditRecord, lines[i] as AuditRecord];
          } else if (o.kind === 'dup') lines.splice(o.to % lines.length, 0, lines[i] as AuditRecord);
          else if (o.kind === 'garbage') lines[i] = '{"broken":';
          if (lines.length === 0) lines = [base[0] as AuditRecord];
        }
        const last = base[base.length - 1] as AuditRecord;
        const head = c.headBack ? H(base[c.headBack - 1]) : H(last);
        const anchor = c.trimTo ? H(base[c.trimTo - 1]) : null;
        const knownHead = c.known
          ? c.known <= 120
            ? H(base[c.known - 1])
            : { seq: c.known, hash: 'c'.repeat(64) }
          : null;
        const log = fileLog(dir, lines, { head, anchor });
        try {
          const expected = await verifyLog(log, { knownHead, pageSize: c.pageSize });
          for (const texts of [false, true]) {
            const { result } = await inThread(log, c.size, { knownHead, pageSize: c.pageSize, texts });
            if (JSON.stringify(result) !== JSON.stringify(expected))
              throw new Error(`parallel ${JSON.stringify(result)} != sequential ${JSON.stringify(expected)}`);
          }
        } finally {
          log.close();
        }
      },
    ),
    { numRuns: 300 },
  );
  t.pass('300 random cases');
});

t.test('on worker threads over a JSONL source: verifyLog’s result for each tampering', async (t) => {
  for (const s of scenarios) {
    const log = logOf(s);
    const knownHead = s.knownHead ?? null;
    const expected = await verifyLog(log, { knownHead });
    const plans: { workers: number; ranges: number }[] = [];
    const warnings: string[] = [];
    const result = await verifyLogParallel(log, {
      knownHead,
      workers: 2,
      rangeSize: 37,
      pageSize: 16,
      minRecords: 0,
      onPlan: (p) => plans.push(p),
      onWarning: (w) => warnings.push(w),
    });
    t.same(result, expected, s.name);
    t.same(warnings, [], `${s.name}: no warning`);
    if (s.head !== null) t.ok((plans[0]?.workers ?? 0) > 0, `${s.name}: ran on worker threads`);
    log.close();
  }
});

t.test('without a source, or below minRecords, verify runs on this thread', async (t) => {
  const store = new MemoryStore();
  t.teardown(() => store.close());
  await store.audit.append(chainEntries(null, entries(50)));
  const plans: unknown[] = [];
  const result = await verifyLogParallel(store.audit, { minRecords: 0, onPlan: (p) => plans.push(p) });
  t.same(result, await verifyLog(store.audit));
  t.same(plans, [{ workers: 0, ranges: 0 }]);
  const log = fileLog(dir, recs);
  const short = await verifyLogParallel(log, { minRecords: 1000, onPlan: (p) => plans.push(p) });
  t.same(short, await verifyLog(log));
  t.same(plans[1], { workers: 0, ranges: 0 }, 'below minRecords');
  log.close();
});

t.test('a source whose reader cannot be opened: a warning, and verify on this thread', async (t) => {
  const log = fileLog(dir, recs);
  Object.assign(log, { source: { module: log.source.module, options: { path: `${dir}/missing.jsonl` } } });
  const warnings: string[] = [];
  const result = await verifyLogParallel(log, {
    workers: 2,
    minRecords: 0,
    onWarning: (w) => warnings.push(w),
  });
  t.same(result, await verifyLog(log));
  t.match(warnings, [/cannot open the audit reader .*missing\.jsonl/]);
  log.close();
});
