import t from 'tap';
import { chainEntries } from '../../../src/core/audit/chain.js';
import {
  csvCell,
  exportRecords,
  iterateLog,
  mboxrdQuote,
  quotedPrintable,
} from '../../../src/core/audit/export.js';
import type { AuditRecord } from '../../../src/core/audit/record.js';
import type { ExportFormat } from '../../../src/core/audit/types.js';
import { verifyRecords } from '../../../src/core/audit/verify.js';
import { MemoryStore } from '../../../src/store/memory.js';
import { entry } from './fixtures.js';

const collect = async (records: AuditRecord[], format: ExportFormat): Promise<string> => {
  let out = '';
  for await (const chunk of exportRecords(records, format)) out += chunk;
  return out;
};

/** A minimal RFC 4180 parser for the round trip. */
function parseCsv(text: string): string[][] {
  const rows: string[][] = [];
  let row: string[] = [];
  let cell = '';
  let quoted = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (quoted) {
      if (c === '"' && text[i + 1] === '"') {
        cell += '"';
        i++;
      } else if (c === '"') quoted = false;
      else cell += c;
    } else if (c === '"') quoted = true;
    else if (c === ',') {
      row.push(cell);
      cell = '';
    } else if (c === '\r' && text[i + 1] === '\n') {
      row.push(cell);
      rows.push(row);
      row = [];
      cell = '';
      i++;
    } else cell += c;
  }
  return rows;
}

const recs = chainEntries(null, [
  entry({ content: { mode: 'full', body: 'plain' } }),
  entry({ content: { mode: 'full', body: '=HYPERLINK("http://evil","x"), "quoted"\r\nsecond line' } }),
  entry({ from: '+1555@sip', content: { mode: 'full', body: '@SUM(A1)' }, reason: '-2+3', rule: null }),
  entry({
    category: 'admin',
    actor: 'auditor',
    details: { action: 'export', n: 1 },
    content: { mode: 'none' },
  }),
  entry({ content: { mode: 'hash', sha256: 'ab'.repeat(32) } }),
]);

t.test('csv cells', async (t) => {
  t.equal(csvCell('a'), 'a');
  t.equal(csvCell('a,b'), '"a,b"');
  t.equal(csvCell('say "hi"'), '"say ""hi"""');
  t.equal(csvCell('l1\nl2'), '"l1\nl2"');
  t.equal(csvCell('=1+2'), "'=1+2");
  t.equal(csvCell('+1'), "'+1");
  t.equal(csvCell('-1'), "'-1");
  t.equal(csvCell('@x'), "'@x");
  t.equal(csvCell('\tx'), "'\tx");
  t.equal(csvCell('=a,"b"'), '"\'=a,""b"""');
  t.equal(csvCell(-1), '-1', 'numbers are data, not formulas');
  t.equal(csvCell(null), '');
});

t.test('csv cells: a formula after leading blanks is neutralised too', async (t) => {
  // Spreadsheets skip leading spaces: " =1+2" is a formula as much as "=1+2" (issue 15.8).
  t.equal(csvCell(' =1+2'), "' =1+2");
  t.equal(csvCell('   +1'), "'   +1");
  t.equal(csvCell(' -1'), "' -1");
  t.equal(csvCell(' @SUM(A1)'), "' @SUM(A1)");
  t.equal(csvCell('\u00a0=cmd|calc'), "'\u00a0=cmd|calc", 'a no-break space is a blank');
  t.equal(csvCell('\u200b\u3000=1'), "'\u200b\u3000=1", 'zero-width and ideographic spaces too');
  t.equal(csvCell(' \t=1'), "' \t=1");
  t.equal(csvCell('\r\n=1'), `"'\r\n=1"`, 'a leading CR (and the quoting it needs)');
  t.equal(csvCell(' =HYPERLINK("x")'), '"\' =HYPERLINK(""x"")"');
  t.equal(csvCell('a =1'), 'a =1', 'a formula sign later in the text is data');
  t.equal(csvCell('   '), '   ', 'blanks alone are data');
  t.equal(csvCell(' hello'), ' hello');
});

t.test('csv export: header, RFC 4180 quoting, formula injection neutralised', async (t) => {
  const text = await collect(recs, 'csv');
  t.ok(text.endsWith('\r\n'));
  const rows = parseCsv(text);
  t.equal(rows.length, 6);
  const header = rows[0] as string[];
  t.equal(header[0], 'seq');
  const col = (name: string) => header.indexOf(name);
  t.equal(rows[1]?.[col('content')], 'plain');
  t.equal(rows[2]?.[col('content')], `'=HYPERLINK("http://evil","x"), "quoted"\r\nsecond line`);
  t.equal(rows[3]?.[col('content')], "'@SUM(A1)");
  t.equal(rows[3]?.[col('from')], "'+1555@sip");
  t.equal(rows[3]?.[col('reason')], "'-2+3");
  t.equal(rows[3]?.[col('rule')], '');
  t.equal(rows[4]?.[col('category')], 'admin');
  t.same(JSON.parse(rows[4]?.[col('details')] ?? ''), { action: 'export', n: 1 });
  t.equal(rows[5]?.[col('contentMode')], 'hash');
  t.equal(rows[5]?.[col('content')], 'ab'.repeat(32));
  t.equal(rows[5]?.[col('hash')], recs[4]?.hash);
  for (const r of rows) t.equal(r.length, header.length);
});

