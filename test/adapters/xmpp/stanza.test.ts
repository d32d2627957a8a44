// Pure translation between stanzas and canonical events, compared as XML.
import t from 'tap';
import {
  aggregatePresence,
  mimeOfUrl,
  readMessage,
  readPresence,
  refusalError,
  refusalMessage,
  type StanzaEnv,
  writeMessage,
  writePresence,
  xmlSafe,
} from '../../../src/adapters/xmpp/stanza.js';
import type { CanonicalEvent } from '../../../src/core/model.js';
import { canon, xmlParse } from '../../fixtures/xml-helpers.js';

let n = 0;
const env: StanzaEnv = {
  adapter: 'corp',
  component: 'gw.corp.test',
  domains: ['corp.test'],
  networkOf: (d) =>
    d === 'hs.test' ? 'matrix' : d === 'partner.test' ? 'xmpp' : d === 'corp.test' ? 'xmpp' : null,
  now: () => new Date('2026-11-26T10:00:00.000Z'),
  newId: () => `gen-${++n}`,
  newTraceId: () => 'trace',
};
const base = { time: '2026-11-26T10:00:00.000Z', adapter: 'corp', traceId: 'trace' };

t.test('a chat message with thread, correction, reply and a link', async (t) => {
  const r = readMessage(
    xmlParse(`<message from="alice@corp.test/pc" to="bob%hs.test@gw.corp.test" type="chat" id="m1">
      <body>see https://f.test/a%20b.pdf</body><thread>t1</thread>
      <replace xmlns="urn:xmpp:message-correct:0" id="m0"/>
      <reply xmlns="urn:xmpp:reply:0" id="r0" to="bob%hs.test@gw.corp.test"/>
      <x xmlns="jabber:x:oob"><url>https://f.test/a%20b.pdf</url></x>
      <active xmlns="http://jabber.org/protocol/chatstates"/>
    </message>`),
    env,
  );
  t.same(r, {
    kind: 'events',
    events: [
      {
        kind: 'message',
        id: 'm1',
        ...base,
        from: 'xmpp:alice@corp.test',
        to: 'matrix:u/bob:hs.test',
        body: 'see https://f.test/a%20b.pdf',
        thread: 't1',
        replaces: 'm0',
        replyTo: 'r0',
        attachments: [{ mime: 'application/pdf', url: 'https://f.test/a%20b.pdf', name: 'a b.pdf' }],
        requests: ['chatstates'],
      },
    ],
  });
});

t.test('emotes, delays, chat states, receipts and markers', async (t) => {
  const emote = readMessage(
    xmlParse(
      `<message from="alice@corp.test/pc" to="bob%hs.test@gw.corp.test" id="e1"><body>/me waves</body><delay xmlns="urn:xmpp:delay" stamp="2026-11-25T08:00:00Z"/></message>`,
    ),
    env,
  );
  t.match(emote, {
    kind: 'events',
    events: [{ body: 'waves', style: 'emote', time: '2026-11-25T08:00:00.000Z' }],
  });
  const cs = readMessage(
    xmlParse(
      `<message from="alice@corp.test/pc" to="bob%hs.test@gw.corp.test" type="chat"><paused xmlns="http://jabber.org/protocol/chatstates"/></message>`,
    ),
    env,
  );
  t.match(cs, { kind: 'events', events: [{ kind: 'chatstate', state: 'paused', id: /^gen-/ }] });
  const rc = readMessage(
    xmlParse(
      `<message from="alice@corp.test/pc" to="bob%hs.test@gw.corp.test" id="r1"><received xmlns="urn:xmpp:receipts" id="m9"/></message>`,
    ),
    env,
  );
  t.match(rc, {
    kind: 'events',
    events: [{ kind: 'receipt', id: 'r1', receipt: 'delivered', messageId: 'm9' }],
  });
  const mk = readMessage(
    xmlParse(
      `<message from="alice@corp.test/pc" to="bob%hs.test@gw.corp.test" id="d1" type="chat"><displayed xmlns="urn:xmpp:chat-markers:0" id="m9"/></message>`,
    ),
    env,
  );
  t.match(mk, { kind: 'events', events: [{ kind: 'receipt', receipt: 'displayed', messageId: 'm9' }] });
});

