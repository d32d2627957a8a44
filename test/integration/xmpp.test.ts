// Two enterprises federating XMPP-to-XMPP through Parley, with real Prosody users on both
// sides: corp.test (component gw.corp.test, adapter "corp") and partner.test (component
// gw.partner.test, adapter "partner") on one private Prosody, plus an in-memory "Matrix"
// network (hs.test) for the mapping of non-XMPP addresses. Every assertion is on stanzas
// real clients received, compared as XML.
import t from 'tap';
import type { XmppAdapter } from '../../src/adapters/xmpp/index.js';
import { ghostCaps, ghostName } from '../../src/adapters/xmpp/iq.js';
import { verifyLog } from '../../src/core/audit/verify.js';
import { MemoryAdapter, message } from '../fixtures/memory-adapter.js';
import {
  canon,
  login,
  type Parley,
  parley,
  type TestUser,
  xmlParse,
  xmppAdapter,
} from '../fixtures/xmpp-setup.js';
import { type ProsodyHandle, startProsody } from '../harness/prosody.js';

let prosody: ProsodyHandle;
let gw: Parley;
let corp: XmppAdapter;
let partner: XmppAdapter;
let hs: MemoryAdapter;
let alice: TestUser;
let bob: TestUser;
let carol: TestUser;

const isMsg = (id: string) => (el: { name: string; attrs: Record<string, string | undefined> }) =>
  el.name === 'message' && el.attrs.id === id;

t.before(async () => {
  prosody = await startProsody({
    hosts: [
      { domain: 'corp.test', users: { alice: 'pw-alice', carol: 'pw-carol' } },
      { domain: 'partner.test', users: { bob: 'pw-bob', dave: 'pw-dave' } },
    ],
    components: [
      { domain: 'gw.corp.test', secret: 'corp-secret' },
      { domain: 'gw.partner.test', secret: 'partner-secret' },
    ],
  });
  gw = parley();
  corp = xmppAdapter('corp', prosody.componentService, 'gw.corp.test', 'corp-secret', ['corp.test']);
  partner = xmppAdapter('partner', prosody.componentService, 'gw.partner.test', 'partner-secret', [
    'partner.test',
  ]);
  hs = new MemoryAdapter('hs', 'matrix', ['hs.test']);
  await gw.add(corp);
  await gw.add(partner);
  await gw.add(hs);
  await Promise.all([corp.whenUp(10_000), partner.whenUp(10_000)]);
  [alice, bob, carol] = await Promise.all([
    login(prosody.c2sService, 'corp.test', 'alice', 'pw-alice'),
    login(prosody.c2sService, 'partner.test', 'bob', 'pw-bob'),
    login(prosody.c2sService, 'corp.test', 'carol', 'pw-carol'),
  ]);
});

t.teardown(async () => {
  await Promise.allSettled([alice, bob, carol].filter(Boolean).map((u) => u.stop()));
  await gw?.stop();
  await prosody?.destroy();
});

t.test('both component links are up and reported to the pipeline', async (t) => {
  const links = gw.pipeline.linkStatus();
  t.equal(links.get('corp')?.state, 'up');
  t.equal(links.get('partner')?.state, 'up');
});

t.test('a chat message crosses from corp.test to partner.test with its id kept', async (t) => {
  await alice.send(
    xmlParse(
      `<message to="bob%partner.test@gw.corp.test" type="chat" id="m-hello"><body>Hello Bob &amp; co</body><thread>th-1</thread></message>`,
    ),
  );
  const got = await bob.next(isMsg('m-hello'));
  t.equal(
    canon(got),
    canon(
      `<message from="alice%corp.test@gw.partner.test" to="bob@partner.test" type="chat" id="m-hello">
        <body>Hello Bob &amp; co</body><thread>th-1</thread>
      </message>`,
    ),
  );
  const records = await gw.store.audit.range(1, 1000);
  const rec = records.find((r) => r.eventId === 'm-hello');
  t.match(rec, {
    decision: 'allow',
    rule: 'partners-talk',
    from: 'xmpp:alice@corp.test',
    to: 'xmpp:bob@partner.test',
    sourceAdapter: 'corp',
    targetAdapter: 'partner',
    kind: 'message',
  });
});

