// Malformed and hostile stanzas sent by real clients through a real Prosody to the
// component: a fixed list of known-nasty cases plus a seeded generator of random (well-formed)
// stanzas. Parley answers with XMPP errors or ignores them, never crashes, keeps the link
// up, and only ever submits events that pass the canonical schema.
import { xml } from '@xmpp/xml';
import fc from 'fast-check';
import t from 'tap';
import type { XmppAdapter } from '../../src/adapters/xmpp/index.js';
import { fullCapabilities, MemoryAdapter } from '../fixtures/memory-adapter.js';
import { login, type Parley, parley, type TestUser, xmlParse, xmppAdapter } from '../fixtures/xmpp-setup.js';
import { type ProsodyHandle, startProsody } from '../harness/prosody.js';

let prosody: ProsodyHandle;
let gw: Parley;
let corp: XmppAdapter;
let hs: MemoryAdapter;
let mallory: TestUser;
const crashes: unknown[] = [];
const invalid: unknown[] = [];
const onCrash = (err: unknown) => crashes.push(err);

t.before(async () => {
  process.on('uncaughtException', onCrash);
  process.on('unhandledRejection', onCrash);
  prosody = await startProsody({
    hosts: [{ domain: 'corp.test', users: { mallory: 'pw-m', alice: 'pw-a' } }],
    components: [{ domain: 'gw.corp.test', secret: 'corp-secret' }],
  });
  gw = parley();
  // Record every outcome the adapter gets: none may be "invalid" (schema refused).
  const submit = gw.pipeline.submit.bind(gw.pipeline);
  gw.pipeline.submit = async (a, e) => {
    const out = await submit(a, e);
    if (out.status === 'failed' && out.code === 'invalid') invalid.push({ event: e, reason: out.reason });
    return out;
  };
  corp = xmppAdapter('corp', prosody.componentService, 'gw.corp.test', 'corp-secret', ['corp.test']);
  hs = new MemoryAdapter('hs', 'matrix', ['hs.test'], fullCapabilities({ maxBodyLength: 262_144 }));
  await gw.add(corp);
  await gw.add(hs);
  await corp.whenUp();
  mallory = await login(prosody.c2sService, 'corp.test', 'mallory', 'pw-m');
});

t.teardown(async () => {
  process.off('uncaughtException', onCrash);
  process.off('unhandledRejection', onCrash);
  await mallory?.stop();
  await gw?.stop();
  await prosody?.destroy();
});

const G = 'bob%hs.test@gw.corp.test';
const big = (n: number) => 'x'.repeat(n);

