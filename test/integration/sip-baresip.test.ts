// A real softphone (baresip, driven through ctrl_tcp) and a real XMPP user (alice on a
// private Prosody, @xmpp/client) talk through Parley's SIP and XMPP adapters and the real
// pipeline: presence both ways (baresip's SUBSCRIBE and PUBLISH), MESSAGE both ways, a call
// from baresip that alice accepts and baresip hangs up, and a call from alice that baresip
// auto-answers and alice hangs up.
import t from 'tap';
import { buildSipAdapter, type SipAdapter } from '../../src/adapters/sip/index.js';
import { silentLogger } from '../../src/core/logger.js';
import { login, type Parley, parley, type TestUser, xmlParse, xmppAdapter } from '../fixtures/xmpp-setup.js';
import { type BaresipHandle, freeSipPort, startBaresip } from '../harness/baresip.js';
import { type ProsodyHandle, startProsody } from '../harness/prosody.js';
import { freeUdpPort } from '../harness/sip.js';

t.setTimeout(120_000);

const POLICY = `
apiVersion: parley/v1
kind: Policy
metadata: { name: sip-baresip, version: "1" }
zones:
  enterprise: { domains: [corp.test] }
  partner: { domains: [partner.test] }
defaults: { decision: deny }
rules:
  - id: partners-talk
    match: { between: [{ zone: enterprise }, { zone: partner }] }
    effect: allow
`;

const SECRET = 'baresip-component-secret';
const BOB = 'bob%partner.test@gw.corp.test'; // bob (baresip) as alice sees him
const JINGLE = 'urn:xmpp:jingle:1';

let prosody: ProsodyHandle;
let gw: Parley;
let sip: SipAdapter;
let phone: BaresipHandle;
let alice: TestUser;

t.teardown(async () => {
  await alice?.stop();
  await gw?.stop();
  await phone?.stop();
  await prosody?.destroy();
});

type Stanza = TestUser['received'][number];
const waitFor = async (cond: () => Promise<boolean>, ms = 10_000) => {
  const end = Date.now() + ms;
  while (!(await cond()) && Date.now() < end) await new Promise((r) => setTimeout(r, 50));
  return cond();
};
const fromBob = (el: Stanza) => el.attrs.from?.split('/')[0] === BOB;
const isPresence = (type: string) => (el: Stanza) =>
  el.name === 'presence' && el.attrs.type === type && fromBob(el);
const jingle = (el: Stanza) => el.getChild('jingle', JINGLE) as Stanza | undefined;
const isJingle = (action: string) => (el: Stanza) =>
  el.name === 'iq' && el.attrs.type === 'set' && fromBob(el) && jingle(el)?.attrs.action === action;

t.before(async () => {
  prosody = await startProsody({
    hosts: [{ domain: 'corp.test', users: { alice: 'pw-alice' } }],
    components: [{ domain: 'gw.corp.test', secret: SECRET }],
  });
  const phonePort = await freeSipPort();
  let parleyPort = await freeUdpPort();
  while (parleyPort === phonePort || parleyPort === phonePort + 1) parleyPort = await freeUdpPort();
  gw = parley(POLICY);
  await gw.add(xmppAdapter('corp', prosody.componentService, 'gw.corp.test', SECRET, ['corp.test']));
  sip = buildSipAdapter(
    'partner-sip',
    {
      type: 'sip',
      listen: [`udp://127.0.0.1:${parleyPort}`],
      domains: ['partner.test'],
      route: `sip:127.0.0.1:${phonePort}`,
      peers: ['127.0.0.1/32'],
      timers: { t1: 100, t4: 500 },
    },
    { logger: silentLogger, configDir: '.' },
  );
  await gw.add(sip);
  alice = await login(prosody.c2sService, 'corp.test', 'alice', 'pw-alice');
  // alice answers Jingle iqs as XEP-0166 requires.
  alice.client.iqCallee.set(JINGLE, 'jingle', () => true);
  // alice and bob share presence (XEP-0100 style): the gateway then knows alice's resource.
  await alice.send(xmlParse(`<presence to="${BOB}" type="subscribe"/>`));
  await alice.next(isPresence('subscribed'), 10_000);
  await alice.next(isPresence('subscribe'), 10_000);
  await alice.send(xmlParse(`<presence to="${BOB}" type="subscribed"/>`));
  // baresip starts once Parley is up: it subscribes to alice's presence at start.
  phone = await startBaresip({
    aor: 'bob@partner.test',
    sipPort: phonePort,
    outbound: `sip:127.0.0.1:${parleyPort}`,
    answermode: 'auto',
    contacts: ['sip:alice@corp.test'],
    presence: true,
  });
});

t.test("presence both ways: baresip watches alice's status, alice sees bob's", async (t) => {
  // baresip's SUBSCRIBE (RFC 3856) to alice, through the policy.
  t.ok(await waitFor(async () => (await sip.presence.count('sip:alice@corp.test')) === 1), 'subscribed');
  await alice.send(xmlParse('<presence><show>dnd</show><status>in a meeting</status></presence>'));
  const [busy] = await phone.waitLog(/<sip:alice@corp\.test> changed status from \w+ to Busy/);
  t.ok(busy, 'baresip shows alice as Busy (NOTIFY with PIDF + rpid:busy)');
  await alice.send(xmlParse('<presence/>'));
  await phone.waitLog(/<sip:alice@corp\.test> changed status from Busy to Online/);
  t.pass('and then Online');
  // bob's status (PUBLISH, RFC 3903) reaches alice as presence from his ghost.
  t.ok((await phone.command('presence_offline')).ok, 'ctrl_tcp presence_offline');
  const off = await alice.next(
    (el) => el.name === 'presence' && fromBob(el) && el.attrs.type === 'unavailable',
  );
  t.ok(off, 'alice sees bob go offline');
  t.ok((await phone.command('presence_online')).ok, 'ctrl_tcp presence_online');
  const on = await alice.next((el) => el.name === 'presence' && fromBob(el) && el.attrs.type === undefined);
  t.ok(on, 'and come back online');
});