t.test('a reply of type normal comes back the other way', async (t) => {
  await bob.send(
    xmlParse(`<message to="alice%corp.test@gw.partner.test" id="m-back"><body>Hi Alice</body></message>`),
  );
  const got = await alice.next(isMsg('m-back'));
  t.equal(got.attrs.from, 'bob%partner.test@gw.corp.test');
  t.equal(got.getChildText('body'), 'Hi Alice');
});

t.test('XEP-0308 corrections keep the id of the corrected message', async (t) => {
  await alice.send(
    xmlParse(
      `<message to="bob%partner.test@gw.corp.test" type="chat" id="m-fix"><body>Hello Bob, corrected</body><replace xmlns="urn:xmpp:message-correct:0" id="m-hello"/></message>`,
    ),
  );
  const got = await bob.next(isMsg('m-fix'));
  t.equal(got.getChildText('body'), 'Hello Bob, corrected');
  t.equal(got.getChild('replace', 'urn:xmpp:message-correct:0')?.attrs.id, 'm-hello');
});

t.test('XEP-0085 chat states cross as chat states', async (t) => {
  await alice.send(
    xmlParse(
      `<message to="bob%partner.test@gw.corp.test" type="chat" id="cs-1"><composing xmlns="http://jabber.org/protocol/chatstates"/></message>`,
    ),
  );
  const got = await bob.next(isMsg('cs-1'));
  t.equal(
    canon(got),
    canon(
      `<message from="alice%corp.test@gw.partner.test" to="bob@partner.test" type="chat" id="cs-1"><composing xmlns="http://jabber.org/protocol/chatstates"/><no-store xmlns="urn:xmpp:hints"/></message>`,
    ),
  );
});

t.test("the sender's receipt request, markable and chat state are asked of the recipient", async (t) => {
  await alice.send(
    xmlParse(
      `<message to="bob%partner.test@gw.corp.test" type="chat" id="m-asks"><body>Tell me when you read it</body><active xmlns="http://jabber.org/protocol/chatstates"/><request xmlns="urn:xmpp:receipts"/><markable xmlns="urn:xmpp:chat-markers:0"/></message>`,
    ),
  );
  const got = await bob.next(isMsg('m-asks'));
  t.equal(
    canon(got),
    canon(
      `<message from="alice%corp.test@gw.partner.test" to="bob@partner.test" type="chat" id="m-asks">
        <body>Tell me when you read it</body>
        <active xmlns="http://jabber.org/protocol/chatstates"/>
        <request xmlns="urn:xmpp:receipts"/>
        <markable xmlns="urn:xmpp:chat-markers:0"/>
      </message>`,
    ),
  );
  await alice.send(
    xmlParse(
      `<message to="bob%partner.test@gw.corp.test" type="chat" id="m-asks-2"><body>Only a receipt, please</body><request xmlns="urn:xmpp:receipts"/></message>`,
    ),
  );
  const second = await bob.next(isMsg('m-asks-2'));
  t.ok(second.getChild('request', 'urn:xmpp:receipts'), 'the receipt request crossed');
  t.notOk(second.getChild('markable', 'urn:xmpp:chat-markers:0'), 'no markable the sender did not ask for');
  t.notOk(
    second.getChild('active', 'http://jabber.org/protocol/chatstates'),
    'no chat state the sender did not send',
  );
});

