// Identity spoofing over SIP (issue 15 item 2), with SIPp as the peer: a peer may assert
// identities only in the domains its peers entry (else the link) serves, and a digest user
// only its own user@domain. A forged From (the enterprise's own domain, or a domain of the
// link another peer serves) gets 403 with the reason, reaches nobody, and is audited.
import t from 'tap';
import { startSipRig } from '../fixtures/sip-rig.js';
import { ensureSipTools, freeUdpPort, runSipp } from '../harness/sip.js';

t.setTimeout(120_000);

ensureSipTools();

/** Everything may talk (enterprise users among themselves too): only the identity check stops a forgery. */
const POLICY = `
apiVersion: parley/v1
kind: Policy
metadata: { name: sip-identity, version: "1" }
zones:
  enterprise: { domains: [corp.test] }
  partner: { domains: [partner.test, other.test] }
defaults: { decision: deny }
rules:
  - id: partners-talk
    match: { between: [{ zone: enterprise }, { zone: partner }] }
    effect: allow
  - id: internal
    match: { between: [{ zone: enterprise }, { zone: enterprise }] }
    effect: allow
`;

async function setup(sip: Record<string, unknown> = {}) {
  const rig = await startSipRig({
    policy: POLICY,
    sip: {
      listen: ['udp://127.0.0.1:0'],
      domains: ['partner.test', 'other.test'],
      route: `sip:127.0.0.1:${await freeUdpPort()}`,
      // This peer serves partner.test only; other.test is the link's for another peer.
      peers: [{ address: '127.0.0.1/32', domains: ['partner.test'] }],
      timers: { t1: 50, t4: 100 },
      ...sip,
    },
  });
  return { ...rig, port: rig.sip.transport.local('udp')!.port };
}
type Env = Awaited<ReturnType<typeof setup>>;

const keys = (from: string, to: string, extra: Record<string, string> = {}) => {
  const [fu, fd] = from.split('@') as [string, string];
  const [tu, td] = to.split('@') as [string, string];
  return { from_user: fu, from_domain: fd, to_user: tu, to_domain: td, body: 'forged?', ...extra };
};

const sipp = async (
  env: Env,
  scenario: string,
  k: Record<string, string>,
  auth?: { user: string; password: string },
) =>
  runSipp({
    scenario,
    port: await freeUdpPort(),
    target: `127.0.0.1:${env.port}`,
    keys: k,
    ...(auth ? { auth } : {}),
  });

const records = async (env: Env) => {
  await env.audit.flush();
  return env.store.audit.range(1, 100);
};

t.test("MESSAGE with the enterprise's own domain in From: 403, not delivered, audited", async (t) => {
  const env = await setup();
  t.teardown(env.stop);
  const r = await sipp(env, 'message-uac-403.xml', keys('boss@corp.test', 'alice@corp.test'));
  t.equal(r.code, 0, r.code === 0 ? 'sipp got 403' : `sipp got 403\n${r.messages.slice(-1500)}`);
  t.match(r.messages, /SIP\/2\.0 403 From domain not served by this peer\r\n/);
  t.match(r.messages, /Warning: 399 parley "From domain not served by this peer"/);
  t.equal(env.corp.delivered.length, 0, 'alice got nothing');
  const recs = await records(env);
  t.equal(recs.length, 1, 'one audit record');
  t.match(recs[0], {
    decision: 'deny',
    rule: null,
    reason: 'From domain not served by this peer',
    kind: 'message',
    from: 'sip:boss@corp.test',
    to: 'xmpp:alice@corp.test',
    sourceAdapter: 'partner-sip',
    content: { mode: 'full', body: 'forged?' },
  });
});

t.test('MESSAGE from a domain of the link that this peer does not serve: 403, audited', async (t) => {
  const env = await setup();
  t.teardown(env.stop);
  const r = await sipp(env, 'message-uac-403.xml', keys('carol@other.test', 'alice@corp.test'));
  t.equal(r.code, 0, r.code === 0 ? 'sipp got 403' : `sipp got 403\n${r.messages.slice(-1500)}`);
  t.match(r.messages, /SIP\/2\.0 403 From domain not served by this peer\r\n/);
  t.equal(env.corp.delivered.length, 0);
  t.match(await records(env), [{ decision: 'deny', from: 'sip:carol@other.test', reason: /not served/ }]);
});