const outcomeRecs = chainEntries(null, [
  entry({
    eventId: 'ev-red',
    decision: 'redact',
    rule: 'partners-talk',
    reason: 'Partners may talk.',
    transforms: [{ rule: 'cards', effect: 'redact', reason: 'No card numbers leave.' }],
    outcome: 'pending',
    eventTime: '2026-01-01T09:59:59.000Z',
    time: '2026-01-01T10:00:00.000Z',
    content: { mode: 'full', body: 'card [redacted]' },
  }),
  entry({
    eventId: 'ev-red',
    category: 'outcome',
    decision: 'redact',
    rule: 'partners-talk',
    reason: 'Partners may talk.',
    outcome: 'refused',
    outcomeReason: '480 Temporarily Unavailable',
    eventTime: '2026-01-01T09:59:59.000Z',
    time: '2026-01-01T10:00:01.000Z',
    content: { mode: 'none' },
  }),
  entry({
    eventId: 'ev-rl',
    rule: 'consumer-im',
    outcome: 'rate-limited',
    outcomeReason: 'Rate limit of rule consumer-im exceeded: 30 per 60 s per sender.',
    eventTime: '2026-01-01T10:00:02.000Z',
    time: '2026-01-01T10:00:02.500Z',
    content: { mode: 'full', body: 'too many' },
  }),
]);