t.test('XEP-0184 receipts and XEP-0333 displayed markers cross', async (t) => {
  await bob.send(
    xmlParse(
      `<message to="alice%corp.test@gw.partner.test" id="rc-1"><received xmlns="urn:xmpp:receipts" id="m-hello"/></message>`,
    ),
  );
  const r = await alice.next(isMsg('rc-1'));
  t.equal(
    canon(r),
    canon(
      `<message from="bob%partner.test@gw.corp.test" to="alice@corp.test" type="chat" id="rc-1"><received xmlns="urn:xmpp:receipts" id="m-hello"/><store xmlns="urn:xmpp:hints"/></message>`,
    ),
  );
  await bob.send(
    xmlParse(
      `<message to="alice%corp.test@gw.partner.test" type="chat" id="mk-1"><displayed xmlns="urn:xmpp:chat-markers:0" id="m-hello"/></message>`,
    ),
  );
  const d = await alice.next(isMsg('mk-1'));
  t.equal(d.getChild('displayed', 'urn:xmpp:chat-markers:0')?.attrs.id, 'm-hello');
});

t.test('XEP-0066 links cross as attachments', async (t) => {
  const url = 'https://files.partner.test/share/report%20q3.pdf';
  await alice.send(
    xmlParse(
      `<message to="bob%partner.test@gw.corp.test" type="chat" id="oob-1"><body>${url}</body><x xmlns="jabber:x:oob"><url>${url}</url><desc>Q3 report</desc></x></message>`,
    ),
  );
  const got = await bob.next(isMsg('oob-1'));
  t.equal(got.getChildText('body'), url);
  const x = got.getChild('x', 'jabber:x:oob');
  t.equal(x?.getChildText('url'), url);
  t.equal(x?.getChildText('desc'), 'Q3 report');
  // What crossed the pipeline was an attachment descriptor.
  alice.send(
    xmlParse(
      `<message to="bob%hs.test@gw.corp.test" type="chat" id="oob-2"><body>see</body><x xmlns="jabber:x:oob"><url>https://f.test/a.png</url></x></message>`,
    ),
  );
  const d = await waitFor(() => hs.delivered.find((x) => x.event.id === 'oob-2'));
  t.match(d.event, {
    kind: 'message',
    body: 'see',
    attachments: [{ mime: 'image/png', url: 'https://f.test/a.png', name: 'a.png' }],
  });
});

t.test('a denied message bounces to the sender as a policy-violation error with the same id', async (t) => {
  await alice.send(
    xmlParse(
      `<message to="bob%partner.test@gw.corp.test" type="chat" id="m-deny"><body>the secret plan is ready</body></message>`,
    ),
  );
  const err = await alice.next(isMsg('m-deny'));
  t.equal(
    canon(err),
    canon(
      `<message from="bob%partner.test@gw.corp.test" to="alice@corp.test/test" type="error" id="m-deny">
        <error type="cancel">
          <policy-violation xmlns="urn:ietf:params:xml:ns:xmpp-stanzas"/>
          <text xmlns="urn:ietf:params:xml:ns:xmpp-stanzas">Secret plans stay inside the company</text>
        </error>
      </message>`,
    ),
  );
  t.ok(await bob.none(isMsg('m-deny'), 300), 'bob never sees it');
  const rec = (await gw.store.audit.range(1, 1000)).find((r) => r.eventId === 'm-deny');
  t.match(rec, { decision: 'deny', rule: 'no-secret-plans' });
});

t.test('a burst of 300 messages arrives complete and in order', async (t) => {
  const N = 300;
  const start = Date.now();
  for (let i = 0; i < N; i++) {
    alice.send(
      xmlParse(
        `<message to="bob%partner.test@gw.corp.test" type="chat" id="burst-${i}"><body>n${i}</body></message>`,
      ),
    );
  }
  const ids: string[] = [];
  for (let i = 0; i < N; i++) {
    const m = await bob.next(
      (el) => el.name === 'message' && el.attrs.id?.startsWith('burst-') === true,
      10_000,
    );
    ids.push(m.attrs.id ?? '');
  }
  t.same(
    ids,
    Array.from({ length: N }, (_, i) => `burst-${i}`),
  );
  t.comment(`${N} messages client -> Prosody -> Parley -> Prosody -> client in ${Date.now() - start} ms`);
});

