import t from 'tap';
import { chainEntries } from '../../../src/core/audit/chain.js';
import { auditContent, contentText } from '../../../src/core/audit/content.js';
import { sha256Hex } from '../../../src/core/audit/hash.js';
import { matchesFilter, queryLog } from '../../../src/core/audit/query.js';
import type { CanonicalEvent } from '../../../src/core/model.js';
import { MemoryStore } from '../../../src/store/memory.js';
import { entry } from './fixtures.js';

const base = {
  id: 'e1',
  time: '2026-01-01T00:00:00Z',
  from: 'xmpp:a@corp.example',
  to: 'sip:b@p.example',
  adapter: 'corp',
  traceId: 't',
};

t.test('content modes', async (t) => {
  const msg: CanonicalEvent = { kind: 'message', ...base, body: 'hello [redacted]' };
  t.same(auditContent(msg, 'full'), { mode: 'full', body: 'hello [redacted]' });
  t.same(auditContent(msg, 'hash'), { mode: 'hash', sha256: sha256Hex('hello [redacted]') });
  t.same(auditContent(msg, 'none'), { mode: 'none' });
  const att: CanonicalEvent = {
    kind: 'message',
    ...base,
    body: 'see',
    attachments: [{ mime: 'image/png', name: 'a.png', size: 10 }],
  };
  t.equal(contentText(att), 'see\n[attachment image/png "a.png" 10 bytes]');
  const pres: CanonicalEvent = { kind: 'presence', ...base, show: 'away', status: 'lunch' };
  t.same(auditContent(pres, 'full'), { mode: 'full', body: '{"show":"away","status":"lunch"}' });
  t.same(auditContent(pres, 'hash'), { mode: 'hash', sha256: sha256Hex('{"show":"away","status":"lunch"}') });
  t.equal(contentText({ kind: 'chatstate', ...base, state: 'composing' }), '{"state":"composing"}');
  t.equal(
    contentText({ kind: 'receipt', ...base, receipt: 'displayed', messageId: 'm1' }),
    '{"messageId":"m1","receipt":"displayed"}',
  );
  t.equal(
    contentText({
      kind: 'call',
      ...base,
      action: 'invite',
      callId: 'c1',
      session: {
        media: [
          { media: 'audio', codecs: [{ payloadType: 111, name: 'opus', clockRate: 48000, channels: 2 }] },
        ],
      },
    }),
    '{"action":"invite","callId":"c1","media":[{"codecs":["opus/48000/2"],"media":"audio"}]}',
  );
});

t.test('matchesFilter', async (t) => {
  const r = chainEntries(null, [
    entry({
      time: '2026-03-01T12:00:00.000Z',
      from: 'xmpp:alice@corp.example',
      to: 'matrix:u/bob:hs.example',
      fromNetwork: 'xmpp',
      toNetwork: 'matrix',
      decision: 'deny',
      rule: 'block-rival',
      content: { mode: 'full', body: 'Secret Plans' },
    }),
  ])[0];
  if (!r) throw new Error('no record');
  t.ok(matchesFilter(r, {}));
  t.ok(matchesFilter(r, { from: '2026-03-01T12:00:00Z', to: '2026-03-01T12:00:01Z' }), 'from inclusive');
  t.notOk(matchesFilter(r, { to: '2026-03-01T12:00:00Z' }), 'to exclusive');
  t.notOk(matchesFilter(r, { from: '2026-03-02T00:00:00+01:00' }));
  t.ok(matchesFilter(r, { user: 'bob@hs.example' }), 'user@domain on any network');
  t.ok(matchesFilter(r, { user: 'ALICE@corp.example' }));
  t.ok(matchesFilter(r, { user: 'xmpp:alice@corp.example' }), 'URI: that person');
  t.ok(matchesFilter(r, { user: 'sip:alice@corp.example' }), 'in any network’s form');
  t.notOk(matchesFilter(r, { user: 'carol@corp.example' }));
  t.ok(matchesFilter(r, { domain: 'hs.example' }));
  t.notOk(matchesFilter(r, { domain: 'example' }));
  t.ok(matchesFilter(r, { network: 'matrix' }));
  t.notOk(matchesFilter(r, { network: 'sip' }));
  t.ok(matchesFilter(r, { kind: 'message', decision: 'deny', rule: 'block-rival', category: 'decision' }));
  t.notOk(matchesFilter(r, { decision: 'allow' }));
  t.notOk(matchesFilter(r, { category: 'admin' }));
  t.ok(matchesFilter(r, { q: 'secret plans' }), 'case-insensitive words');
  t.ok(matchesFilter(r, { q: 'plans SECRET' }), 'in any order');
  t.notOk(matchesFilter(r, { q: 'secr' }), 'a part of a word is not a word');
  t.ok(matchesFilter(r, { q: 'secr*' }), 'unless written as a prefix');
  t.notOk(matchesFilter({ ...r, content: { mode: 'hash', sha256: 'x' } }, { q: 'secret' }));
  t.throws(() => matchesFilter(r, { from: 'yesterday' }), RangeError);
});

t.test('queryLog pages newest first', async (t) => {
  const store = new MemoryStore();
  await store.audit.append(
    chainEntries(
      null,
      Array.from({ length: 50 }, (_, i) => entry({ decision: i % 5 === 0 ? 'deny' : 'allow' })),
    ),
  );
  const p1 = await queryLog(store.audit, {}, null, 10);
  t.same(
    p1.records.map((r) => r.seq),
    [50, 49, 48, 47, 46, 45, 44, 43, 42, 41],
  );
  t.equal(p1.next, 41);
  const p2 = await queryLog(store.audit, {}, p1.next, 10);
  t.equal(p2.records[0]?.seq, 40);
  const denies = await queryLog(store.audit, { decision: 'deny' }, null, 3);
  t.same(
    denies.records.map((r) => r.seq),
    [46, 41, 36],
  );
  const rest = await queryLog(store.audit, { decision: 'deny' }, denies.next, 100);
  t.same(
    rest.records.map((r) => r.seq),
    [31, 26, 21, 16, 11, 6, 1],
  );
  t.equal(rest.next, null, 'start of the log');
  const bounded = await queryLog(store.audit, { decision: 'redact' }, null, 5, { maxScan: 20, pageSize: 8 });
  t.same(bounded.records, []);
  t.equal(bounded.next, 31, 'scan bound: where to continue');
  t.same(
    bounded.search,
    { mode: 'scan', scanned: 20, total: 50, capped: true },
    'says it stopped at the cap',
  );
  t.same(rest.search, { mode: 'scan', scanned: 35, total: 50, capped: false }, 'read to the start');
  t.same(p1.search, { mode: 'scan', scanned: 10, total: 50, capped: false });
  t.same(await queryLog(new MemoryStore().audit, {}, null, 10), {
    records: [],
    next: null,
    search: { mode: 'scan', scanned: 0, total: 0, capped: false },
  });
});