t.test('exports carry transforms, outcome, its reason and the event time', async (t) => {
  const rows = parseCsv(await collect(outcomeRecs, 'csv'));
  const header = rows[0] as string[];
  const col = (name: string) => header.indexOf(name);
  for (const name of ['transforms', 'outcome', 'outcomeReason', 'eventTime'])
    t.ok(col(name) > 0, `a ${name} column`);
  t.equal(rows[1]?.[col('rule')], 'partners-talk', 'the rule that allowed it');
  t.same(JSON.parse(rows[1]?.[col('transforms')] ?? ''), [
    { rule: 'cards', effect: 'redact', reason: 'No card numbers leave.' },
  ]);
  t.equal(rows[1]?.[col('outcome')], 'pending');
  t.equal(rows[1]?.[col('eventTime')], '2026-01-01T09:59:59.000Z');
  t.equal(rows[2]?.[col('category')], 'outcome');
  t.equal(rows[2]?.[col('outcome')], 'refused');
  t.equal(rows[2]?.[col('outcomeReason')], '480 Temporarily Unavailable');
  t.equal(rows[2]?.[col('transforms')], '', 'no transforms: empty');
  t.equal(rows[3]?.[col('outcome')], 'rate-limited');
  t.match(rows[3]?.[col('outcomeReason')], /consumer-im exceeded: 30 per 60 s/);

  const jsonl = (await collect(outcomeRecs, 'jsonl')).trim().split('\n');
  const back = jsonl.map((l) => JSON.parse(l) as AuditRecord);
  t.same(back, outcomeRecs);
  t.match(back[0], { transforms: [{ rule: 'cards' }], outcome: 'pending', eventTime: /^2026/ });
  t.match(await verifyRecords(back, null), { ok: true, records: 3 });

  const eml = await collect(outcomeRecs, 'eml');
  const decoded = eml
    .replace(/=\n/g, '')
    .replace(/=([0-9A-F]{2})/g, (_, h: string) => String.fromCharCode(Number.parseInt(h, 16)));
  t.match(
    decoded,
    /\[2026-01-01T09:59:59\.000Z\] #1 \S+ -> \S+ message redact, rule partners-talk \(Partners may talk\.\); redact by rule cards \(No card numbers leave\.\); outcome refused \(480 Temporarily Unavailable\) #2\n {4}card \[redacted\]/,
    'the outcome record completes its decision line',
  );
  t.match(
    decoded,
    /#3 .* message allow, rule consumer-im; outcome rate-limited \(Rate limit of rule consumer-im exceeded: 30 per 60 s per sender\.\)\n {4}too many/,
  );
  t.notMatch(decoded, /#2 \S+ -> /, 'no separate line for the folded outcome record');
  t.match(eml, /^X-Parley-Seq: 1-3$/m);
});

t.test('jsonl export round-trips and still verifies', async (t) => {
  const text = await collect(recs, 'jsonl');
  const lines = text.split('\n');
  t.equal(lines.pop(), '', 'ends with a newline');
  t.equal(lines.length, recs.length);
  const back = lines.map((l) => JSON.parse(l) as AuditRecord);
  t.same(back, recs);
  t.match(await verifyRecords(back, null), { ok: true, records: 5 });
});

t.test('quoted-printable and mboxrd quoting', async (t) => {
  t.equal(quotedPrintable('héllo = x '), 'h=C3=A9llo =3D x=20');
  t.equal(quotedPrintable('From here\n.dot'), '=46rom here\n=2Edot');
  const long = quotedPrintable('a'.repeat(200));
  t.ok(long.split('\n').every((l) => l.length <= 76));
  t.equal(long.replace(/=\n/g, ''), 'a'.repeat(200));
  t.equal(mboxrdQuote('From x\n>From y\nnot From\n'), '>From x\n>>From y\nnot From\n');
});

t.test('eml export: one message per conversation, mboxrd framed', async (t) => {
  const conv = chainEntries(null, [
    entry({
      from: 'xmpp:alice@corp.example',
      to: 'sip:bob@partner.example',
      content: { mode: 'full', body: 'Hi Bob' },
      time: '2026-01-01T10:00:00.000Z',
    }),
    entry({
      from: 'sip:bob@partner.example',
      to: 'xmpp:alice@corp.example',
      content: { mode: 'full', body: 'From the office: hi\nline 2' },
      time: '2026-01-01T10:01:00.000Z',
    }),
    entry({
      from: 'xmpp:alice@corp.example',
      to: 'matrix:u/carol:hs.example',
      decision: 'deny',
      rule: 'block',
      reason: 'no',
      content: { mode: 'hash', sha256: 'cd'.repeat(32) },
      time: '2026-01-01T10:02:00.000Z',
    }),
    entry({
      from: 'xmpp:alice@corp.example',
      to: 'sip:bob@partner.example',
      content: { mode: 'none' },
      kind: 'presence',
      time: '2026-01-01T10:03:00.000Z',
    }),
    entry({ category: 'admin', actor: 'admin' }),
  ]);
  const text = await collect(conv, 'eml');
  const parts = text.split(/^From parley@parley\.invalid .*\n/m);
  t.equal(parts.shift(), '', 'starts with a separator');
  t.equal(parts.length, 2, 'two conversations; admin records left out');
  t.match(text, /^From parley@parley\.invalid Thu Jan {2}1 10:00:00 2026\n/);
  const [first, second] = parts as [string, string];
  const cut = first.indexOf('\n\n');
  const head = first.slice(0, cut);
  const body = first.slice(cut + 2);
  t.match(head, /^From: "sip:bob@partner\.example" <bob@partner\.example>$/m);
  t.match(head, /^To: "xmpp:alice@corp\.example" <alice@corp\.example>$/m);
  t.match(head, /^Subject: Parley conversation sip:bob@partner\.example <-> xmpp:alice@corp\.example$/m);
  t.match(head, /^Date: Thu, 01 Jan 2026 10:00:00 \+0000$/m);
  t.match(head, /^X-Parley-Seq: 1-4$/m);
  t.match(head, /^X-Parley-Records: 3$/m);
  t.match(head, /^Content-Transfer-Encoding: quoted-printable$/m);
  const decoded = body
    .replace(/=\n/g, '')
    .replace(/=([0-9A-F]{2})/g, (_, h: string) => String.fromCharCode(Number.parseInt(h, 16)));
  t.match(
    decoded,
    /#1 xmpp:alice@corp\.example -> sip:bob@partner\.example message allow, rule partners-talk\n {4}Hi Bob/,
  );
  t.match(
    decoded,
    /#2 sip:bob@partner.example -> xmpp:alice@corp.example message allow.*\n {4}From the office: hi\n {4}line 2/,
  );
  t.match(decoded, /#4 .* presence allow.*\n {4}\(content not kept\)/);
  t.notMatch(first, /^From /m, 'no unquoted From_ line inside a message');
  t.match(second, /Subject: Parley conversation matrix:u\/carol:hs\.example <-> xmpp:alice@corp\.example/);
  t.match(second, /sha256 cdcd/);
  t.ok(text.endsWith('\n\n'), 'each message ends with an empty line');
});

t.test('eml headers stay single-line and ASCII', async (t) => {
  const odd = chainEntries(null, [
    entry({ from: 'xmpp:jürgen@corp.example', to: 'sip:x@p.example\r\nBcc: evil@x' }),
  ]);
  const text = await collect(odd, 'eml');
  const head = text.split('\n\n')[0] as string;
  t.notMatch(head, /^Bcc:/m, 'no header injection');
  t.ok(/^[\x20-\x7e\n]*$/.test(head), 'ASCII only');
  t.match(head, /=\?UTF-8\?B\?/);
});

t.test('iterateLog reads ascending with a filter', async (t) => {
  const store = new MemoryStore();
  await store.audit.append(
    chainEntries(
      null,
      Array.from({ length: 30 }, (_, i) => entry({ kind: i % 2 ? 'presence' : 'message' })),
    ),
  );
  const seqs: number[] = [];
  for await (const r of iterateLog(store.audit, { kind: 'presence' }, 4)) seqs.push(r.seq);
  t.same(
    seqs,
    Array.from({ length: 15 }, (_, i) => 2 * i + 2),
  );
});