/** Well-formed but hostile stanzas (the server passes them on). */
const NASTY: [string, string][] = [
  ['no id, no type', `<message to="${G}"><body>no id</body></message>`],
  ['empty body', `<message to="${G}" type="chat" id="h-empty"><body/></message>`],
  ['200 KB body', `<message to="${G}" type="chat" id="h-big"><body>${big(200_000)}</body></message>`],
  ['10 KB id', `<message to="${G}" type="chat" id="${big(10_000)}"><body>long id</body></message>`],
  [
    'unknown namespaces only',
    `<message to="${G}" type="chat" id="h-ns"><foo xmlns="urn:evil:1"><bar/></foo></message>`,
  ],
  ['groupchat', `<message to="${G}" type="groupchat" id="h-gc"><body>gc</body></message>`],
  ['headline', `<message to="${G}" type="headline" id="h-hl"><body>hl</body></message>`],
  ['unknown type', `<message to="${G}" type="bogus" id="h-bogus"><body>?</body></message>`],
  [
    'ghost without user',
    `<message to="%hs.test@gw.corp.test" type="chat" id="h-g1"><body>x</body></message>`,
  ],
  ['ghost without domain', `<message to="bob%@gw.corp.test" type="chat" id="h-g2"><body>x</body></message>`],
  ['double percent', `<message to="a%b%hs.test@gw.corp.test" type="chat" id="h-g3"><body>x</body></message>`],
  ['to the component', `<message to="gw.corp.test" type="chat" id="h-comp"><body>x</body></message>`],
  ['receipt without id', `<message to="${G}" id="h-r1"><received xmlns="urn:xmpp:receipts"/></message>`],
  [
    'marker with huge id',
    `<message to="${G}" id="h-r2"><displayed xmlns="urn:xmpp:chat-markers:0" id="${big(5000)}"/></message>`,
  ],
  [
    'replace without id',
    `<message to="${G}" type="chat" id="h-c1"><body>x</body><replace xmlns="urn:xmpp:message-correct:0"/></message>`,
  ],
  [
    'oob without url',
    `<message to="${G}" type="chat" id="h-o1"><body>x</body><x xmlns="jabber:x:oob"/></message>`,
  ],
  [
    'oob javascript-less garbage url',
    `<message to="${G}" type="chat" id="h-o2"><body>x</body><x xmlns="jabber:x:oob"><url>not a url</url></x></message>`,
  ],
  [
    'bad delay stamp',
    `<message to="${G}" type="chat" id="h-d1"><body>x</body><delay xmlns="urn:xmpp:delay" stamp="yesterday"/></message>`,
  ],
  [
    'bogus chat state',
    `<message to="${G}" type="chat" id="h-s1"><dancing xmlns="http://jabber.org/protocol/chatstates"/></message>`,
  ],
  [
    'many children',
    `<message to="${G}" type="chat" id="h-many"><body>x</body>${'<x xmlns="jabber:x:oob"><url>https://a.test/f</url></x>'.repeat(500)}</message>`,
  ],
  [
    'deep nesting',
    `<message to="${G}" type="chat" id="h-deep"><body>x</body>${'<a xmlns="urn:x">'.repeat(200)}${'</a>'.repeat(200)}</message>`,
  ],
  [
    'iq with two children',
    `<iq to="gw.corp.test" type="get" id="h-iq2"><query xmlns="http://jabber.org/protocol/disco#info"/><ping xmlns="urn:xmpp:ping"/></iq>`,
  ],
  ['iq with no child', `<iq to="gw.corp.test" type="get" id="h-iq0"/>`],
  ['unsolicited iq result', `<iq to="gw.corp.test" type="result" id="h-iqr"/>`],
  [
    'iq error',
    `<iq to="${G}" type="error" id="h-iqe"><error type="cancel"><x xmlns="urn:ietf:params:xml:ns:xmpp-stanzas"/></error></iq>`,
  ],
  [
    'disco with node',
    `<iq to="${G}" type="get" id="h-node"><query xmlns="http://jabber.org/protocol/disco#info" node="x"/></iq>`,
  ],
  [
    'gateway prompt garbage',
    `<iq to="gw.corp.test" type="set" id="h-gw"><query xmlns="jabber:iq:gateway"><prompt>@@@</prompt></query></iq>`,
  ],
  ['presence bad priority', `<presence to="${G}"><priority>abc</priority><show>nonsense</show></presence>`],
  ['presence huge status', `<presence to="${G}"><status>${big(100_000)}</status></presence>`],
  ['presence unknown type', `<presence to="${G}" type="whatever"/>`],
  ['probe to component', `<presence to="gw.corp.test" type="probe"/>`],
  [
    'message error for unknown id',
    `<message to="${G}" type="error" id="h-err"><error type="cancel"/></message>`,
  ],
];

t.test('known-nasty stanzas get errors or are ignored; the link stays up', async (t) => {
  for (const [, s] of NASTY) await mallory.send(xmlParse(s));
  // Errors Parley answers with, as XMPP (they come back in any order).
  const expected: Record<string, string> = {
    'h-gc': 'feature-not-implemented',
    'h-g1': 'item-not-found',
    'h-g2': 'item-not-found',
    'h-comp': 'service-unavailable',
    'h-iq2': 'bad-request',
    'h-iq0': 'bad-request',
    'h-node': 'item-not-found',
    'h-gw': 'not-acceptable',
  };
  const conditionOf = (id: string) =>
    mallory.received
      .find((e) => e.attrs.id === id && e.attrs.type === 'error')
      ?.getChild('error')
      ?.getChildElements()[0]?.name;
  const deadline = Date.now() + 5000;
  while (Object.keys(expected).some((id) => !conditionOf(id)) && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 20));
  }
  for (const [id, condition] of Object.entries(expected)) t.equal(conditionOf(id), condition, id);
  // And what went through is valid canonical traffic.
  await new Promise((r) => setTimeout(r, 300));
  t.ok(
    hs.delivered.some((d) => d.event.kind === 'message' && d.event.body.length === 200_000),
    'big body crossed',
  );
  t.equal(gw.pipeline.linkStatus().get('corp')?.state, 'up');
});