t.test('baresip sends a MESSAGE; alice receives it from bob', async (t) => {
  const r = await phone.command('message', 'hello alice, from baresip');
  t.ok(r.ok, `ctrl_tcp message: ${r.data}`);
  const msg = await alice.next((el) => el.name === 'message' && fromBob(el) && !!el.getChildText('body'));
  t.equal(msg.getChildText('body'), 'hello alice, from baresip');
});

t.test('alice sends a message to bob; baresip receives and shows it', async (t) => {
  await alice.send(
    xmlParse(`<message to="${BOB}" type="chat" id="m1"><body>hi bob, from XMPP</body></message>`),
  );
  // baresip's SIP trace: the MESSAGE it received and its 200.
  const [got] = await phone.waitLog(
    /MESSAGE sip:bob@partner\.test SIP\/2\.0[\s\S]*?\r?\n\r?\nhi bob, from XMPP/,
  );
  t.match(got, /From: <sip:alice@corp\.test>;tag=/, 'from alice');
  await phone.waitLog(/SIP\/2\.0 200 OK[\s\S]*?CSeq: 1 MESSAGE/);
});

const RAW_CONTENT = `<content creator="initiator" name="voice" senders="both">
  <description xmlns="urn:xmpp:jingle:apps:rtp:1" media="audio">
    <payload-type id="0" name="PCMU" clockrate="8000"/>
  </description>
  <transport xmlns="urn:xmpp:jingle:transports:ice-udp:1" ufrag="al1c" pwd="alicealicealicealice12">
    <candidate component="1" foundation="1" generation="0" id="a0" ip="127.0.0.1" port="40020" priority="2130706431" protocol="udp" type="host"/>
  </transport>
</content>`;

t.test(
  'baresip calls alice: Jingle initiate, alice accepts, baresip established, baresip hangs up',
  async (t) => {
    const ev0 = phone.events.length;
    const dial = await phone.command('dial', 'sip:alice@corp.test');
    t.ok(dial.ok, `ctrl_tcp dial: ${dial.data}`);
    const init = await alice.next(isJingle('session-initiate'), 10_000);
    t.match(init.toString(), /name="PCMU"/, "baresip's offer (PCMU) reached alice");
    const sid = String(jingle(init)?.attrs.sid);
    await alice.client.iqCaller.request(
      xmlParse(
        `<iq type="set" to="${init.attrs.from}" id="j-acc"><jingle xmlns="${JINGLE}" action="session-accept" responder="alice@corp.test/test" sid="${sid}">${RAW_CONTENT}</jingle></iq>`,
      ),
    );
    const est = await phone.waitEvent((e) => e.type === 'CALL_ESTABLISHED', ev0);
    t.match(est.peeruri, /alice@corp\.test/, 'baresip: call established with alice');
    const hang = await phone.command('hangup');
    t.ok(hang.ok, `ctrl_tcp hangup: ${hang.data}`);
    const term = await alice.next(isJingle('session-terminate'), 10_000);
    t.equal(jingle(term)?.attrs.sid, sid, 'alice sees the call end');
    t.equal(sip.calls.size, 0, 'no SIP call state left');
  },
);

t.test('alice calls bob: baresip auto-answers, alice gets session-accept, alice hangs up', async (t) => {
  const ev0 = phone.events.length;
  await alice.client.iqCaller.request(
    xmlParse(
      `<iq type="set" to="${BOB}" id="j-init"><jingle xmlns="${JINGLE}" action="session-initiate" initiator="alice@corp.test/test" sid="x2b-call">${RAW_CONTENT}</jingle></iq>`,
    ),
  );
  // Auto-answer: baresip goes straight to CALL_ESTABLISHED (no CALL_INCOMING event).
  const est = await phone.waitEvent((e) => e.type === 'CALL_ESTABLISHED', ev0);
  t.match(est, { direction: 'incoming', peeruri: /alice@corp\.test/ }, 'baresip answered alice');
  const accept = await alice.next(isJingle('session-accept'), 10_000);
  t.equal(jingle(accept)?.attrs.sid, 'x2b-call');
  t.match(accept.toString(), /name="PCMU"|name="PCMA"/, "baresip's answer reached alice");
  await alice.client.iqCaller.request(
    xmlParse(
      `<iq type="set" to="${BOB}" id="j-term"><jingle xmlns="${JINGLE}" action="session-terminate" sid="x2b-call"><reason><success/></reason></jingle></iq>`,
    ),
  );
  const closed = await phone.waitEvent((e) => e.type === 'CALL_CLOSED', ev0);
  t.ok(closed, 'baresip: the call closed');
  t.equal(sip.calls.size, 0, 'no SIP call state left');
});
