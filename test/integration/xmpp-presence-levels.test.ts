// Presence levels over a real network (issue 24.5): alice on corp.test (Prosody) shares
// presence with dnd, a status text and an idle time (XEP-0319); Parley carries it to bob on
// partner.test under a policy whose rule says `presence: basic` (or `coarse`). What bob's
// real client receives must say no more than the level's description: basic — online, no
// dnd, no text, no idle; coarse — dnd, but no text and no idle.
import t from 'tap';
import type { XmppAdapter } from '../../src/adapters/xmpp/index.js';
import { NS } from '../../src/adapters/xmpp/ns.js';
import { login, type Parley, parley, type TestUser, xmlParse, xmppAdapter } from '../fixtures/xmpp-setup.js';
import { type ProsodyHandle, startProsody } from '../harness/prosody.js';

const policyWith = (level: string) => `
apiVersion: parley/v1
kind: Policy
metadata: { name: presence-${level}, version: "1" }
zones:
  enterprise: { domains: [corp.test] }
  partner: { domains: [partner.test] }
defaults: { decision: deny }
rules:
  - id: partners-talk
    match: { between: [{ zone: enterprise }, { zone: partner }] }
    effect: allow
  - id: presence-${level}
    match: { kind: [presence], between: [{ zone: enterprise }, { zone: partner }] }
    effect: allow
    obligations: { presence: ${level} }
`;

let prosody: ProsodyHandle;

t.before(async () => {
  prosody = await startProsody({
    hosts: [
      { domain: 'corp.test', users: { alice: 'pw-alice', carol: 'pw-carol', erin: 'pw-erin' } },
      { domain: 'partner.test', users: { bob: 'pw-bob', dave: 'pw-dave', frank: 'pw-frank' } },
    ],
    components: [
      { domain: 'gw.corp.test', secret: 'corp-secret' },
      { domain: 'gw.partner.test', secret: 'partner-secret' },
    ],
  });
});

t.teardown(async () => {
  await prosody?.destroy();
});

type El = { name: string; attrs: Record<string, string | undefined> };
const isPres = (type: string | undefined, from: string) => (el: El) =>
  el.name === 'presence' && el.attrs.type === type && el.attrs.from?.startsWith(from) === true;

/** Parley with the level's policy, alice and bob subscribed to each other's ghosts. */
async function rig(
  t: { teardown(fn: () => Promise<void>): void },
  level: string,
  [a, b]: [string, string],
): Promise<{ alice: TestUser; bob: TestUser; gw: Parley }> {
  const gw = parley(policyWith(level));
  const corp: XmppAdapter = xmppAdapter('corp', prosody.componentService, 'gw.corp.test', 'corp-secret', [
    'corp.test',
  ]);
  const partner: XmppAdapter = xmppAdapter(
    'partner',
    prosody.componentService,
    'gw.partner.test',
    'partner-secret',
    ['partner.test'],
  );
  await gw.add(corp);
  await gw.add(partner);
  await Promise.all([corp.whenUp(10_000), partner.whenUp(10_000)]);
  const [alice, bob] = await Promise.all([
    login(prosody.c2sService, 'corp.test', a, `pw-${a}`),
    login(prosody.c2sService, 'partner.test', b, `pw-${b}`),
  ]);
  t.teardown(async () => {
    await Promise.allSettled([alice.stop(), bob.stop()]);
    await gw.stop();
  });
  // The roster handshake both ways, as in test/integration/xmpp.test.ts.
  const bGhost = `${b}%partner.test@gw.corp.test`;
  const aGhost = `${a}%corp.test@gw.partner.test`;
  await alice.send(xmlParse(`<presence to="${bGhost}" type="subscribe"/>`));
  await alice.next(isPres('subscribed', bGhost));
  await alice.send(xmlParse(`<presence to="${bGhost}" type="subscribed"/>`));
  await bob.send(xmlParse(`<presence to="${aGhost}" type="subscribe"/>`));
  await bob.next(isPres('subscribed', aGhost));
  await bob.send(xmlParse(`<presence to="${aGhost}" type="subscribed"/>`));
  return { alice, bob, gw };
}

const richPresence = (id: string) =>
  xmlParse(
    `<presence id="${id}"><show>dnd</show><status>At the dentist</status><idle xmlns="${NS.idle}" since="2026-11-25T09:58:00Z"/></presence>`,
  );

t.test('presence: basic — bob sees alice online, without dnd, status text or idle time', async (t) => {
  const { alice, bob, gw } = await rig(t, 'basic', ['alice', 'bob']);
  await alice.send(richPresence('p-basic'));
  const p = await bob.next(
    (el) => isPres(undefined, 'alice%corp.test@gw.partner.test')(el) && el.attrs.id === 'p-basic',
    10_000,
  );
  t.equal(p.getChild('show'), undefined, 'no <show>: plain available (online)');
  t.equal(p.getChild('status'), undefined, 'no status text');
  t.equal(p.getChild('idle', NS.idle), undefined, 'no idle time');
  t.notMatch(p.toString(), /dnd|dentist|2026-11-25T09:58/, 'nothing of it anywhere in the stanza');
  const records = await gw.store.audit.range(1, 1000);
  t.ok(
    records.some((r) => r.kind === 'presence' && r.rule === 'partners-talk' && r.decision === 'allow'),
    'the presence is in the trail',
  );
});

t.test('presence: coarse — bob sees dnd, without status text or idle time', async (t) => {
  const { alice, bob } = await rig(t, 'coarse', ['carol', 'dave']);
  await alice.send(richPresence('p-coarse'));
  const p = await bob.next(
    (el) => isPres(undefined, 'carol%corp.test@gw.partner.test')(el) && el.attrs.id === 'p-coarse',
    10_000,
  );
  t.equal(p.getChildText('show'), 'dnd', 'do not disturb is shared');
  t.equal(p.getChild('status'), undefined, 'no status text');
  t.equal(p.getChild('idle', NS.idle), undefined, 'no idle time');
  t.notMatch(p.toString(), /dentist|2026-11-25T09:58/);
});

t.test(
  'presence: full — the same presence crosses whole (so the checks above are not vacuous)',
  async (t) => {
    const { alice, bob } = await rig(t, 'full', ['erin', 'frank']);
    await alice.send(richPresence('p-full'));
    const p = await bob.next(
      (el) => isPres(undefined, 'erin%corp.test@gw.partner.test')(el) && el.attrs.id === 'p-full',
      10_000,
    );
    t.equal(p.getChildText('show'), 'dnd');
    t.equal(p.getChildText('status'), 'At the dentist');
    t.equal(p.getChild('idle', NS.idle)?.attrs.since, '2026-11-25T09:58:00.000Z', 'the idle time');
  },
);
