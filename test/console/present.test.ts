// The console's presentation functions (src/http/console/present.js), in Node: addresses
// in each network's own form and cut at separators, the Reason and Outcome of a row,
// outcome records folded into their decisions, one time convention, and the two orders.
import t from 'tap';

interface Row {
  seq: number;
  category: string;
  eventId?: string;
  decision?: string;
  rule?: string | null;
  reason?: string | null;
  time: string;
  eventTime?: string;
  outcome?: string;
  outcomeReason?: string | null;
  transforms?: { rule: string; effect: string; reason?: string }[];
  details?: Record<string, unknown>;
  outcomeRecord?: Row;
}
interface Present {
  nativeForm(uri: string): string | null;
  networkName(uri: string): string | null;
  addressPieces(text: string): string[];
  foldOutcomes(records: Row[]): { rows: Row[]; folded: number };
  outcomeOf(r: Row): { outcome: string; reason: string | null; seq: number } | null;
  reasonText(r: Row, describe?: (rule: string) => string | null): string;
  transformsOf(
    r: Row,
    describe?: (rule: string) => string | null,
  ): { rule: string; effect: string; reason: string | null }[];
  formatTime(iso: string, zone?: string): string;
  inputToIso(value: string, zone?: string): string;
  offsetName(minutes: number): string;
  sortRows(rows: Row[], by?: string): Row[];
  searchNote(
    search: { mode: 'index' } | { mode: 'scan'; scanned: number; total: number; capped: boolean } | undefined,
    filtered: boolean,
  ): string | null;
}

// A browser module (plain JS, no types): imported by a computed path.
const modulePath = '../../src/http/console/present.js';
const p = (await import(modulePath)) as Present;

t.test('each network’s native form beside the canonical address', async (t) => {
  t.equal(p.nativeForm('matrix:u/carol:hs.test'), '@carol:hs.test');
  t.equal(p.nativeForm('matrix:u/carol:hs.test:8448?action=chat'), '@carol:hs.test:8448');
  t.equal(p.nativeForm('xmpp:alice@corp.test'), 'alice@corp.test');
  t.equal(p.nativeForm('xmpp:alice@corp.test/phone'), 'alice@corp.test/phone');
  t.equal(p.nativeForm('xmpp:bob%25partner.test@gw.corp.test'), 'bob%partner.test@gw.corp.test');
  t.equal(p.nativeForm('sip:bob@Partner.test;transport=tcp'), 'bob@partner.test');
  t.equal(p.nativeForm('sips:bob:secret@partner.test'), 'bob@partner.test');
  t.equal(p.nativeForm('console'), null);
  t.equal(p.nativeForm('tel:+4930123'), null);
  t.equal(p.networkName('matrix:u/carol:hs.test'), 'Matrix');
  t.equal(p.networkName('sips:bob@partner.test'), 'SIP');
  t.equal(p.networkName('admin'), null);
});

t.test('addresses are cut only after separators', async (t) => {
  t.same(p.addressPieces('matrix:u/_parley_alice=40corp.test:hs.test'), [
    'matrix:',
    'u/',
    '_parley_alice=',
    '40corp.',
    'test:',
    'hs.',
    'test',
  ]);
  t.same(p.addressPieces('xmpp:bob%partner-x.test@gw.corp.test'), [
    'xmpp:',
    'bob%',
    'partner-',
    'x.',
    'test@',
    'gw.',
    'corp.',
    'test',
  ]);
  const a = 'sip:someone.with.a.long.name@sub.partner.example';
  t.equal(p.addressPieces(a).join(''), a, 'nothing lost');
});

