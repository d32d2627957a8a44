// What the search contract (search-contract.ts) searches: a seeded trail of a few thousand
// varied records, and the filters it asks of it. Varied on purpose where stores tend to
// differ: every URI form of the registered networks (case, resources, ports, escapes,
// sips), actors that are bare user@domain or no address at all, decision and outcome
// pairs sharing ids, times spread over months and not always in seq order, and content in
// every mode with punctuation, accents, other scripts, digits and mixed case.
import type { AuditEntry } from '../../src/core/audit/record.js';
import type { AuditFilter } from '../../src/core/audit/types.js';

/** mulberry32: the same trail on every run and every machine. */
export function prng(seed: number): () => number {
  let s = seed | 0;
  return () => {
    s = (s + 0x6d2b79f5) | 0;
    let x = Math.imul(s ^ (s >>> 15), 1 | s);
    x = (x + Math.imul(x ^ (x >>> 7), 61 | x)) ^ x;
    return ((x ^ (x >>> 14)) >>> 0) / 4294967296;
  };
}

interface Party {
  uri: string;
  network: string;
}

// The people, each in the forms records hold for them on each network.
const PARTIES: Party[] = [
  { uri: 'xmpp:alice@corp.example', network: 'xmpp' },
  { uri: 'xmpp:alice@corp.example/phone', network: 'xmpp' },
  { uri: 'sip:alice@corp.example', network: 'sip' },
  { uri: 'xmpp:sam@corp.example', network: 'xmpp' },
  { uri: 'sip:+4930123456@pbx.corp.example', network: 'sip' },
  { uri: 'matrix:u/carol:hs.test', network: 'matrix' },
  { uri: 'sip:Carol@HS.test', network: 'sip' },
  { uri: 'sips:carol@hs.test;transport=tls', network: 'sip' },
  { uri: 'xmpp:carol@hs.test/Laptop', network: 'xmpp' },
  { uri: 'matrix:u/carol:hs.test:8448', network: 'matrix' },
  { uri: 'matrix:u/caroline:hs.test', network: 'matrix' },
  { uri: 'xmpp:bob%25partner.example@gw.corp.example', network: 'xmpp' },
  { uri: 'matrix:u/bob:partner.example', network: 'matrix' },
  { uri: 'sip:bob@partner.example', network: 'sip' },
  { uri: 'matrix:u/eve:rival.example', network: 'matrix' },
  { uri: 'xmpp:zoë@corp.example', network: 'xmpp' },
  { uri: 'sip:dave@10.0.0.7:5060', network: 'sip' },
];

// Admin records: the actor is a role, a bare user@domain, or a token name.
const ACTORS = ['admin', 'auditor', 'ops@corp.example', 'ci-token'];

const WORDS = [
  'invoice',
  'Invoice',
  'INVOICES',
  'invoiced',
  'paid',
  'unpaid',
  'contract',
  'quarterly',
  'report',
  'café',
  'cafe',
  'cafe\u0301',
  'naïve',
  'Größe',
  'straße',
  'Ελλάδα',
  'МОСКВА',
  'москва',
  '東京',
  'e-mail',
  'bob@corp.example',
  '4711',
  '2026',
  'x1',
  'résumé',
  'Zoë',
  "don't",
  'self-service',
  'ID#42',
  'price:100€',
  '😀',
  'hello,world',
  '٣',
  'meeting',
  'tomorrow',
  'at',
  'the',
  'and',
];
const SEPARATORS = [' ', ' ', ' ', ', ', '. ', '! ', '\n', ' - ', '; ', '…', '"', '(', ') '];

const KINDS = ['message', 'message', 'message', 'presence', 'chatstate', 'receipt', 'call'];
const ADMIN_KINDS = ['audit.search', 'policy.reload', 'session.sign-in', 'hold.set'];
const RULES = ['partners-talk', 'block-rival', 'redact-cards', 'Rule-With-Case', 'consumer-disclaimer', null];
const DELIVERY = ['delivered', 'delivered', 'delivered', 'refused', 'failed', 'queued'] as const;
const LATER = ['bounced', 'expired'] as const;

/** The first record's time; the trail spans about eight months after it. */
export const START = Date.UTC(2025, 8, 1);
const SPAN_MS = 240 * 86_400_000;

function body(rand: () => number, pick: <T>(xs: readonly T[]) => T): string {
  const n = 1 + Math.floor(rand() * 12);
  let s = '';
  for (let i = 0; i < n; i++) s += (i ? pick(SEPARATORS) : '') + pick(WORDS);
  return s;
}