t.test('a redacted message arrives with the redaction applied', async (t) => {
  await alice.send(
    xmlParse(
      `<message to="bob%partner.test@gw.corp.test" type="chat" id="m-card"><body>card 4111 1111 1111 1111.</body></message>`,
    ),
  );
  const got = await bob.next(isMsg('m-card'));
  t.equal(got.getChildText('body'), 'card [card].');
});

t.test('users of a non-XMPP network appear as ghosts; addresses map both ways', async (t) => {
  await alice.send(
    xmlParse(`<message to="bob%hs.test@gw.corp.test" type="chat" id="mx-1"><body>to matrix</body></message>`),
  );
  const d = await waitFor(() => hs.delivered.find((x) => x.event.id === 'mx-1'));
  t.match(d.event, { from: 'xmpp:alice@corp.test', to: 'matrix:u/bob:hs.test', body: 'to matrix' });
  const out = await hs.submit(
    message('matrix:u/bob:hs.test', 'xmpp:alice@corp.test', 'from matrix', {
      id: '$ev1:hs.test',
      style: 'emote',
    }),
  );
  t.match(out, { status: 'delivered' });
  const got = await alice.next(isMsg('$ev1:hs.test'));
  t.equal(got.attrs.from, 'bob%hs.test@gw.corp.test');
  t.equal(got.getChildText('body'), '/me from matrix');
});

t.test('addresses that are no ghosts get XMPP errors', async (t) => {
  await alice.send(
    xmlParse(`<message to="nobody@gw.corp.test" type="chat" id="e-1"><body>x</body></message>`),
  );
  const e1 = await alice.next(isMsg('e-1'));
  t.equal(e1.attrs.type, 'error');
  t.ok(e1.getChild('error')?.getChild('item-not-found', 'urn:ietf:params:xml:ns:xmpp-stanzas'));
  await alice.send(
    xmlParse(`<message to="x%nowhere.test@gw.corp.test" type="chat" id="e-2"><body>x</body></message>`),
  );
  const e2 = await alice.next(isMsg('e-2'));
  t.ok(e2.getChild('error')?.getChild('remote-server-not-found', 'urn:ietf:params:xml:ns:xmpp-stanzas'));
  await alice.send(
    xmlParse(`<message to="carol%corp.test@gw.corp.test" type="chat" id="e-3"><body>x</body></message>`),
  );
  const e3 = await alice.next(isMsg('e-3'));
  t.equal(e3.attrs.type, 'error', 'a ghost of a user on the same link is refused (unroutable)');
});

t.test('a message to an offline user bounces back to the sender', async (t) => {
  // dave is registered but not logged in; this Prosody keeps no offline messages.
  await alice.send(
    xmlParse(
      `<message to="dave%partner.test@gw.corp.test" type="chat" id="m-off"><body>are you there?</body></message>`,
    ),
  );
  const err = await alice.next(isMsg('m-off'));
  t.equal(err.attrs.type, 'error');
  t.ok(err.getChild('error')?.getChild('recipient-unavailable', 'urn:ietf:params:xml:ns:xmpp-stanzas'));
  t.match(
    err.getChild('error')?.getChildText('text', 'urn:ietf:params:xml:ns:xmpp-stanzas'),
    /dave@partner\.test/,
  );
});