t.test("MESSAGE from the peer's own domain: delivered (200), whatever the case of the domain", async (t) => {
  const env = await setup();
  t.teardown(env.stop);
  for (const from of ['bob@partner.test', 'bob@Partner.TEST']) {
    const r = await sipp(env, 'message-uac-200.xml', keys(from, 'alice@corp.test', { body: 'genuine' }));
    t.equal(r.code, 0, r.code === 0 ? `${from}: 200` : `${from}: 200\n${r.messages.slice(-1500)}`);
  }
  t.equal(env.corp.delivered.length, 2);
  t.equal(env.corp.delivered[0]?.event.from, 'sip:bob@partner.test');
  t.match(await records(env), [{ decision: 'allow' }, { decision: 'allow' }]);
});

t.test('INVITE with a forged From: 403, no call reaches the enterprise, audited', async (t) => {
  const env = await setup();
  t.teardown(env.stop);
  const r = await sipp(env, 'invite-uac-403.xml', keys('boss@corp.test', 'alice@corp.test'));
  t.equal(r.code, 0, r.code === 0 ? 'sipp got 403' : `sipp got 403\n${r.messages.slice(-1500)}`);
  t.match(r.messages, /SIP\/2\.0 403 From domain not served by this peer\r\n/);
  t.equal(env.corp.delivered.length, 0, 'no call event delivered');
  t.match(await records(env), [
    { decision: 'deny', kind: 'call', from: 'sip:boss@corp.test', reason: /not served/ },
  ]);
});

t.test('SUBSCRIBE and PUBLISH with a forged From: 403; PUBLISH audited, no subscription kept', async (t) => {
  const env = await setup();
  t.teardown(env.stop);
  for (const req of ['SUBSCRIBE', 'PUBLISH']) {
    const r = await sipp(env, `${req.toLowerCase()}-uac-403.xml`, keys('boss@corp.test', 'alice@corp.test'));
    t.equal(r.code, 0, r.code === 0 ? `${req}: 403` : `${req}: 403\n${r.messages.slice(-1500)}`);
    t.match(r.messages, /SIP\/2\.0 403 From domain not served by this peer\r\n/, req);
  }
  t.equal(await env.sip.presence.count('xmpp:alice@corp.test'), 0, 'the SUBSCRIBE left no subscription');
  // A PUBLISH for someone else (To: another presentity) is refused as well.
  const r = await sipp(env, 'publish-uac-403.xml', keys('bob@partner.test', 'boss@corp.test'));
  t.equal(r.code, 0, r.code === 0 ? 'PUBLISH for corp.test: 403' : r.messages.slice(-1500));
  t.match(r.messages, /SIP\/2\.0 403 To domain not served by this peer\r\n/);
  t.equal(env.corp.delivered.length, 0);
  t.match(await records(env), [
    { decision: 'deny', kind: 'presence', from: 'sip:boss@corp.test', reason: /From domain not served/ },
    { decision: 'deny', kind: 'presence', from: 'sip:bob@partner.test', reason: /To domain not served/ },
  ]);
});

t.test('digest: the authenticated user may assert only user@domain, not just the user part', async (t) => {
  const env = await setup({
    peers: ['127.0.0.1/32'], // may speak for partner.test and other.test
    auth: { realm: 'partner.test', users: { bob: 'bob-secret' }, algorithms: ['MD5'] },
  });
  t.teardown(env.stop);
  const bob = { user: 'bob', password: 'bob-secret' };
  for (const from of ['bob@other.test', 'carol@partner.test']) {
    const r = await sipp(env, 'message-uac-auth-403.xml', keys(from, 'alice@corp.test'), bob);
    t.equal(r.code, 0, r.code === 0 ? `${from}: 401 then 403` : `${from}\n${r.messages.slice(-1500)}`);
    t.match(r.messages, /SIP\/2\.0 403 From is not the authenticated user bob@partner\.test\r\n/, from);
  }
  const ok = await sipp(env, 'message-uac-auth.xml', keys('bob@partner.test', 'alice@corp.test'), bob);
  t.equal(ok.code, 0, ok.code === 0 ? 'bob@partner.test: 200' : ok.messages.slice(-1500));
  t.equal(env.corp.delivered.length, 1, 'only the genuine one delivered');
  t.match(await records(env), [
    {
      decision: 'deny',
      from: 'sip:bob@other.test',
      reason: 'From is not the authenticated user bob@partner.test',
    },
    { decision: 'deny', from: 'sip:carol@partner.test' },
    { decision: 'allow', from: 'sip:bob@partner.test' },
  ]);
});
