// Indexed search on the SQLite store (AuditLog.search): hand-worked expectations for each
// filter field, keyset paging, a seeded comparison with compileFilter over every record
// (with trimmed gaps and held records), and the full-text index checked against the words
// semantics of `q` directly: every record whose body has the query's words must be among the
// chunks the index names (the search then checks each record with compileFilter). The shared
// search contract (test/store/search-contract.ts) adds the finer points of q and user.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import fc from 'fast-check';
import t from 'tap';
import { chainEntries } from '../../src/core/audit/chain.js';
import { compileFilter } from '../../src/core/audit/query.js';
import type { AuditEntry, AuditRecord } from '../../src/core/audit/record.js';
import type { AuditFilter } from '../../src/core/audit/types.js';
import { filterMatch } from '../../src/store/sqlite/search.js';
import { SqliteStore } from '../../src/store/sqlite/store.js';
import { MAX_WORD, wordTerms } from '../../src/store/sqlite/terms.js';

const dirs: string[] = [];
t.teardown(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});
function open(): { store: SqliteStore; path: string } {
  const dir = mkdtempSync(join(tmpdir(), 'parley-search-'));
  dirs.push(dir);
  const path = join(dir, 'parley.db');
  return { store: new SqliteStore({ path }), path };
}

const base: AuditEntry = {
  category: 'decision',
  time: '2026-03-01T10:00:00.000Z',
  traceId: 't0',
  eventId: 'e0',
  kind: 'message',
  from: 'xmpp:alice@corp.example',
  to: 'sip:bob@partner.example',
  fromNetwork: 'xmpp',
  toNetwork: 'sip',
  direction: 'outbound',
  decision: 'allow',
  rule: 'partners-talk',
  reason: null,
  policyVersion: 'v1',
  content: { mode: 'none' },
  sourceAdapter: 'corp',
  targetAdapter: 'partner',
};

/** Every page of a search, `limit` at a time, from `before`. */
async function allPages(
  store: SqliteStore,
  filter: AuditFilter,
  limit: number,
  before: number | null = null,
) {
  const seqs: number[] = [];
  const nexts: (number | null)[] = [];
  let cursor = before;
  for (let guard = 0; guard < 10_000; guard++) {
    const page = await store.audit.search(filter, cursor, limit);
    if (page.records.length > limit) throw new Error(`page of ${page.records.length} > limit ${limit}`);
    seqs.push(...page.records.map((r) => r.seq));
    nexts.push(page.next);
    if (page.next === null) break;
    if (page.records.length < limit)
      throw new Error(`a page with a next has ${page.records.length} of ${limit}`);
    if (page.next !== page.records[page.records.length - 1]?.seq)
      throw new Error('next is not the smallest seq');
    cursor = page.next;
  }
  return { seqs, nexts };
}