t.test('presence: subscription handshake toward a ghost, then presence follows', async (t) => {
  // alice adds bob's ghost to her roster (XEP-0100 style: the gateway answers for bob).
  await alice.send(xmlParse(`<presence to="bob%partner.test@gw.corp.test" type="subscribe"/>`));
  const isPres =
    (type: string | undefined, from: string) =>
    (el: { name: string; attrs: Record<string, string | undefined> }) =>
      el.name === 'presence' && el.attrs.type === type && el.attrs.from?.startsWith(from) === true;
  await alice.next(isPres('subscribed', 'bob%partner.test@gw.corp.test'));
  await alice.next(isPres('subscribe', 'bob%partner.test@gw.corp.test'));
  await alice.send(xmlParse(`<presence to="bob%partner.test@gw.corp.test" type="subscribed"/>`));
  // bob does the same toward alice's ghost on his side.
  await bob.send(xmlParse(`<presence to="alice%corp.test@gw.partner.test" type="subscribe"/>`));
  await bob.next(isPres('subscribed', 'alice%corp.test@gw.partner.test'));
  await bob.next(isPres('subscribe', 'alice%corp.test@gw.partner.test'));
  await bob.send(xmlParse(`<presence to="alice%corp.test@gw.partner.test" type="subscribed"/>`));

  // alice changes her presence: Prosody tells bob's ghost, Parley tells bob.
  await alice.send(xmlParse(`<presence id="p-away"><show>away</show><status>lunch</status></presence>`));
  const p = await bob.next(
    (el) => isPres(undefined, 'alice%corp.test@gw.partner.test')(el) && el.getChildText('show') === 'away',
  );
  t.equal(
    canon(p),
    canon(
      `<presence from="alice%corp.test@gw.partner.test/parley" to="bob@partner.test" id="p-away"><show>away</show><status>lunch</status>${ghostCaps(ghostName('alice', 'corp.test')).toString()}</presence>`,
    ),
  );
  // A second resource of bob logs in: Prosody probes the ghost, Parley answers from the cache.
  const bob2 = await login(prosody.c2sService, 'partner.test', 'bob', 'pw-bob', { resource: 'second' });
  try {
    const probed = await bob2.next(
      (el) => isPres(undefined, 'alice%corp.test@gw.partner.test')(el) && el.getChildText('show') === 'away',
    );
    t.equal(probed.getChildText('status'), 'lunch');
  } finally {
    await bob2.stop();
  }
});

t.test('denied presence is not leaked', async (t) => {
  const dave = await login(prosody.c2sService, 'partner.test', 'dave', 'pw-dave');
  try {
    await dave.send(xmlParse(`<presence to="alice%corp.test@gw.partner.test" type="subscribe"/>`));
    await dave.next((el) => el.name === 'presence' && el.attrs.type === 'subscribe');
    await dave.send(xmlParse(`<presence to="alice%corp.test@gw.partner.test" type="subscribed"/>`));
    const before = (await gw.store.audit.range(1, 10_000)).length;
    await dave.send(xmlParse(`<presence id="p-dave"><status>here</status></presence>`));
    const rec = await waitFor(async () =>
      (await gw.store.audit.range(before + 1, 100)).find((r) => r.eventId === 'p-dave'),
    );
    t.match(rec, { kind: 'presence', decision: 'deny', rule: 'no-presence-for-dave' });
    t.ok(
      await alice.none((el) => el.name === 'presence' && el.attrs.from?.startsWith('dave%') === true, 300),
      'alice sees no presence of dave',
    );
  } finally {
    await dave.stop();
  }
});