t.test('a message keeps what its sender asks back: receipts, markers, chat states', async (t) => {
  const read = (inner: string) =>
    readMessage(
      xmlParse(`<message from="alice@corp.test/pc" to="bob%hs.test@gw.corp.test" id="q1">${inner}</message>`),
      env,
    );
  const all = read(
    '<body>x</body><active xmlns="http://jabber.org/protocol/chatstates"/><request xmlns="urn:xmpp:receipts"/><markable xmlns="urn:xmpp:chat-markers:0"/>',
  );
  t.match(all, {
    kind: 'events',
    events: [{ kind: 'message', requests: ['delivered', 'displayed', 'chatstates'] }],
  });
  const markerOnly = read('<body>x</body><markable xmlns="urn:xmpp:chat-markers:0"/>');
  t.match(markerOnly, { kind: 'events', events: [{ kind: 'message', requests: ['displayed'] }] });
  const plain = read('<body>x</body>');
  t.ok(
    plain.kind === 'events' && plain.events[0] && !('requests' in plain.events[0]),
    'a plain message asks nothing',
  );

  const out = writeMessage(
    {
      kind: 'message',
      id: 'q2',
      ...base,
      from: 'sip:carol@sip.test',
      to: 'xmpp:alice@corp.test',
      body: 'hi',
    },
    'gw.corp.test',
  );
  t.ok(out.ok);
  if (out.ok)
    t.equal(
      canon(out.stanza),
      canon(
        '<message from="carol%sip.test@gw.corp.test" to="alice@corp.test" type="chat" id="q2"><body>hi</body></message>',
      ),
      'nothing asked, nothing requested of the recipient',
    );
  const onlyStates = writeMessage(
    {
      kind: 'message',
      id: 'q3',
      ...base,
      from: 'sip:carol@sip.test',
      to: 'xmpp:alice@corp.test',
      body: 'hi',
      requests: ['chatstates'],
    },
    'gw.corp.test',
  );
  t.ok(
    onlyStates.ok &&
      canon(onlyStates.stanza) ===
        canon(
          '<message from="carol%sip.test@gw.corp.test" to="alice@corp.test" type="chat" id="q3"><body>hi</body><active xmlns="http://jabber.org/protocol/chatstates"/></message>',
        ),
    'chat states only: <active/> and no receipt request',
  );
});

t.test('what is not carried is refused or ignored', async (t) => {
  const msg = (attrs: string, inner = '<body>x</body>') =>
    readMessage(xmlParse(`<message ${attrs}>${inner}</message>`), env);
  t.match(msg('from="alice@corp.test" to="bob%hs.test@gw.corp.test" type="groupchat"'), {
    kind: 'error',
    error: { condition: 'feature-not-implemented' },
  });
  t.match(msg('from="eve@evil.test" to="bob%hs.test@gw.corp.test"'), {
    kind: 'error',
    error: { condition: 'not-allowed' },
  });
  t.match(msg('from="alice@corp.test" to="bob%mars.test@gw.corp.test"'), {
    kind: 'error',
    error: { condition: 'remote-server-not-found' },
  });
  t.match(msg('from="alice@corp.test" to="bob@gw.corp.test"'), {
    kind: 'error',
    error: { condition: 'item-not-found' },
  });
  t.match(msg('from="alice@corp.test" to="bob%hs.test@other.test"'), { kind: 'ignore' });
  t.match(msg('from="alice@corp.test" to="bob%hs.test@gw.corp.test" type="headline"'), { kind: 'ignore' });
  t.match(msg('from="alice@corp.test" to="bob%hs.test@gw.corp.test"', '<x xmlns="urn:other"/>'), {
    kind: 'ignore',
  });
  t.match(
    msg('from="alice@corp.test" to="bob%hs.test@gw.corp.test"', `<body>${'x'.repeat(262_145)}</body>`),
    {
      kind: 'error',
      error: { condition: 'not-acceptable' },
    },
  );
});

