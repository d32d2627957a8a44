// The archive's indexed search against a real PostgreSQL: hand-written expectations field by
// field (the semantics every store gives, /work notes: words, persons, domains, exact ids),
// then random filters and page sizes compared with the reference predicate over every record.
import fc from 'fast-check';
import t, { type Test } from 'tap';
import { chainEntries } from '../../src/core/audit/chain.js';
import { compileFilter } from '../../src/core/audit/query.js';
import type { AuditEntry, AuditRecord } from '../../src/core/audit/record.js';
import type { AuditFilter } from '../../src/core/audit/types.js';
import { PostgresAuditLog } from '../../src/store/postgres/log.js';
import { entry } from '../core/audit/fixtures.js';
import { startPostgres } from '../harness/postgres.js';

const pg = await startPostgres({ fast: true });
t.teardown(() => pg.destroy());

/** Every page of a search, concatenated; checks each page's `next`. */
async function searchAll(
  t: Test,
  log: PostgresAuditLog,
  filter: AuditFilter,
  limit: number,
): Promise<number[]> {
  const out: number[] = [];
  let before: number | null = null;
  for (let i = 0; i < 10_000; i++) {
    const page = await log.search(filter, before, limit);
    out.push(...page.records.map((r) => r.seq));
    if (page.records.length > limit) t.fail(`page longer than ${limit}`);
    if (page.next === null) return out;
    const smallest = page.records[page.records.length - 1]?.seq;
    if (page.next !== smallest) t.fail(`next ${page.next} is not the smallest seq returned (${smallest})`);
    before = page.next;
  }
  throw new Error('search did not end');
}

// The reference for `q`, written from the semantics (not the store's code): words are runs
// of letters and digits, lower-cased one by one; a `*` after a word makes it a prefix.
function refWords(text: string): string[] {
  return (text.match(/[\p{L}\p{N}]+/gu) ?? []).map((w) => w.toLowerCase());
}
function reference(filter: AuditFilter): (r: AuditRecord) => boolean {
  const rest = compileFilter({ ...filter, q: undefined });
  const q = filter.q ?? '';
  const wanted = [...q.matchAll(/([\p{L}\p{N}]+)(\*?)/gu)].map((m) => ({
    word: (m[1] as string).toLowerCase(),
    prefix: m[2] === '*',
  }));
  return (r) => {
    if (!rest(r)) return false;
    if (wanted.length === 0) return true;
    if (r.content.mode !== 'full') return false;
    const have = refWords(r.content.body);
    return wanted.every((w) => have.some((h) => (w.prefix ? h.startsWith(w.word) : h === w.word)));
  };
}

const LONG = 'x'.repeat(3000);
const fixed: Partial<AuditEntry>[] = [
  {
    from: 'xmpp:alice@corp.example',
    to: 'sip:bob@partner.example',
    fromNetwork: 'xmpp',
    toNetwork: 'sip',
    rule: 'partners-talk',
    eventId: 'ev-1',
    traceId: 'trace-1',
    outcome: 'pending',
    time: '2025-01-10T10:00:00.000Z',
    content: { mode: 'full', body: 'Hello Bob, the Invoice-2026 is attached' },
  },
  {
    category: 'outcome',
    from: 'xmpp:alice@corp.example',
    to: 'sip:bob@partner.example',
    fromNetwork: 'xmpp',
    toNetwork: 'sip',
    rule: 'partners-talk',
    eventId: 'ev-1',
    traceId: 'trace-1',
    outcome: 'delivered',
    time: '2025-01-10T10:00:01.000Z',
    content: { mode: 'none' },
  },
  {
    from: 'matrix:u/carol:hs.test',
    to: 'xmpp:alice@corp.example',
    fromNetwork: 'matrix',
    toNetwork: 'xmpp',
    decision: 'deny',
    rule: 'no-consumers',
    eventId: 'ev-3',
    traceId: 'trace-3',
    time: '2025-02-01T00:00:00.000Z',
    content: { mode: 'full', body: 'Ünïcode-Text über naïve 2026!' },
  },
  {
    from: 'not an address',
    to: 'xmpp:dave@corp.example',
    fromNetwork: 'xmpp',
    toNetwork: 'xmpp',
    kind: 'presence',
    rule: null,
    eventId: 'ev-4',
    traceId: 'trace-4',
    time: 'not a time',
    content: { mode: 'hash', sha256: 'a'.repeat(64) },
  },
  {
    from: 'sip:Bob@Partner.example',
    to: 'matrix:u/carol:hs.test',
    fromNetwork: 'sip',
    toNetwork: 'matrix',
    decision: 'redact',
    rule: 'partners-talk',
    eventId: 'ev-5',
    traceId: 'trace-5',
    time: '2025-03-05T00:00:00.000Z',
    content: { mode: 'full', body: 'invoices overdue; contact alice@corp.example' },
  },
  {
    category: 'admin',
    from: 'admin',
    to: '',
    fromNetwork: '',
    toNetwork: '',
    kind: 'policy.reload',
    rule: null,
    eventId: 'ev-6',
    traceId: 'trace-6',
    time: '2025-03-06T00:00:00.000Z',
    content: { mode: 'none' },
  },
  {
    from: 'xmpp:alice@corp.example',
    to: 'matrix:u/carol:hs.test',
    fromNetwork: 'xmpp',
    toNetwork: 'matrix',
    eventId: 'ev-7',
    traceId: 'trace-7',
    time: '2025-03-07T00:00:00.000Z',
    content: { mode: 'full', body: 'İstanbul trip' },
  },
  {
    from: 'xmpp:erin@corp.example',
    to: 'sip:frank@partner.example',
    eventId: 'ev-8',
    traceId: 'trace-8',
    fromNetwork: 'xmpp',
    toNetwork: 'sip',
    time: '2025-03-08T00:00:00.000Z',
    content: { mode: 'full', body: `${LONG} tail` },
  },
];