/**
 * `count` entries (a few more: outcome records follow their decisions), seeded. Times
 * mostly follow seq with jitter, some go back hours or days (a replica's clock, a late
 * outcome), some repeat the previous instant, and a few sit exactly on the instants the
 * time filters use.
 */
export function generateEntries(count: number, seed = 17): AuditEntry[] {
  const rand = prng(seed);
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rand() * xs.length)] as T;
  const out: AuditEntry[] = [];
  let last = START;
  for (let i = 0; out.length < count; i++) {
    const base = START + (SPAN_MS * out.length) / count;
    let t = base + rand() * 3_600_000;
    const r = rand();
    if (r < 0.05) t = last - rand() * 3 * 86_400_000;
    else if (r < 0.08) t = last;
    else if (r < 0.09) t = Date.UTC(2025, 10, 1);
    last = t;
    const time = new Date(Math.max(START, Math.round(t))).toISOString();
    const trace = `tr-${Math.floor(i / 3)}`;
    if (rand() < 0.06) {
      const actor = pick(ACTORS);
      out.push({
        category: 'admin',
        time,
        traceId: `adm-${i}`,
        eventId: `adm-ev-${i}`,
        kind: pick(ADMIN_KINDS),
        from: actor,
        to: '',
        fromNetwork: '',
        toNetwork: '',
        direction: 'internal',
        decision: 'allow',
        rule: null,
        reason: null,
        policyVersion: 'v1',
        content: rand() < 0.5 ? { mode: 'none' } : { mode: 'full', body: `filter ${body(rand, pick)}` },
        sourceAdapter: 'api',
        targetAdapter: null,
        actor,
        details: { n: i },
      });
      continue;
    }
    const from = pick(PARTIES);
    let to = pick(PARTIES);
    if (to === from) to = PARTIES[(PARTIES.indexOf(from) + 5) % PARTIES.length] as Party;
    const decision = rand() < 0.6 ? 'allow' : rand() < 0.5 ? 'redact' : 'deny';
    const rule = decision === 'deny' ? pick(['block-rival', 'Rule-With-Case', null]) : pick(RULES);
    const c = rand();
    const text = body(rand, pick);
    const content: AuditEntry['content'] =
      c < 0.7
        ? { mode: 'full', body: text }
        : c < 0.85
          ? { mode: 'hash', sha256: 'ab'.repeat(32) }
          : { mode: 'none' };
    const eventId = `ev-${i}`;
    // Some records predate outcomes (no field); a deny is its own outcome.
    const old = rand() < 0.1;
    const decided: AuditEntry = {
      category: 'decision',
      time,
      eventTime: new Date(Date.parse(time) - 1500).toISOString(),
      traceId: trace,
      eventId,
      kind: pick(KINDS),
      from: from.uri,
      to: to.uri,
      fromNetwork: from.network,
      toNetwork: to.network,
      direction: pick(['inbound', 'outbound', 'internal', 'external']),
      decision,
      rule,
      reason: rule === 'block-rival' ? 'Communication with competitors is prohibited' : null,
      policyVersion: pick(['v1', 'v2']),
      content,
      sourceAdapter: `${from.network}-a`,
      targetAdapter: decision === 'deny' ? null : `${to.network}-b`,
      ...(old ? {} : { outcome: decision === 'deny' ? ('denied' as const) : ('pending' as const) }),
    };
    out.push(decided);
    if (decision !== 'deny' && !old && rand() < 0.8) {
      const outcome = rand() < 0.05 ? pick(LATER) : pick(DELIVERY);
      out.push({
        ...decided,
        category: 'outcome',
        time: new Date(Date.parse(time) + Math.floor(rand() * 5000)).toISOString(),
        content: { mode: 'none' },
        outcome,
        outcomeReason: outcome === 'delivered' ? null : 'M_FORBIDDEN: not allowed',
      });
    }
  }
  return out.slice(0, count);
}

/** Filters of GENERATED_FILTERS that find nothing, by design; every other one finds some. */
export const EXPECTED_EMPTY: ReadonlySet<string> = new Set([
  'an empty range (to before from)',
  'before every record',
  'user: nobody',
  'domain: a parent is not a match',
  'network: none such',
  'rule: case matters',
  'eventId: none such',
  'q: a part of a word',
  'q: prefix of nothing',
  'contradiction',
]);