t.test('disco#info, version and ping for the component and its ghosts', async (t) => {
  const { iqCaller } = alice.client;
  const info = await iqCaller.request(
    xmlParse(
      `<iq type="get" to="gw.corp.test" id="d1"><query xmlns="http://jabber.org/protocol/disco#info"/></iq>`,
    ),
  );
  t.equal(
    canon(info.getChild('query')!),
    canon(
      `<query xmlns="http://jabber.org/protocol/disco#info">
        <identity category="gateway" type="xmpp" name="Parley gateway"/>
        <feature var="http://jabber.org/protocol/disco#info"/>
        <feature var="http://jabber.org/protocol/disco#items"/>
        <feature var="jabber:iq:version"/>
        <feature var="urn:xmpp:ping"/>
        <feature var="jabber:iq:gateway"/>
      </query>`,
    ),
  );
  const ghost = await iqCaller.request(
    xmlParse(
      `<iq type="get" to="bob%partner.test@gw.corp.test" id="d2"><query xmlns="http://jabber.org/protocol/disco#info"/></iq>`,
    ),
  );
  const q = ghost.getChild('query')!;
  t.match(q.getChild('identity')?.attrs, { category: 'client', type: 'pc', name: 'bob@partner.test' });
  const features = q.getChildren('feature').map((f) => f.attrs.var);
  for (const f of [
    'urn:xmpp:receipts',
    'urn:xmpp:chat-markers:0',
    'urn:xmpp:message-correct:0',
    'jabber:x:oob',
  ]) {
    t.ok(features.includes(f), f);
  }
  const version = await iqCaller.request(
    xmlParse(`<iq type="get" to="gw.corp.test" id="v1"><query xmlns="jabber:iq:version"/></iq>`),
  );
  t.equal(version.getChild('query')?.getChildText('name'), 'Parley');
  const pong = await iqCaller.request(
    xmlParse(`<iq type="get" to="gw.corp.test" id="p1"><ping xmlns="urn:xmpp:ping"/></iq>`),
  );
  t.equal(pong.attrs.type, 'result');
  const pong2 = await iqCaller.request(
    xmlParse(`<iq type="get" to="bob%partner.test@gw.corp.test" id="p2"><ping xmlns="urn:xmpp:ping"/></iq>`),
  );
  t.equal(pong2.attrs.type, 'result');
  await t.rejects(
    iqCaller.request(
      xmlParse(`<iq type="get" to="gw.corp.test" id="u1"><query xmlns="urn:example:unknown"/></iq>`),
    ),
    /service-unavailable/,
  );
  const gwq = await iqCaller.request(
    xmlParse(
      `<iq type="set" to="gw.corp.test" id="g1"><query xmlns="jabber:iq:gateway"><prompt>bob@hs.test</prompt></query></iq>`,
    ),
  );
  t.equal(gwq.getChild('query')?.getChildText('jid'), 'bob%hs.test@gw.corp.test');
});