t.test('field by field: what each filter finds, newest first', async (t) => {
  const log = new PostgresAuditLog({ url: pg.url, schema: 'fields' });
  t.teardown(() => log.close());
  await log.open();
  await log.append(
    chainEntries(
      null,
      fixed.map((over) => entry(over)),
    ),
  );
  const cases: [AuditFilter, number[]][] = [
    [{}, [8, 7, 6, 5, 4, 3, 2, 1]],
    [{ user: 'alice@corp.example' }, [7, 3, 2, 1]],
    [{ user: 'xmpp:Alice@corp.example/phone' }, [7, 3, 2, 1]],
    [{ user: '@carol:hs.test' }, [7, 5, 3]],
    [{ user: 'bob@partner.example' }, [5, 2, 1]],
    [{ user: 'not an address' }, [4]],
    [{ user: 'nobody@nowhere.example' }, []],
    [{ domain: 'PARTNER.example' }, [8, 5, 2, 1]],
    [{ domain: 'hs.test' }, [7, 5, 3]],
    [{ network: 'matrix' }, [7, 5, 3]],
    [{ kind: 'presence' }, [4]],
    [{ decision: 'deny' }, [3]],
    [{ decision: 'redact' }, [5]],
    [{ rule: 'partners-talk' }, [8, 7, 5, 2, 1]],
    [{ category: 'outcome' }, [2]],
    [{ category: 'admin' }, [6]],
    [{ outcome: 'delivered' }, [2]],
    [{ eventId: 'ev-1' }, [2, 1]],
    [{ traceId: 'trace-5' }, [5]],
    [{ q: 'invoice' }, [1]],
    [{ q: 'invoic*' }, [5, 1]],
    [{ q: 'INVOICE 2026' }, [1]],
    [{ q: 'ÜBER' }, [3]],
    [{ q: 'uber' }, []],
    [{ q: 'alice' }, [5]],
    [{ q: 'corp example' }, [5]],
    [{ q: 'İSTANBUL' }, [7]],
    [{ q: 'istanbul' }, []],
    [{ q: LONG }, [8]],
    [{ q: LONG.slice(1) }, []],
    [{ q: `${LONG.slice(1)}*` }, [8]],
    [{ q: `${LONG}y` }, []],
    [{ q: 'hello' }, [1]],
    [{ q: '!!' }, [8, 7, 6, 5, 4, 3, 2, 1]],
    [{ from: '2025-03-01T00:00:00Z' }, [8, 7, 6, 5]],
    [{ to: '2025-02-01T00:00:00Z' }, [2, 1]],
    [{ from: '2025-01-10T10:00:01.000Z', to: '2025-03-06T00:00:00.000Z' }, [5, 3, 2]],
    [{ user: 'alice@corp.example', q: 'hello' }, [1]],
    [{ domain: 'corp.example', network: 'sip', decision: 'allow' }, [8, 2, 1]],
  ];
  for (const [filter, want] of cases) {
    const label = JSON.stringify(filter).slice(0, 80);
    t.same(await searchAll(t, log, filter, 100), want, label);
    t.same(await searchAll(t, log, filter, 1), want, `${label}, one per page`);
    const all = await log.range(1, 100);
    t.same(
      all
        .filter(reference(filter))
        .map((r) => r.seq)
        .reverse(),
      want,
      `${label}: the reference agrees`,
    );
  }
  t.same(await log.search({ user: 'alice@corp.example' }, 3, 10), {
    records: await log.range(1, 2).then((r) => r.reverse()),
    next: null,
  });
  t.same((await log.search({}, null, 3)).next, 6, 'a full page: next is its smallest seq');
  t.same((await log.search({}, 2, 1)).next, null, 'a page ending at seq 1: the start of the log');
  await t.rejects(log.search({ from: 'yesterday' }, null, 5), RangeError);
});