/** The filters the contract asks of the generated trail, by name. */
export const GENERATED_FILTERS: readonly [string, AuditFilter][] = [
  ['everything', {}],
  ['from (inclusive instant)', { from: '2025-11-01T00:00:00.000Z' }],
  ['to (exclusive instant)', { to: '2025-11-01T00:00:00.000Z' }],
  ['one month', { from: '2025-12-01T00:00:00Z', to: '2026-01-01T00:00:00Z' }],
  ['a range with an offset', { from: '2025-12-01T01:00:00+01:00', to: '2025-12-15T12:00:00-02:00' }],
  ['an empty range (to before from)', { from: '2026-02-01T00:00:00Z', to: '2026-01-01T00:00:00Z' }],
  ['before every record', { to: '2025-01-01T00:00:00Z' }],
  ['user: bare person', { user: 'carol@hs.test' }],
  ['user: Matrix ID', { user: '@carol:hs.test' }],
  ['user: upper case', { user: 'Carol@HS.TEST' }],
  ['user: SIP URI', { user: 'sip:carol@hs.test' }],
  ['user: XMPP URI with another resource', { user: 'xmpp:carol@hs.test/desk' }],
  ['user: a server with a port', { user: 'matrix:u/carol:hs.test:8448' }],
  ['user: an escaped XMPP ghost', { user: 'bob%partner.example@gw.corp.example' }],
  ['user: a phone number', { user: 'sip:+4930123456@pbx.corp.example' }],
  ['user: a non-ASCII user', { user: 'xmpp:zoë@corp.example' }],
  ['user: an actor that is no address', { user: 'auditor' }],
  ['user: an actor that is user@domain', { user: 'ops@corp.example' }],
  ['user: nobody', { user: 'nobody@nowhere.test' }],
  ['domain', { domain: 'corp.example' }],
  ['domain: upper case', { domain: 'HS.test' }],
  ['domain with a port', { domain: 'hs.test:8448' }],
  ['domain: IP and port', { domain: '10.0.0.7:5060' }],
  ['domain: a parent is not a match', { domain: 'example' }],
  ['network: xmpp', { network: 'xmpp' }],
  ['network: matrix', { network: 'matrix' }],
  ['network: sip', { network: 'sip' }],
  ['network: none such', { network: 'irc' }],
  ['kind: message', { kind: 'message' }],
  ['kind: call', { kind: 'call' }],
  ['kind: an admin action', { kind: 'policy.reload' }],
  ['decision: allow', { decision: 'allow' }],
  ['decision: redact', { decision: 'redact' }],
  ['decision: deny', { decision: 'deny' }],
  ['rule', { rule: 'block-rival' }],
  ['rule: case matters', { rule: 'rule-with-case' }],
  ['rule: exact', { rule: 'Rule-With-Case' }],
  ['category: decision', { category: 'decision' }],
  ['category: outcome', { category: 'outcome' }],
  ['category: admin', { category: 'admin' }],
  ['outcome: pending', { outcome: 'pending' }],
  ['outcome: delivered', { outcome: 'delivered' }],
  ['outcome: refused', { outcome: 'refused' }],
  ['outcome: denied', { outcome: 'denied' }],
  ['outcome: bounced', { outcome: 'bounced' }],
  ['eventId: a decision and its outcome', { eventId: 'ev-40' }],
  ['traceId', { traceId: 'tr-20' }],
  ['eventId: none such', { eventId: 'ev-missing' }],
  ['q: one word', { q: 'invoice' }],
  ['q: upper case', { q: 'INVOICE' }],
  ['q: prefix', { q: 'invoic*' }],
  ['q: accents count', { q: 'café' }],
  ['q: without the accent', { q: 'cafe' }],
  ['q: sharp s', { q: 'Größe' }],
  ['q: Cyrillic, any case', { q: 'Москва' }],
  ['q: CJK', { q: '東京' }],
  ['q: Greek prefix', { q: 'ελλ*' }],
  ['q: punctuation splits', { q: 'e-mail' }],
  ['q: a word inside an address', { q: 'corp' }],
  ['q: digits', { q: '4711' }],
  ['q: Arabic-Indic digit', { q: '٣' }],
  ['q: two words', { q: 'paid contract' }],
  ['q: two prefixes', { q: 'inv* qua*' }],
  ['q: a word and a prefix', { q: 'meeting tom*' }],
  ['q: a part of a word', { q: 'voice' }],
  ['q: prefix of nothing', { q: 'zzz*' }],
  ['q: no words', { q: '!! --' }],
  ['q: an apostrophe', { q: "don't" }],
  [
    'user and a month',
    { user: 'alice@corp.example', from: '2026-01-01T00:00:00Z', to: '2026-02-01T00:00:00Z' },
  ],
  ['user and q', { user: 'carol@hs.test', q: 'invoice' }],
  ['domain, network and decision', { domain: 'partner.example', network: 'matrix', decision: 'allow' }],
  ['network, kind and decision', { network: 'sip', kind: 'message', decision: 'deny' }],
  [
    'refused outcomes in a quarter',
    { category: 'outcome', outcome: 'refused', from: '2025-10-01T00:00:00Z', to: '2026-01-01T00:00:00Z' },
  ],
  [
    'q, user, decision and range',
    { q: 'pa*', user: '@bob:partner.example', decision: 'redact', to: '2026-03-01T00:00:00Z' },
  ],
  ['eventId and category', { eventId: 'ev-40', category: 'outcome' }],
  ['rule and q', { rule: 'partners-talk', q: 'the' }],
  ['admin actions with q', { category: 'admin', q: 'filter' }],
  ['contradiction', { category: 'admin', network: 'xmpp' }],
];

