import t from 'tap';
import {
  ghostJidOf,
  jidOfLocal,
  parseJid,
  resolveGhost,
  servesDomain,
} from '../../../src/adapters/xmpp/jid.js';

t.test('parseJid accepts JIDs and refuses what is not one', async (t) => {
  t.same(parseJid('alice@Corp.Test/phone'), { local: 'alice', domain: 'corp.test', resource: 'phone' });
  t.same(parseJid('gw.corp.test'), { local: '', domain: 'gw.corp.test', resource: '' });
  t.same(parseJid('bob%hs.test@gw.corp.test'), {
    local: 'bob%hs.test',
    domain: 'gw.corp.test',
    resource: '',
  });
  t.same(parseJid('a@b/res/with/slash'), { local: 'a', domain: 'b', resource: 'res/with/slash' });
  for (const bad of [
    undefined,
    '',
    '@x',
    'a@',
    'a b@x',
    'a@x/',
    'a:b@x',
    'a@b c',
    'a\u0001@x',
    `${'a'.repeat(1024)}@x`,
  ]) {
    t.equal(parseJid(bad), null, String(bad));
  }
});

t.test('ghosts map to remote users on the network serving their domain, and back', async (t) => {
  const networkOf = (d: string) => (d === 'hs.test' ? 'matrix' : d === 'partner.test' ? 'xmpp' : null);
  const g = resolveGhost(parseJid('bob%hs.test@gw.corp.test')!, 'gw.corp.test', networkOf);
  t.match(g, { ok: true, network: 'matrix', address: 'matrix:u/bob:hs.test' });
  t.match(resolveGhost(parseJid('bob%partner.test@gw.corp.test')!, 'gw.corp.test', networkOf), {
    ok: true,
    address: 'xmpp:bob@partner.test',
  });
  t.match(resolveGhost(parseJid('bob%nowhere.test@gw.corp.test')!, 'gw.corp.test', networkOf), {
    ok: false,
    why: 'unroutable',
  });
  t.match(resolveGhost(parseJid('plain@gw.corp.test')!, 'gw.corp.test', networkOf), {
    ok: false,
    why: 'not-a-ghost',
  });
  t.match(resolveGhost(parseJid('gw.corp.test')!, 'gw.corp.test', networkOf), { ok: false });
  // Escaped characters survive the round trip.
  const j = ghostJidOf('matrix:u/J%40ne:hs.test', 'gw.corp.test');
  t.same(j, { local: 'J\\40ne%hs.test', domain: 'gw.corp.test', resource: '' });
  t.match(resolveGhost(j!, 'gw.corp.test', networkOf), {
    ok: true,
    remote: { user: 'J@ne', domain: 'hs.test' },
  });
});

t.test('local addresses and served domains', async (t) => {
  t.same(jidOfLocal('xmpp:alice@corp.test'), { local: 'alice', domain: 'corp.test', resource: '' });
  t.equal(jidOfLocal('matrix:u/alice:corp.test'), null);
  t.equal(jidOfLocal('xmpp:a%20b@corp.test'), null, 'a space cannot be in a localpart');
  t.ok(servesDomain(['corp.test', '*.branch.test'], 'CORP.test'));
  t.ok(servesDomain(['*.branch.test'], 'x.branch.test'));
  t.notOk(servesDomain(['*.branch.test'], 'branch.test'));
  t.notOk(servesDomain(['corp.test'], 'evil.test'));
});
