// Property tests: any element (random names, namespaces, attributes and text, including
// characters XML cannot carry) is translated without throwing, and every event produced
// passes the canonical schema; every stanza produced from any valid event is XML-safe.
import { FormatRegistry } from '@sinclair/typebox';
import { TypeCompiler } from '@sinclair/typebox/compiler';
import { type Element, xml } from '@xmpp/xml';
import fc from 'fast-check';
import t from 'tap';
import { answerIq } from '../../../src/adapters/xmpp/iq.js';
import { NS } from '../../../src/adapters/xmpp/ns.js';
import {
  readMessage,
  readPresence,
  type StanzaEnv,
  writeMessage,
  writePresence,
} from '../../../src/adapters/xmpp/stanza.js';
import { CanonicalEvent } from '../../../src/core/model.js';
import { xmlParse } from '../../fixtures/xml-helpers.js';

// The pipeline's validator knows date-time (src/core/policy registers it); so does this one.
if (!FormatRegistry.Has('date-time')) FormatRegistry.Set('date-time', (v) => !Number.isNaN(Date.parse(v)));
const check = TypeCompiler.Compile(CanonicalEvent);
let n = 0;
const env: StanzaEnv = {
  adapter: 'corp',
  component: 'gw.corp.test',
  domains: ['corp.test'],
  networkOf: (d) => (d === 'hs.test' ? 'matrix' : d.endsWith('.test') ? 'xmpp' : null),
  now: () => new Date(),
  newId: () => `g${++n}`,
  newTraceId: () => 'tr',
};

const str = fc.oneof(
  fc.string({ maxLength: 30 }),
  fc.string({ unit: 'binary', maxLength: 30 }),
  fc.constant(''),
);
const jid = fc.oneof(
  { arbitrary: str, weight: 1 },
  {
    arbitrary: fc.constantFrom(
      'bob%hs.test@gw.corp.test',
      'gw.corp.test',
      'x%y%z@gw.corp.test',
      '%@gw.corp.test',
      'a@b@c',
    ),
    weight: 2,
  },
);
const sender = fc.oneof(
  { arbitrary: jid, weight: 1 },
  { arbitrary: fc.constant('alice@corp.test/pc'), weight: 3 },
);
const recipient = fc.oneof(
  { arbitrary: jid, weight: 1 },
  { arbitrary: fc.constant('bob%hs.test@gw.corp.test'), weight: 3 },
);
const names = fc.constantFrom(
  'body',
  'thread',
  'replace',
  'reply',
  'received',
  'displayed',
  'acknowledged',
  'x',
  'url',
  'desc',
  'delay',
  'composing',
  'gone',
  'query',
  'ping',
  'prompt',
  'show',
  'status',
  'priority',
  'idle',
  'foo',
);
const nss = fc.constantFrom(undefined, ...Object.values(NS), 'urn:junk');
const node = (kids: fc.Arbitrary<Element[]>): fc.Arbitrary<Element> =>
  fc
    .record({
      name: names,
      xmlns: nss,
      attrs: fc.dictionary(fc.constantFrom('id', 'stamp', 'since', 'node', 'to', 'type'), str, {
        maxKeys: 3,
      }),
      text: fc.option(str, { nil: undefined }),
      kids,
    })
    .map((r) => xml(r.name, { xmlns: r.xmlns, ...r.attrs }, r.text ?? null, ...r.kids));
const leaf = node(fc.constant([]));
const tree = node(fc.array(node(fc.array(leaf, { maxLength: 3 })), { maxLength: 3 }));
const stanza = fc
  .record({
    name: fc.constantFrom('message', 'presence', 'iq'),
    from: sender,
    to: recipient,
    type: fc.option(
      fc.oneof(str, fc.constantFrom('chat', 'normal', 'get', 'set', 'unavailable', 'groupchat')),
      { nil: undefined },
    ),
    id: fc.option(str, { nil: undefined }),
    kids: fc.array(tree, { maxLength: 5 }),
  })
  .map((s) => xml(s.name, { from: s.from, to: s.to, type: s.type, id: s.id }, ...s.kids));

t.test('any stanza in: no throw, only valid events', async (t) => {
  let events = 0;
  fc.assert(
    fc.property(stanza, (el) => {
      const r = readMessage(el, env);
      if (r.kind === 'events') {
        for (const e of r.events) {
          events++;
          if (!check.Check(e))
            throw new Error(`invalid event ${JSON.stringify(e)}: ${check.Errors(e).First()?.message}`);
        }
      }
      readPresence(el);
      answerIq(el, {
        component: 'gw.corp.test',
        networkOf: env.networkOf,
        displayName: 'P',
        software: { name: 'P', version: '1' },
      });
    }),
    { numRuns: 3000, seed: 42 },
  );
  t.ok(events > 0, `${events} events checked`);
});

t.test('any valid event out: the stanza is well-formed XML', async (t) => {
  const text = fc.string({ unit: 'binary', maxLength: 40 });
  const ev = fc.record({
    kind: fc.constantFrom('message', 'chatstate', 'receipt'),
    id: text.filter((s) => s.length > 0),
    body: text,
    thread: fc.option(text, { nil: undefined }),
    replaces: fc.option(text, { nil: undefined }),
    user: fc.string({ minLength: 1, maxLength: 12 }),
    url: fc.option(text, { nil: undefined }),
    status: fc.option(text, { nil: undefined }),
  });
  fc.assert(
    fc.property(ev, (e) => {
      const from = `matrix:u/${encodeURIComponent(e.user)}:hs.test`;
      const base = {
        id: e.id,
        time: new Date().toISOString(),
        from,
        to: 'xmpp:alice@corp.test',
        adapter: 'hs',
        traceId: 't',
      };
      const event: CanonicalEvent =
        e.kind === 'message'
          ? {
              kind: 'message',
              ...base,
              body: e.body,
              ...(e.thread ? { thread: e.thread } : {}),
              ...(e.replaces ? { replaces: e.replaces } : {}),
              ...(e.url ? { attachments: [{ mime: 'x/y', url: e.url, name: e.body }] } : {}),
            }
          : e.kind === 'chatstate'
            ? { kind: 'chatstate', ...base, state: 'composing' }
            : { kind: 'receipt', ...base, receipt: 'displayed', messageId: e.body || 'x' };
      const out = writeMessage(event, 'gw.corp.test');
      if (out.ok) xmlParse(out.stanza.toString());
      xmlParse(
        writePresence(
          { show: 'away', ...(e.status ? { status: e.status } : {}) },
          'g@gw.corp.test',
          'a@corp.test',
          e.id,
        ).toString(),
      );
    }),
    { numRuns: 2000, seed: 7 },
  );
  t.pass('every stanza parsed back');
});
