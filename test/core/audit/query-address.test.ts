// Searching the trail by the address a person knows: every form of Carol's address finds
// Carol's records on every network, and nobody else's.
import t from 'tap';
import { matchesFilter, personOf, queryLog } from '../../../src/core/audit/query.js';
import { AuditWriter } from '../../../src/core/audit/writer.js';
import { MemoryStore } from '../../../src/store/memory.js';
import { entry } from './fixtures.js';

const CAROL_FORMS = [
  '@carol:hs.test',
  'carol@hs.test',
  'Carol@HS.test',
  'sip:carol@hs.test',
  'sips:carol@hs.test;transport=tls',
  'xmpp:carol@hs.test',
  'xmpp:carol@hs.test/phone',
  'matrix:u/carol:hs.test',
  'matrix:u/carol:hs.test?action=chat',
  'https://matrix.to/#/@carol:hs.test',
  '  <sip:carol@hs.test>  ',
];

t.test('personOf reads every form to the same person', async (t) => {
  for (const f of CAROL_FORMS) t.equal(personOf(f), 'carol@hs.test', f);
  t.equal(personOf('@carol:hs.test:8448'), 'carol@hs.test:8448', 'a Matrix server with a port');
  t.equal(personOf('xmpp:carol%25hs.test@gw.corp.test'), 'carol%hs.test@gw.corp.test', '%-escapes decoded');
  for (const bad of ['carol', '@carol', '@:hs.test', 'tel:+4930123', 'mailto:carol@hs.test', 'carol@', ''])
    t.equal(personOf(bad), null, `not an address: ${JSON.stringify(bad)}`);
});

t.test("every form finds Carol's records on every network, and not Caroline or another carol", async (t) => {
  const store = new MemoryStore();
  t.teardown(() => store.close());
  const w = new AuditWriter(store.audit);
  const parties: [string, string, string][] = [
    // from, to, label
    ['xmpp:alice@corp.test', 'matrix:u/carol:hs.test', 'to Carol on Matrix'],
    ['matrix:u/carol:hs.test', 'xmpp:alice@corp.test', 'from Carol on Matrix'],
    ['sip:bob@corp.test', 'sip:carol@hs.test', 'a call to Carol by SIP'],
    ['xmpp:alice@corp.test', 'matrix:u/caroline:hs.test', 'to Caroline'],
    ['xmpp:alice@corp.test', 'matrix:u/carol:other.test', 'to carol at another server'],
    ['xmpp:alice@corp.test', 'xmpp:carol@hs.test.evil', 'to carol at a longer domain'],
    ['sip:carol2@hs.test', 'xmpp:alice@corp.test', 'from carol2'],
  ];
  for (const [from, to] of parties) {
    await w.write(
      entry({
        from,
        to,
        fromNetwork: from.slice(0, from.indexOf(':')),
        toNetwork: to.slice(0, to.indexOf(':')),
      }),
    );
  }
  const carols = [1, 2, 3];
  for (const form of CAROL_FORMS) {
    const page = await queryLog(store.audit, { user: form }, null, 100);
    t.same(
      page.records.map((r) => r.seq).sort((a, b) => a - b),
      carols,
      `${JSON.stringify(form)} finds Carol's three records, nobody else's`,
    );
  }
  const caroline = await queryLog(store.audit, { user: '@caroline:hs.test' }, null, 100);
  t.same(
    caroline.records.map((r) => r.seq),
    [4],
    'Caroline is found by her own address only',
  );
  const narrowed = await queryLog(store.audit, { user: 'carol@hs.test', network: 'sip' }, null, 100);
  t.same(
    narrowed.records.map((r) => r.seq),
    [3],
    'the network filter narrows to one network',
  );
  const [first] = (await queryLog(store.audit, {}, 2, 1)).records;
  if (!first) throw new Error('no record 1');
  t.notOk(matchesFilter(first, { user: 'carol' }), 'a bare name is not an address: matches no one');
});