const fixed = (over: Partial<AuditEntry> & Pick<AuditEntry, 'time' | 'eventId'>): AuditEntry => ({
  category: 'decision',
  traceId: over.eventId.replace('e', 't'),
  kind: 'message',
  from: 'xmpp:alice@corp.example',
  to: 'matrix:u/carol:hs.test',
  fromNetwork: 'xmpp',
  toNetwork: 'matrix',
  direction: 'outbound',
  decision: 'allow',
  rule: 'partners-talk',
  reason: null,
  policyVersion: 'v1',
  content: { mode: 'none' },
  sourceAdapter: 'corp',
  targetAdapter: 'hs',
  ...over,
});

const admin = (over: Partial<AuditEntry> & Pick<AuditEntry, 'time' | 'eventId' | 'from' | 'kind'>) =>
  fixed({
    category: 'admin',
    to: '',
    fromNetwork: '',
    toNetwork: '',
    direction: 'internal',
    rule: null,
    sourceAdapter: 'api',
    targetAdapter: null,
    actor: over.from,
    ...over,
  });

/** Ten records, seq 1..10, small enough to work out by hand what each filter finds. */
export const FIXED_ENTRIES: readonly AuditEntry[] = [
  /* 1 */ fixed({
    time: '2026-01-10T10:00:00.000Z',
    eventId: 'e1',
    outcome: 'pending',
    content: { mode: 'full', body: 'Invoice 4711 is PAID.' },
  }),
  /* 2 */ fixed({
    time: '2026-01-10T10:00:02.000Z',
    eventId: 'e1',
    category: 'outcome',
    outcome: 'delivered',
  }),
  /* 3: earlier than 1 and 2 */ fixed({
    time: '2026-01-09T23:59:59.999Z',
    eventId: 'e3',
    kind: 'call',
    from: 'sip:Carol@HS.test',
    to: 'xmpp:alice@corp.example/phone',
    fromNetwork: 'sip',
    toNetwork: 'xmpp',
    decision: 'deny',
    rule: 'block-rival',
    outcome: 'denied',
    content: { mode: 'hash', sha256: 'cd'.repeat(32) },
  }),
  /* 4 */ fixed({
    time: '2026-02-01T00:00:00.000Z',
    eventId: 'e4',
    from: 'matrix:u/bob:partner.example',
    to: 'sip:+4930123456@pbx.corp.example',
    fromNetwork: 'matrix',
    toNetwork: 'sip',
    decision: 'redact',
    rule: 'redact-cards',
    outcome: 'pending',
    content: { mode: 'full', body: 'Café au lait? Größe: XL — naïve résumé' },
  }),
  /* 5 */ admin({
    time: '2026-02-01T00:00:00.000Z',
    eventId: 'e5',
    from: 'ops@corp.example',
    kind: 'policy.reload',
  }),
  /* 6: written before outcomes were recorded */ fixed({
    time: '2026-02-15T08:30:00.000Z',
    eventId: 'e6',
    from: 'xmpp:zoë@corp.example',
    to: 'matrix:u/carol:hs.test:8448',
    rule: null,
    content: { mode: 'full', body: 'invoiced the quarterly report; e-mail bob@corp.example' },
  }),
  /* 7 */ fixed({
    time: '2026-03-01T00:00:00.000Z',
    eventId: 'e7',
    traceId: 't4',
    kind: 'chatstate',
    from: 'xmpp:bob%25partner.example@gw.corp.example',
    to: 'sip:alice@corp.example',
    toNetwork: 'sip',
    outcome: 'pending',
    content: { mode: 'full', body: '{"state":"composing"}' },
  }),
  /* 8: 7's outcome, stamped earlier than 7 */ fixed({
    time: '2026-02-28T23:00:00.000Z',
    eventId: 'e7',
    traceId: 't4',
    category: 'outcome',
    kind: 'chatstate',
    from: 'xmpp:bob%25partner.example@gw.corp.example',
    to: 'sip:alice@corp.example',
    toNetwork: 'sip',
    outcome: 'refused',
    outcomeReason: 'no such user',
  }),
  /* 9 */ admin({
    time: '2026-03-02T00:00:00.000Z',
    eventId: 'e9',
    from: 'auditor',
    kind: 'audit.search',
    content: { mode: 'full', body: 'filter invoice МОСКВА' },
  }),
  /* 10 */ fixed({
    time: '2026-03-05T12:00:00.000Z',
    eventId: 'e10',
    from: 'matrix:u/caroline:hs.test',
    to: 'xmpp:sam@corp.example',
    fromNetwork: 'matrix',
    toNetwork: 'xmpp',
    decision: 'deny',
    rule: 'Rule-With-Case',
    outcome: 'denied',
    content: { mode: 'full', body: 'CAFE\u0301 東京 2026' },
  }),
];