t.test('a Jingle call is set up and hung up across the two servers (signalling)', async (t) => {
  const JINGLE = 'urn:xmpp:jingle:1';
  // Real clients acknowledge Jingle requests, as XEP-0166 requires.
  for (const u of [alice, bob]) u.client.iqCallee.set(JINGLE, 'jingle', () => true);
  const isJingle =
    (action: string) => (el: { name: string; getChild: (n: string, ns?: string) => unknown }) =>
      el.name === 'iq' &&
      (el.getChild('jingle', JINGLE) as { attrs: Record<string, string> } | undefined)?.attrs.action ===
        action;
  const content = `<content creator="initiator" name="voice" senders="both">
      <description xmlns="urn:xmpp:jingle:apps:rtp:1" media="audio">
        <payload-type id="111" name="opus" clockrate="48000" channels="2"><parameter name="minptime" value="10"/></payload-type>
        <rtcp-mux/>
      </description>
      <transport xmlns="urn:xmpp:jingle:transports:ice-udp:1" ufrag="8hhy" pwd="asd88fgpdd777uzjYhagZg">
        <fingerprint xmlns="urn:xmpp:jingle:apps:dtls:0" hash="sha-256" setup="actpass">02:1A:CC:54</fingerprint>
        <candidate component="1" foundation="1" generation="0" id="c0-0" ip="10.0.1.1" port="8998" priority="2130706431" protocol="udp" type="host"/>
      </transport>
    </content>`;
  const ack = await alice.client.iqCaller.request(
    xmlParse(
      `<iq type="set" to="bob%partner.test@gw.corp.test" id="j-1"><jingle xmlns="${JINGLE}" action="session-initiate" initiator="alice@corp.test/test" sid="call-1">${content}</jingle></iq>`,
    ),
  );
  t.equal(ack.attrs.type, 'result', 'the gateway acknowledges the session-initiate');
  const init = await bob.next(isJingle('session-initiate'));
  t.equal(init.attrs.from, 'alice%corp.test@gw.partner.test/parley');
  t.equal(init.attrs.to, 'bob@partner.test/test');
  t.equal(
    canon(init.getChild('jingle', JINGLE)!),
    canon(
      `<jingle xmlns="${JINGLE}" action="session-initiate" sid="call-1" initiator="alice%corp.test@gw.partner.test/parley">${content}</jingle>`,
    ),
  );
  // bob's phone rings, he answers, a candidate trickles, alice hangs up.
  await bob.client.iqCaller.request(
    xmlParse(
      `<iq type="set" to="alice%corp.test@gw.partner.test/parley" id="j-2"><jingle xmlns="${JINGLE}" action="session-info" sid="call-1"><ringing xmlns="urn:xmpp:jingle:apps:rtp:info:1"/></jingle></iq>`,
    ),
  );
  const ringing = await alice.next(isJingle('session-info'));
  t.equal(ringing.attrs.from, 'bob%partner.test@gw.corp.test/parley');
  t.equal(ringing.attrs.to, 'alice@corp.test/test');
  await bob.client.iqCaller.request(
    xmlParse(
      `<iq type="set" to="alice%corp.test@gw.partner.test/parley" id="j-3"><jingle xmlns="${JINGLE}" action="session-accept" responder="bob@partner.test/test" sid="call-1">${content}</jingle></iq>`,
    ),
  );
  const accept = await alice.next(isJingle('session-accept'));
  t.equal(
    (accept.getChild('jingle', JINGLE) as { attrs: Record<string, string> }).attrs.responder,
    'bob%partner.test@gw.corp.test/parley',
  );
  t.equal(
    canon(accept.getChild('jingle', JINGLE)!.getChild('content')!),
    canon(content),
    'the session description survives both translations',
  );
  await alice.client.iqCaller.request(
    xmlParse(
      `<iq type="set" to="bob%partner.test@gw.corp.test" id="j-4"><jingle xmlns="${JINGLE}" action="session-terminate" sid="call-1"><reason><success/></reason></jingle></iq>`,
    ),
  );
  const bye = await bob.next(isJingle('session-terminate'));
  t.equal(
    canon(bye.getChild('jingle', JINGLE)!),
    canon(
      `<jingle xmlns="${JINGLE}" action="session-terminate" sid="call-1"><reason><success/></reason></jingle>`,
    ),
  );
  const calls = (await gw.store.audit.range(1, 10_000)).filter(
    (r) => r.kind === 'call' && r.category === 'decision',
  );
  t.same(
    calls.map((r) => [r.eventId, r.decision]),
    [
      ['j-1', 'allow'],
      ['j-2', 'allow'],
      ['j-3', 'allow'],
      ['j-4', 'allow'],
    ],
  );
});