t.test('Reason and Outcome of a row; outcome records fold into their decision', async (t) => {
  const decision: Row = {
    seq: 10,
    category: 'decision',
    eventId: 'e1',
    decision: 'allow',
    rule: 'consumer-im',
    reason: null,
    time: '2026-12-07T10:00:00.000Z',
    outcome: 'pending',
  };
  const later: Row = {
    seq: 12,
    category: 'outcome',
    eventId: 'e1',
    time: '2026-12-07T10:00:05.000Z',
    outcome: 'refused',
    outcomeReason: '480 Temporarily Unavailable',
  };
  const other: Row = {
    seq: 11,
    category: 'outcome',
    eventId: 'e0',
    time: '2026-12-07T10:00:04.000Z',
    outcome: 'bounced',
  };
  const { rows, folded } = p.foldOutcomes([later, other, decision]);
  t.same(
    rows.map((r) => r.seq),
    [11, 10],
    'the outcome of e1 joins its decision; e0’s decision is not on the page',
  );
  t.equal(folded, 1);
  t.match(p.outcomeOf(decision), { outcome: 'refused', reason: '480 Temporarily Unavailable', seq: 12 });
  t.equal(p.reasonText(decision), 'refused by the target network: 480 Temporarily Unavailable');
  t.equal(p.reasonText(other), 'bounced');

  const limited: Row = {
    seq: 3,
    category: 'decision',
    decision: 'deny',
    rule: 'consumer-im',
    reason: 'Rate limit exceeded (30 per 60 s).',
    time: '2026-12-07T10:00:00Z',
    outcome: 'rate-limited',
    outcomeReason: 'consumer-im: 30/min',
  };
  t.equal(p.reasonText(limited), 'rate-limited: consumer-im: 30/min');
  const denied: Row = { ...limited, outcome: undefined, outcomeReason: undefined };
  t.equal(p.reasonText(denied), 'Rate limit exceeded (30 per 60 s).', 'records without outcomes: the reason');
  const allowed: Row = { seq: 4, category: 'decision', decision: 'allow', rule: 'partners-talk', time: '' };
  t.equal(
    p.reasonText(allowed, (r) => (r === 'partners-talk' ? 'Partners may talk.' : null)),
    'Partners may talk.',
    'no reason recorded: the rule’s description',
  );
  t.equal(p.reasonText({ ...allowed, rule: null }), 'No rule matched: the policy default decided.');
  t.equal(
    p.reasonText({ ...allowed, outcome: 'delivered' }, () => 'x'),
    'x',
    'delivered: the decision reason',
  );
  t.equal(
    p.reasonText({ seq: 5, category: 'admin', time: '', details: { ok: false, first: 'line 3: bad' } }),
    'line 3: bad',
  );

  const redacted: Row = {
    ...allowed,
    decision: 'redact',
    transforms: [
      { rule: 'card-numbers', effect: 'redact' },
      { rule: 'x', effect: 'disclaimer', reason: 'R' },
    ],
  };
  t.same(
    p.transformsOf(redacted, (r) => (r === 'card-numbers' ? 'Card numbers never leave.' : null)),
    [
      { rule: 'card-numbers', effect: 'redact', reason: 'Card numbers never leave.' },
      { rule: 'x', effect: 'disclaimer', reason: 'R' },
    ],
  );
  t.same(p.transformsOf(allowed), [], 'no transforms recorded');
});

t.test('one time convention: UTC, or local with the offset named', async (t) => {
  const iso = '2026-12-07T15:46:33.120Z';
  t.equal(p.formatTime(iso, 'utc'), '2026-12-07 15:46:33 UTC');
  t.match(p.formatTime(iso, 'local'), /^2026-12-0\d \d\d:\d\d:33 UTC([+-]\d\d:\d\d)?$/);
  t.equal(p.formatTime('not a time', 'utc'), 'not a time');
  t.equal(p.offsetName(330), 'UTC+05:30');
  t.equal(p.offsetName(-300), 'UTC-05:00');
  t.equal(p.offsetName(0), 'UTC');
  t.equal(p.inputToIso('2026-12-07T15:46', 'utc'), '2026-12-07T15:46:00.000Z');
  t.equal(p.inputToIso('2026-12-07T15:46:33', 'local'), new Date('2026-12-07T15:46:33').toISOString());
  t.throws(() => p.inputToIso('yesterday', 'utc'), RangeError);
});

t.test('rows in record order or by the event’s own time', async (t) => {
  const rows: Row[] = [
    { seq: 1, category: 'decision', time: '2026-12-07T10:00:03Z', eventTime: '2026-12-07T10:00:03Z' },
    { seq: 2, category: 'decision', time: '2026-12-07T10:00:04Z', eventTime: '2026-12-07T10:00:01Z' },
    { seq: 3, category: 'decision', time: '2026-12-07T10:00:05Z', eventTime: '2026-12-07T10:00:02Z' },
    { seq: 4, category: 'admin', time: '2026-12-07T10:00:00Z' },
  ];
  t.same(
    p.sortRows(rows, 'seq').map((r) => r.seq),
    [4, 3, 2, 1],
  );
  t.same(
    p.sortRows(rows, 'event').map((r) => r.seq),
    [1, 3, 2, 4],
    'newest event first; a record without eventTime by its own time',
  );
});

t.test('how a page was searched: said for filtered scans only', async (t) => {
  t.equal(p.searchNote({ mode: 'index' }, true), null, 'indexed: every record was considered');
  t.equal(p.searchNote({ mode: 'scan', scanned: 50, total: 900, capped: false }, false), null, 'no filter');
  t.equal(p.searchNote(undefined, true), null);
  t.equal(
    p.searchNote({ mode: 'scan', scanned: 1234, total: 2_000_000, capped: false }, true),
    'Searched 1,234 of 2,000,000 records for this page (this store has no search index: newest first, at most 50,000 a page).',
  );
  t.match(
    p.searchNote({ mode: 'scan', scanned: 50_000, total: 2_000_000, capped: true }, true),
    /^Searched 50,000 of 2,000,000 records .* Stopped at that limit: “Older →” searches further back\.$/,
  );
});