t.test('XML bombs and invalid XML close only the sender’s stream', async (t) => {
  const raw = [
    `<!DOCTYPE lol [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;">]><message to="${G}"><body>&lol2;</body></message>`,
    `<message to="${G}"><body>&undefined;</body></message>`,
    `<message to="${G}"><body>bad char &#1;</body></message>`,
    `<message to="${G}"><body>unclosed</message>`,
  ];
  for (const r of raw) {
    const eve = await login(prosody.c2sService, 'corp.test', 'alice', 'pw-a', {
      resource: `bomb${raw.indexOf(r)}`,
    });
    await eve.client.write(r).catch(() => {});
    await new Promise((res) => setTimeout(res, 100));
    await eve.stop();
  }
  t.equal(gw.pipeline.linkStatus().get('corp')?.state, 'up');
});

t.test('a generator of random well-formed stanzas never crashes the adapter', async (t) => {
  const text = fc.string({ maxLength: 40 });
  const attrVal = fc.oneof(
    text,
    fc.constantFrom(G, 'gw.corp.test', 'x%y@gw.corp.test', '', 'chat', 'normal', 'error', 'get', 'set'),
  );
  const leaf = fc.record({
    name: fc.constantFrom(
      'body',
      'thread',
      'replace',
      'received',
      'displayed',
      'x',
      'url',
      'composing',
      'query',
      'ping',
      'show',
      'status',
      'priority',
      'delay',
      'idle',
      'zzz',
    ),
    xmlns: fc.constantFrom(
      undefined,
      'urn:xmpp:message-correct:0',
      'urn:xmpp:receipts',
      'urn:xmpp:chat-markers:0',
      'jabber:x:oob',
      'http://jabber.org/protocol/chatstates',
      'http://jabber.org/protocol/disco#info',
      'urn:xmpp:ping',
      'urn:xmpp:delay',
      'urn:other',
    ),
    id: fc.option(attrVal, { nil: undefined }),
    stamp: fc.option(text, { nil: undefined }),
    text: fc.option(text, { nil: undefined }),
  });
  const stanza = fc.record({
    name: fc.constantFrom('message', 'presence', 'iq'),
    to: fc.constantFrom(
      G,
      'gw.corp.test',
      'nobody@gw.corp.test',
      'a%b%hs.test@gw.corp.test',
      'q%nowhere.test@gw.corp.test',
    ),
    type: fc.option(attrVal, { nil: undefined }),
    id: fc.option(attrVal, { nil: undefined }),
    children: fc.array(leaf, { maxLength: 6 }),
  });
  const clean = (s: string | undefined) =>
    s === undefined ? undefined : s.replace(/[^\t\n\r\u0020-\uD7FF\uE000-\uFFFD]/gu, '');
  const samples = fc.sample(stanza, { numRuns: 300, seed: 20261126 });
  for (const s of samples) {
    const el = xml(
      s.name,
      { to: s.to, type: clean(s.type), id: clean(s.id) },
      ...s.children.map((c) =>
        xml(c.name, { xmlns: c.xmlns, id: clean(c.id), stamp: clean(c.stamp) }, clean(c.text) ?? null),
      ),
    );
    // Prosody itself rejects some (e.g. an iq without id); that is fine.
    await mallory.send(el).catch(() => {});
  }
  await mallory.send(
    xmlParse(`<message to="${G}" type="chat" id="after-fuzz"><body>still alive?</body></message>`),
  );
  const deadline = Date.now() + 5000;
  while (!hs.delivered.some((d) => d.event.id === 'after-fuzz') && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 20));
  }
  t.ok(
    hs.delivered.some((d) => d.event.id === 'after-fuzz'),
    'a normal message still crosses',
  );
  t.equal(gw.pipeline.linkStatus().get('corp')?.state, 'up');
  t.same(invalid, [], 'the adapter never submitted an event the schema refuses');
  t.same(crashes, [], 'no uncaught exception or unhandled rejection');
});