t.test('each filter field, by hand', async (t) => {
  const { store } = open();
  t.teardown(() => store.close());
  const es: AuditEntry[] = [
    // 1
    {
      ...base,
      eventId: 'e1',
      traceId: 't1',
      content: { mode: 'full', body: 'Invoice attached, see the PDF.' },
    },
    // 2: the same person on Matrix, upper case in the URI
    {
      ...base,
      eventId: 'e2',
      traceId: 't1',
      category: 'outcome',
      outcome: 'delivered',
      from: 'matrix:u/Alice:corp.example',
      fromNetwork: 'matrix',
      time: '2026-03-01T11:00:00.000Z',
    },
    // 3: denied, another rule, hashed content with the word in it
    {
      ...base,
      eventId: 'e3',
      traceId: 't3',
      decision: 'deny',
      rule: 'block-rival',
      to: 'xmpp:eve@rival.example',
      toNetwork: 'xmpp',
      content: { mode: 'hash', sha256: 'invoice' },
      time: '2026-03-02T00:00:00.000Z',
    },
    // 4: an admin record: actor as a bare user@domain, a target that is no address
    {
      ...base,
      category: 'admin',
      kind: 'hold.create',
      eventId: 'e4',
      traceId: 't4',
      from: 'ops@Corp.Example',
      to: 'legal hold 7',
      fromNetwork: 'admin',
      toNetwork: 'admin',
      rule: null,
      content: { mode: 'full', body: 'hold for the bills of Q1' },
      time: '2026-03-03T00:00:00.000Z',
    },
    // 5: presence, refused, the time exactly at a `to` bound
    {
      ...base,
      kind: 'presence',
      eventId: 'e5',
      traceId: 't5',
      outcome: 'refused',
      content: { mode: 'full', body: 'INVOICE café' },
      time: '2026-03-04T00:00:00.000Z',
    },
  ];
  await store.audit.append(chainEntries(null, es));
  const seqs = async (f: AuditFilter) => (await store.audit.search(f, null, 100)).records.map((r) => r.seq);

  t.same(await seqs({}), [5, 4, 3, 2, 1], 'no filter: everything, newest first');
  t.same(await seqs({ user: 'alice@corp.example' }), [5, 3, 2, 1], 'a person on every network, any case');
  t.same(await seqs({ user: '@alice:corp.example' }), [5, 3, 2, 1], 'a Matrix user ID names the same person');
  t.same(await seqs({ user: 'xmpp:ALICE@corp.example' }), [5, 3, 2, 1]);
  t.same(await seqs({ user: 'eve@rival.example' }), [3]);
  t.same(await seqs({ user: 'legal hold 7' }), [4], 'a party that is no address: its exact text');
  t.same(await seqs({ user: 'legal hold' }), [], 'and only its exact text');
  t.same(await seqs({ domain: 'RIVAL.example' }), [3], 'a domain, any case');
  t.same(await seqs({ domain: 'corp.example' }), [5, 3, 2, 1], 'a party’s domain (the actor is no address)');
  t.same(await seqs({ network: 'matrix' }), [2]);
  t.same(await seqs({ network: 'xmpp' }), [5, 3, 1]);
  t.same(await seqs({ kind: 'presence' }), [5]);
  t.same(await seqs({ decision: 'deny' }), [3]);
  t.same(await seqs({ rule: 'partners-talk' }), [5, 2, 1]);
  t.same(await seqs({ category: 'admin' }), [4]);
  t.same(await seqs({ outcome: 'refused' }), [5]);
  t.same(await seqs({ outcome: 'queued' }), []);
  t.same(await seqs({ eventId: 'e2' }), [2]);
  t.same(await seqs({ traceId: 't1' }), [2, 1]);
  t.same(await seqs({ from: '2026-03-02T00:00:00.000Z' }), [5, 4, 3], 'from is inclusive');
  t.same(await seqs({ to: '2026-03-04T00:00:00.000Z' }), [4, 3, 2, 1], 'to is exclusive');
  t.same(await seqs({ from: '2026-03-01T10:30:00Z', to: '2026-03-03T00:00:00Z' }), [3, 2]);
  t.same(await seqs({ q: 'invoice' }), [5, 1], 'a word, any case; not in hashed content');
  t.same(await seqs({ q: 'voice' }), [], 'words, not substrings');
  t.same(await seqs({ q: 'BILLS' }), [4], 'any case');
  t.same(await seqs({ q: 'bills q2' }), [], 'every word must be there');
  t.same(await seqs({ q: 'café' }), [5]);
  t.same(await seqs({ q: 'cafe' }), [], 'accents count');
  t.same(
    await seqs({ user: 'alice@corp.example', q: 'invoice', kind: 'message' }),
    [1],
    'fields together: all hold',
  );
  t.same(await seqs({ user: '' }), [5, 4, 3, 2, 1], 'an empty field is no filter');
  await t.rejects(store.audit.search({ from: 'yesterday' }, null, 10), RangeError, 'a bad time fails');
});

t.test(
  'paging: pages concatenate to the whole result, next is the smallest seq, null at the end',
  async (t) => {
    const { store } = open();
    t.teardown(() => store.close());
    const es = Array.from({ length: 70 }, (_, i) => ({
      ...base,
      eventId: `e${i + 1}`,
      kind: i % 3 === 0 ? 'presence' : 'message',
    }));
    // Appends of different sizes: chunks of different lengths.
    let head = null as { seq: number; hash: string } | null;
    for (const n of [1, 5, 17, 3, 40, 4]) {
      const recs = chainEntries(head, es.splice(0, n));
      await store.audit.append(recs);
      const last = recs[recs.length - 1] as AuditRecord;
      head = { seq: last.seq, hash: last.hash };
    }
    const presence = Array.from({ length: 70 }, (_, i) => 70 - i).filter((s) => (s - 1) % 3 === 0);
    for (const limit of [1, 2, 7, 23, 1000]) {
      const { seqs, nexts } = await allPages(store, { kind: 'presence' }, limit);
      t.same(seqs, presence, `pages of ${limit}`);
      t.equal(nexts[nexts.length - 1], null);
    }
    t.same(
      (await allPages(store, {}, 9)).seqs,
      Array.from({ length: 70 }, (_, i) => 70 - i),
      'everything, pages of 9',
    );
    t.same(
      (await allPages(store, { kind: 'presence' }, 5, 40)).seqs,
      presence.filter((s) => s < 40),
      'from a cursor',
    );
    t.same(
      await store.audit.search({ kind: 'presence' }, 1, 10),
      { records: [], next: null },
      'before the first',
    );
    t.same((await store.audit.search({}, null, 0)).records, [], 'limit 0');
  },
);