/** What each filter finds in FIXED_ENTRIES, newest first, worked out by hand. */
export const FIXED_EXPECTATIONS: readonly [AuditFilter, number[]][] = [
  [{}, [10, 9, 8, 7, 6, 5, 4, 3, 2, 1]],
  [{ user: 'carol@hs.test' }, [3, 2, 1]],
  [{ user: 'sip:CAROL@hs.test' }, [3, 2, 1]],
  [{ user: '@carol:hs.test:8448' }, [6]],
  [{ user: 'ops@corp.example' }, [5]],
  [{ user: 'auditor' }, [9]],
  [{ user: 'alice@corp.example' }, [8, 7, 3, 2, 1]],
  [{ user: 'bob%partner.example@gw.corp.example' }, [8, 7]],
  [{ user: 'bob@partner.example' }, [4]],
  [{ domain: 'corp.example' }, [10, 8, 7, 6, 3, 2, 1]],
  [{ domain: 'HS.TEST' }, [10, 3, 2, 1]],
  [{ domain: 'hs.test:8448' }, [6]],
  [{ network: 'sip' }, [8, 7, 4, 3]],
  [{ kind: 'message' }, [10, 6, 4, 2, 1]],
  [{ decision: 'deny' }, [10, 3]],
  [{ rule: 'partners-talk' }, [8, 7, 2, 1]],
  [{ category: 'outcome' }, [8, 2]],
  [{ category: 'admin' }, [9, 5]],
  [{ outcome: 'pending' }, [7, 4, 1]],
  [{ outcome: 'denied' }, [10, 3]],
  [{ eventId: 'e7' }, [8, 7]],
  [{ traceId: 't4' }, [8, 7, 4]],
  [{ from: '2026-02-01T00:00:00.000Z' }, [10, 9, 8, 7, 6, 5, 4]],
  [{ to: '2026-02-01T00:00:00.000Z' }, [3, 2, 1]],
  [{ from: '2026-02-28T23:30:00Z', to: '2026-03-02T00:00:00.000Z' }, [7]],
  [{ from: '2026-01-10T11:00:00+01:00', to: '2026-01-10T11:00:01+01:00' }, [1]],
  [{ q: 'invoice' }, [9, 1]],
  [{ q: 'invoic*' }, [9, 6, 1]],
  [{ q: 'paid INVOICE' }, [1]],
  [{ q: 'café' }, [4]],
  [{ q: 'cafe' }, [10]],
  [{ q: 'москва' }, [9]],
  [{ q: 'e-mail' }, [6]],
  [{ q: 'corp' }, [6]],
  [{ q: 'composing' }, [7]],
  [{ q: '2026' }, [10]],
  [{ q: '東京' }, [10]],
  [{ q: 'XL naïve' }, [4]],
  [{ q: 'größe' }, [4]],
  [{ q: 'grosse' }, []],
  [{ q: 'voice' }, []],
  [{ q: 'r*' }, [6, 4]],
  [{ q: '!!' }, [10, 9, 8, 7, 6, 5, 4, 3, 2, 1]],
  [{ user: 'carol@hs.test', q: 'invoice' }, [1]],
  [{ network: 'xmpp', decision: 'allow' }, [8, 7, 6, 2, 1]],
  [{ domain: 'partner.example', category: 'decision' }, [4]],
  [{ category: 'outcome', from: '2026-02-01T00:00:00Z', outcome: 'refused' }, [8]],
  [{ user: 'nobody@nowhere.test' }, []],
];