t.test("a call's Jingle requests reach the other network in the order they were sent", async (t) => {
  const JINGLE = 'urn:xmpp:jingle:1';
  const sid = 'call-order-1';
  const out = await hs.submit({
    kind: 'call',
    id: 'co-inv',
    time: new Date().toISOString(),
    from: 'matrix:u/bob:hs.test',
    to: 'xmpp:alice@corp.test',
    adapter: 'hs',
    traceId: 't',
    action: 'invite',
    callId: sid,
    session: {
      media: [{ media: 'audio', codecs: [{ name: 'PCMU', clockRate: 8000, payloadType: 0 }] }],
    },
  });
  t.match(out, { status: 'delivered' });
  const init = await alice.next((el) => el.name === 'iq' && el.getChild('jingle', JINGLE)?.attrs.sid === sid);
  // The other network takes its time over the ringing: the accept, sent right after it
  // (the gateway acknowledges each iq at once), must still arrive second.
  hs.onDeliver = async (d) => {
    if (d.event.kind === 'call' && d.event.action === 'ringing') await new Promise((r) => setTimeout(r, 300));
  };
  t.teardown(() => {
    hs.onDeliver = null;
  });
  const from = hs.delivered.length;
  const ghost = String(init.attrs.from);
  const ringing = alice.client.iqCaller.request(
    xmlParse(
      `<iq type="set" to="${ghost}" id="co-ring"><jingle xmlns="${JINGLE}" action="session-info" sid="${sid}"><ringing xmlns="urn:xmpp:jingle:apps:rtp:info:1"/></jingle></iq>`,
    ),
  );
  const accept = alice.client.iqCaller.request(
    xmlParse(
      `<iq type="set" to="${ghost}" id="co-acc"><jingle xmlns="${JINGLE}" action="session-accept" responder="alice@corp.test/test" sid="${sid}"><content creator="initiator" name="audio"><description xmlns="urn:xmpp:jingle:apps:rtp:1" media="audio"><payload-type id="0" name="PCMU" clockrate="8000"/></description><transport xmlns="urn:xmpp:jingle:transports:ice-udp:1"/></content></jingle></iq>`,
    ),
  );
  await Promise.all([ringing, accept]);
  await waitFor(() => (hs.delivered.length >= from + 2 ? true : undefined));
  t.same(
    hs.delivered.slice(from).map((d) => (d.event.kind === 'call' ? d.event.action : d.event.kind)),
    ['ringing', 'answer'],
  );
});

t.test('a call the policy denies is terminated toward the caller with the reason', async (t) => {
  const JINGLE = 'urn:xmpp:jingle:1';
  carol.client.iqCallee.set(JINGLE, 'jingle', () => true);
  const ack = await carol.client.iqCaller.request(
    xmlParse(
      `<iq type="set" to="bob%partner.test@gw.corp.test" id="j-deny"><jingle xmlns="${JINGLE}" action="session-initiate" initiator="carol@corp.test/test" sid="call-2"><content creator="initiator" name="a"><description xmlns="urn:xmpp:jingle:apps:rtp:1" media="audio"><payload-type id="0" name="PCMU" clockrate="8000"/></description><transport xmlns="urn:xmpp:jingle:transports:ice-udp:1"/></content></jingle></iq>`,
    ),
  );
  t.equal(ack.attrs.type, 'result');
  const end = await carol.next(
    (el) => el.name === 'iq' && el.getChild('jingle', JINGLE)?.attrs.action === 'session-terminate',
  );
  t.equal(end.attrs.from, 'bob%partner.test@gw.corp.test/parley');
  t.equal(
    canon(end.getChild('jingle', JINGLE)!),
    canon(
      `<jingle xmlns="${JINGLE}" action="session-terminate" sid="call-2"><reason><security-error/><text>Carol may not place external calls</text></reason></jingle>`,
    ),
  );
  t.ok(await bob.none((el) => el.getChild('jingle', JINGLE)?.attrs.sid === 'call-2', 300), 'bob never rings');
});

t.test('when the link stops, local users see their ghost contacts go offline', async (t) => {
  await corp.stop();
  const off = await alice.next(
    (el) =>
      el.name === 'presence' &&
      el.attrs.type === 'unavailable' &&
      el.attrs.from === 'bob%partner.test@gw.corp.test/parley',
  );
  t.ok(off);
  t.equal(gw.pipeline.linkStatus().get('corp')?.state, 'stopped');
});

t.test('the audit trail of all this verifies', async (t) => {
  await gw.writer.close();
  const v = await verifyLog(gw.store.audit);
  t.match(v, { ok: true });
  t.ok((await gw.store.audit.length()) > 10);
});

async function waitFor<T>(fn: () => T | undefined | Promise<T | undefined>, ms = 5000): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = await fn();
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 20));
  }
}