// Values the generated records take; the filters pick among them (and some that no record has).
const USERS = ['alice', 'Bob', 'carol', 'dave'];
const DOMAINS = ['corp.example', 'Partner.example', 'rival.example'];
const WORDS = ['invoice', 'Invoices', 'report', 'café', 'CAFE', 'straße', '東京', 'q1', '2026', 'x'];

function party(rand: () => number): [string, string] {
  const u = USERS[Math.floor(rand() * USERS.length)] as string;
  const d = DOMAINS[Math.floor(rand() * DOMAINS.length)] as string;
  const r = rand();
  if (r < 0.35) return [`xmpp:${u}@${d}`, 'xmpp'];
  if (r < 0.6) return [`sip:${u}@${d}`, 'sip'];
  if (r < 0.85) return [`matrix:u/${u}:${d}`, 'matrix'];
  if (r < 0.93) return [`${u}@${d}`, 'admin'];
  return [['policy', 'api', 'retention'][Math.floor(rand() * 3)] as string, 'admin'];
}

function generate(count: number, seed: number): AuditEntry[] {
  let s = seed;
  const rand = () => {
    s = (Math.imul(s, 1103515245) + 12345) >>> 0;
    return s / 4294967296;
  };
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rand() * xs.length)] as T;
  return Array.from({ length: count }, (_, i) => {
    const [from, fromNetwork] = party(rand);
    const [to, toNetwork] = party(rand);
    const body = Array.from({ length: 1 + Math.floor(rand() * 5) }, () => pick(WORDS)).join(
      pick([' ', ', ', '-', '!']),
    );
    const mode = rand();
    const e: AuditEntry = {
      ...base,
      category: pick(['decision', 'decision', 'outcome', 'admin'] as const),
      // Mostly in order, some out of order, a few unreadable.
      time:
        rand() < 0.03
          ? 'not a time'
          : new Date(
              Date.UTC(2026, 0, 1) + i * 3_600_000 - (rand() < 0.1 ? 86_400_000 * 3 : 0),
            ).toISOString(),
      eventId: `e${Math.floor(i / 2)}`,
      traceId: `t${Math.floor(i / 3)}`,
      kind: pick(['message', 'presence', 'call']),
      from,
      to,
      fromNetwork,
      toNetwork,
      decision: pick(['allow', 'deny', 'redact'] as const),
      rule: rand() < 0.2 ? null : pick(['partners-talk', 'block-rival', 'consumer-im']),
      content:
        mode < 0.6 ? { mode: 'full', body } : mode < 0.8 ? { mode: 'hash', sha256: body } : { mode: 'none' },
    };
    if (rand() < 0.6) e.outcome = pick(['delivered', 'queued', 'refused', 'pending'] as const);
    return e;
  });
}

t.test(
  'seeded: every filter gives what compileFilter finds over all records, in every page size',
  async (t) => {
    const { store } = open();
    t.teardown(() => store.close());
    const entries = generate(900, 42);
    let head = null as { seq: number; hash: string } | null;
    let cut = 0;
    const sizes = [1, 2, 3, 16, 17, 31, 100, 250];
    for (let i = 0; cut < entries.length; i++) {
      const n = sizes[i % sizes.length] as number;
      const recs = chainEntries(head, entries.slice(cut, cut + n));
      cut += n;
      await store.audit.append(recs);
      const last = recs[recs.length - 1] as AuditRecord;
      head = { seq: last.seq, hash: last.hash };
    }
    // Trim the oldest 200 but hold a few: held records below the anchor are searched too.
    await store.audit.trim(201, new Set([3, 50, 51, 199]));
    const all = (await store.audit.range(1, 10_000)).reverse();
    t.equal(all.length, 704);

    const filters: AuditFilter[] = [
      {},
      { user: 'alice@corp.example' },
      { user: 'BOB@partner.example' },
      { user: '@carol:rival.example' },
      { user: 'policy' },
      { user: 'nobody@nowhere.example' },
      { domain: 'partner.example' },
      { domain: 'RIVAL.EXAMPLE', kind: 'call' },
      { network: 'matrix' },
      { network: 'admin', category: 'admin' },
      { kind: 'presence', decision: 'deny' },
      { rule: 'block-rival' },
      { rule: 'consumer-im', outcome: 'queued' },
      { category: 'outcome' },
      { outcome: 'refused', user: 'dave@corp.example' },
      { eventId: 'e301' },
      { eventId: 'e25' },
      { traceId: 't120' },
      { traceId: 'nope' },
      { from: '2026-01-10T00:00:00Z' },
      { to: '2026-01-20T00:00:00Z' },
      { from: '2026-01-15T00:00:00Z', to: '2026-01-25T00:00:00Z', domain: 'corp.example' },
      { from: '2027-01-01T00:00:00Z' },
      { q: 'x' },
      { q: 'report', user: 'alice@corp.example' },
      { q: '東京', decision: 'allow' },
    ];
    for (const filter of filters) {
      const match = compileFilter(filter);
      const expected = all.filter(match).map((r) => r.seq);
      for (const limit of [1000, 13, 4]) {
        const { seqs } = await allPages(store, filter, limit);
        t.same(seqs, expected, `${JSON.stringify(filter)}, pages of ${limit}: ${expected.length} records`);
      }
    }
  },
);