t.test('messages out: the ghost writes to the local user', async (t) => {
  const e: CanonicalEvent = {
    kind: 'message',
    id: '$ev:hs.test',
    ...base,
    from: 'matrix:u/bob:hs.test',
    to: 'xmpp:alice@corp.test',
    body: 'hi \u0001there',
    replaces: 'm0',
    attachments: [{ mime: 'image/png', url: 'https://f.test/x.png', name: 'x.png' }, { mime: 'text/plain' }],
    requests: ['delivered', 'displayed', 'chatstates'],
  };
  const out = writeMessage(e, 'gw.corp.test');
  t.ok(out.ok);
  if (!out.ok) return;
  t.equal(
    canon(out.stanza),
    canon(`<message from="bob%hs.test@gw.corp.test" to="alice@corp.test" type="chat" id="$ev:hs.test">
      <body>hi there
https://f.test/x.png
[attachment: text/plain]</body>
      <replace xmlns="urn:xmpp:message-correct:0" id="m0"/>
      <x xmlns="jabber:x:oob"><url>https://f.test/x.png</url><desc>x.png</desc></x>
      <active xmlns="http://jabber.org/protocol/chatstates"/>
      <request xmlns="urn:xmpp:receipts"/>
      <markable xmlns="urn:xmpp:chat-markers:0"/>
    </message>`),
  );
  const rc = writeMessage(
    {
      kind: 'receipt',
      id: 'r',
      ...base,
      from: 'xmpp:bob@partner.test',
      to: 'xmpp:alice@corp.test',
      receipt: 'displayed',
      messageId: 'm1',
    },
    'gw.corp.test',
  );
  t.ok(
    rc.ok &&
      canon(rc.stanza) ===
        canon(
          `<message from="bob%partner.test@gw.corp.test" to="alice@corp.test" type="chat" id="r"><displayed xmlns="urn:xmpp:chat-markers:0" id="m1"/><store xmlns="urn:xmpp:hints"/></message>`,
        ),
  );
  t.match(writeMessage({ ...e, to: 'matrix:u/x:hs.test' }, 'gw.corp.test'), { ok: false });
});

t.test('refusals become error messages with the same id', async (t) => {
  const e: CanonicalEvent = {
    kind: 'message',
    id: 'm-x',
    ...base,
    from: 'xmpp:alice@corp.test',
    to: 'matrix:u/bob:hs.test',
    body: 'x',
  };
  const el = refusalMessage(
    e,
    refusalError('policy', 'Not with rivals'),
    'gw.corp.test',
    'alice@corp.test/pc',
  );
  t.equal(
    canon(el!),
    canon(
      `<message from="bob%hs.test@gw.corp.test" to="alice@corp.test/pc" type="error" id="m-x"><error type="cancel"><policy-violation xmlns="urn:ietf:params:xml:ns:xmpp-stanzas"/><text xmlns="urn:ietf:params:xml:ns:xmpp-stanzas">Not with rivals</text></error></message>`,
    ),
  );
  t.same(refusalError('rate-limit', 'r'), { type: 'wait', condition: 'policy-violation', text: 'r' });
  t.equal(refusalError('unsupported', 'u').condition, 'feature-not-implemented');
  t.equal(refusalError('delivery', 'd').condition, 'recipient-unavailable');
});

t.test('presence in and out', async (t) => {
  t.same(
    readPresence(
      xmlParse(
        `<presence><show>dnd</show><status>busy</status><priority>5</priority><idle xmlns="urn:xmpp:idle:1" since="2026-11-26T09:00:00Z"/></presence>`,
      ),
    ),
    {
      show: 'dnd',
      priority: 5,
      status: 'busy',
      lastActive: '2026-11-26T09:00:00.000Z',
    },
  );
  t.same(readPresence(xmlParse(`<presence type="unavailable"/>`)), { show: 'offline', priority: 0 });
  t.same(readPresence(xmlParse(`<presence><show>chat</show><priority>999</priority></presence>`)), {
    show: 'available',
    priority: 127,
  });
  t.same(
    aggregatePresence([
      { show: 'away', priority: 1 },
      { show: 'dnd', priority: 5 },
    ]),
    { show: 'dnd', priority: 5 },
  );
  t.same(aggregatePresence([{ show: 'away', priority: -1 }]), { show: 'offline', priority: 0 });
  t.equal(
    canon(
      writePresence(
        { show: 'xa', status: 'gone fishing' },
        'bob%hs.test@gw.corp.test',
        'alice@corp.test',
        'p1',
      ),
    ),
    canon(
      `<presence from="bob%hs.test@gw.corp.test" to="alice@corp.test" id="p1"><show>xa</show><status>gone fishing</status></presence>`,
    ),
  );
  t.equal(
    canon(writePresence({ show: 'offline' }, 'g@gw.corp.test', 'alice@corp.test')),
    canon(`<presence from="g@gw.corp.test" to="alice@corp.test" type="unavailable"/>`),
  );
});

t.test('helpers', async (t) => {
  t.equal(xmlSafe('a\u0000b\u0008c\td\uFFFEe\uD800f😀'), 'abc\tdef😀');
  t.equal(mimeOfUrl('https://x/y/Photo.JPG?size=2'), 'image/jpeg');
  t.equal(mimeOfUrl('https://x/y'), 'application/octet-stream');
});