// Random records from small pools, so that filters match some and not others.
const pool = {
  party: [
    'xmpp:alice@corp.example',
    'xmpp:Alice@Corp.example/desk',
    'sip:bob@partner.example',
    'matrix:u/carol:hs.test',
    'matrix:u/carol:HS.test:8448',
    'xmpp:dave@corp.example',
    'not an address',
    'alice@corp.example',
  ],
  network: ['xmpp', 'sip', 'matrix'],
  kind: ['message', 'presence', 'call'],
  rule: [null, 'partners-talk', 'no-consumers'],
  words: ['hello', 'Invoice', 'invoices', 'über', 'Über', 'naïve', '2026', 'İstanbul', 'x1', 'corp', 'a-b'],
  time: [
    '2025-01-31T23:30:00.000Z',
    '2025-02-01T00:30:00.000+01:00',
    '2025-02-15T12:00:00.000Z',
    '2025-03-01T00:00:00.000Z',
    'garbage',
  ],
};
const pick = <T>(xs: readonly T[]) => fc.constantFrom(...xs);
const arbEntry: fc.Arbitrary<Partial<AuditEntry>> = fc.record({
  category: pick(['decision', 'outcome', 'admin'] as const),
  from: pick(pool.party),
  to: pick(pool.party),
  fromNetwork: pick(pool.network),
  toNetwork: pick(pool.network),
  kind: pick(pool.kind),
  decision: pick(['allow', 'redact', 'deny'] as const),
  rule: pick(pool.rule),
  outcome: pick(['delivered', 'refused', 'pending'] as const),
  eventId: pick(['e1', 'e2', 'e3', 'e4']),
  traceId: pick(['t1', 't2', 't3']),
  time: pick(pool.time),
  content: fc.oneof(
    fc
      .tuple(fc.array(pick(pool.words), { maxLength: 5 }), pick([' ', ', ', '-', '.']))
      .map(([ws, sep]) => ({ mode: 'full' as const, body: ws.join(sep) })),
    fc.constant({ mode: 'none' as const }),
    fc.constant({ mode: 'hash' as const, sha256: 'b'.repeat(64) }),
  ),
});
const filterValues = fc.record({
  user: pick([...pool.party, '@carol:hs.test', 'BOB@partner.example', 'nobody']),
  domain: pick(['corp.example', 'PARTNER.EXAMPLE', 'hs.test', 'hs.test:8448']),
  network: pick(pool.network),
  kind: pick(pool.kind),
  decision: pick(['allow', 'redact', 'deny'] as const),
  rule: pick(['partners-talk', 'no-consumers']),
  category: pick(['decision', 'outcome', 'admin'] as const),
  outcome: pick(['delivered', 'refused', 'pending'] as const),
  eventId: pick(['e1', 'e2', 'e5']),
  traceId: pick(['t1', 't3']),
  q: pick(['hello', 'invoic*', 'INVOICE', 'über', 'i*', 'İstanbul x1', 'a b', '!!', 'naïve 2026', 'corp*']),
  from: pick(['2025-02-01T00:00:00Z', '2025-01-31T23:30:00Z']),
  to: pick(['2025-02-15T12:00:00Z', '2025-03-01T00:00:00.001Z']),
});
type FilterKey = keyof AuditFilter;
const FILTER_KEYS: FilterKey[] = [
  'user',
  'domain',
  'network',
  'kind',
  'decision',
  'rule',
  'category',
  'outcome',
  'eventId',
  'traceId',
  'q',
  'from',
  'to',
];
/** Up to three fields set: most filters then match some records. */
const arbFilter: fc.Arbitrary<AuditFilter> = fc
  .tuple(fc.shuffledSubarray(FILTER_KEYS, { maxLength: 3 }), filterValues)
  .map(([keys, values]) => Object.fromEntries(keys.map((k) => [k, values[k]])) as AuditFilter);

t.test('random filters and page sizes: exactly the reference’s records, newest first', async (t) => {
  const log = new PostgresAuditLog({ url: pg.url, schema: 'random' });
  t.teardown(() => log.close());
  await log.open();
  const overs = fc.sample(arbEntry, { numRuns: 400, seed: 17 });
  await log.append(
    chainEntries(
      null,
      overs.map((o) => entry(o)),
    ),
  );
  // Trimmed, with holds below the anchor: search sees what is kept.
  await log.trim(40, new Set([3, 17, 25]));
  const kept = await log.range(1, 1000);
  t.equal(kept.length, 364);
  let nonEmpty = 0;
  await fc.assert(
    fc.asyncProperty(arbFilter, fc.integer({ min: 1, max: 40 }), async (filter, limit) => {
      const want = kept
        .filter(reference(filter))
        .map((r) => r.seq)
        .reverse();
      if (want.length > 0) nonEmpty += 1;
      const got = await searchAll(t, log, filter, limit);
      if (JSON.stringify(got) !== JSON.stringify(want)) {
        t.fail(`filter ${JSON.stringify(filter)} limit ${limit}: got ${got} want ${want}`);
        return false;
      }
      return true;
    }),
    { numRuns: 300, seed: 42 },
  );
  t.ok(nonEmpty > 60, `filters that match something: ${nonEmpty} of 300`);
});