/** The words semantics of `q` (semantics.md), written out: what the index must never miss. */
function wordsOf(text: string): string[] {
  return [...text.matchAll(/[\p{L}\p{N}]+/gu)].map((m) => m[0].toLowerCase());
}
function hasWords(body: string, q: string): boolean {
  const words = new Set(wordsOf(body));
  const asked = [...q.matchAll(/([\p{L}\p{N}]+)(\*?)/gu)].map((m) => ({
    w: (m[1] as string).toLowerCase(),
    prefix: m[2] === '*',
  }));
  return asked.every(({ w, prefix }) => (prefix ? [...words].some((x) => x.startsWith(w)) : words.has(w)));
}

t.test('the full-text index never misses a record whose words match q', async (t) => {
  const { store, path } = open();
  t.teardown(() => store.close());
  const long = 'ж'.repeat(MAX_WORD + 10);
  const tricky = [
    'Straße STRASSE',
    'ÉCOLE école',
    'İstanbul istanbul',
    'ΟΔΟΣ οδος',
    'naïve nai\u0308ve', // precomposed and combining
    '東京都 東京',
    '😀emoji😀 word',
    `${long}tail ${'a'.repeat(MAX_WORD)}b`,
    'x636166 café caf',
    'under_score dash-ed dot.ted',
    'Invoice-2026 invoices INVOICED',
  ];
  const words = [...new Set(tricky.flatMap((b) => wordsOf(b)))];
  const entries = tricky.map((body, i) => ({
    ...base,
    eventId: `w${i}`,
    content: { mode: 'full' as const, body },
  }));
  await store.audit.append(chainEntries(null, entries));
  const db = new Database(path, { readonly: true });
  t.teardown(() => db.close());
  const chunks = db.prepare(
    'SELECT c.start, c.end FROM audit_terms t JOIN audit_chunks c ON c.start = t.rowid WHERE audit_terms MATCH ?',
  );
  const found = (q: string): Set<number> => {
    const m = filterMatch({ q });
    const out = new Set<number>();
    if (m === null) return out;
    for (const row of chunks.raw().all(m) as [number, number][])
      for (let s = row[0]; s < row[1]; s++) out.add(s);
    return out;
  };
  const records = await store.audit.range(1, 100);
  const check = (q: string) => {
    const hits = found(q);
    const missed = records.filter(
      (r) => r.content.mode === 'full' && hasWords(r.content.body, q) && !hits.has(r.seq),
    );
    t.same(
      missed.map((r) => r.seq),
      [],
      `q ${JSON.stringify(q)}: every record with its words is found`,
    );
  };
  for (const w of words) {
    check(w);
    check(w.toUpperCase());
    for (const n of [1, 2, 3, Math.ceil(w.length / 2), w.length, MAX_WORD, MAX_WORD + 3])
      check(`${w.slice(0, n)}*`);
  }
  check('straße école');
  check('caf* 636166');
  t.same([...found('voice')], [], 'a word no record has finds no chunk');

  // Random bodies and queries drawn from them.
  fc.assert(
    fc.property(
      fc.array(fc.string({ unit: 'grapheme', maxLength: 12 }), { minLength: 1, maxLength: 6 }),
      (parts) => {
        const body = parts.join(' ');
        const ws = wordsOf(body);
        if (ws.length === 0) return true;
        const w = ws[Math.floor(ws.length / 2)] as string;
        const points = Array.from(w);
        const q = [`${w}`, `${points.slice(0, Math.max(1, points.length - 1)).join('')}*`];
        for (const query of q) {
          if (!hasWords(body, query)) continue;
          const m = filterMatch({ q: query });
          // A query without words is no text filter.
          if (m === null) return wordsOf(query).length === 0;
          // The query's terms must be among the body's indexed terms: index this body alone.
          const probe = new Database(':memory:');
          probe.exec("CREATE VIRTUAL TABLE f USING fts5(terms, content='', detail=none, tokenize='ascii')");
          probe.prepare('INSERT INTO f (rowid, terms) VALUES (1, ?)').run(wordTerms(body));
          const hit = probe.prepare('SELECT rowid FROM f WHERE f MATCH ?').all(m).length === 1;
          probe.close();
          if (!hit) return false;
        }
        return true;
      },
    ),
    { numRuns: 300, seed: 7 },
  );
});
