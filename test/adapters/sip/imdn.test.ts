// IMDN (RFC 5438) bodies and state: parse what SIP clients send, write what they read.
import t from 'tap';
import {
  cpimBody,
  dispositionOf,
  dispositionsFor,
  ImdnState,
  imdnHeaders,
  imdnMessageId,
  imdnRequestOf,
  imdnXml,
  parseCpim,
  parseImdnXml,
  readImdn,
  requestsOf,
  statusOf,
} from '../../../src/adapters/sip/imdn.js';
import type { SipRequest } from '../../../src/adapters/sip/message.js';
import { namespacedState } from '../../../src/core/delivery/state.js';
import { MemoryStore } from '../../../src/store/memory.js';

const crlf = (lines: string[]) => Buffer.from(lines.join('\r\n'), 'utf8');

// RFC 5438 §6.2's example, as a client sends it.
const REQUEST = crlf([
  'From: Alice <im:alice@example.com>',
  'To: Bob <im:bob@example.com>',
  'NS: imdn <urn:ietf:params:imdn>',
  'imdn.Message-ID: 34jk324j',
  'DateTime: 2006-04-04T12:16:49-05:00',
  'imdn.Disposition-Notification: positive-delivery, display',
  '',
  'Content-Type: text/plain',
  'Content-Length: 12',
  '',
  'Hello World',
]);

const NOTIFICATION_XML = `<?xml version="1.0" encoding="UTF-8"?>
<imdn xmlns="urn:ietf:params:xml:ns:imdn">
  <message-id>34jk324j</message-id>
  <datetime>2008-04-04T12:16:49-05:00</datetime>
  <recipient-uri>im:bob@example.com</recipient-uri>
  <original-recipient-uri>im:bob@example.com</original-recipient-uri>
  <display-notification>
    <status>
      <displayed/>
    </status>
  </display-notification>
</imdn>`;

const sipMessage = (contentType: string | null, body: Buffer): SipRequest => ({
  kind: 'request',
  method: 'MESSAGE',
  uri: 'sip:alice@corp.test',
  headers: contentType ? [{ name: 'Content-Type', value: contentType }] : [],
  body,
});

t.test('a CPIM message asking for notifications: its id, DateTime and dispositions', async (t) => {
  const cpim = parseCpim(REQUEST);
  t.equal(cpim.contentType, 'text/plain');
  t.equal(cpim.content, 'Hello World');
  t.same(imdnRequestOf(cpim), {
    messageId: '34jk324j',
    dateTime: '2006-04-04T12:16:49-05:00',
    dispositions: ['positive-delivery', 'display'],
  });
});

t.test('the IMDN prefix is whatever NS binds, and other namespaces do not count', async (t) => {
  const cpim = parseCpim(
    crlf([
      'NS: foo <urn:ietf:params:imdn>',
      'NS: imdn <urn:example:other>',
      'imdn.Message-ID: not-this-one',
      'foo.Message-ID: abc',
      'foo.Disposition-Notification: display, bogus, display',
      '',
      'Content-Type: text/plain',
      '',
      'x',
    ]),
  );
  t.equal(imdnHeaders(cpim).get('message-id'), 'abc');
  t.same(imdnRequestOf(cpim)?.dispositions, ['display'], 'unknown and repeated values dropped');
  const none = parseCpim(crlf(['From: <sip:a@b>', '', 'Content-Type: text/plain', '', 'x']));
  t.equal(imdnRequestOf(none), null, 'no imdn.Message-ID: no request');
});

t.test('bad CPIM and bad ids are clear errors', async (t) => {
  t.throws(() => parseCpim(Buffer.from('From: x\r\nno empty line')), /without the empty line/);
  t.throws(
    () => parseCpim(crlf(['garbage line', '', 'Content-Type: text/plain', '', 'x'])),
    /malformed CPIM/,
  );
  t.throws(() => parseCpim(Buffer.from([0xff, 0xfe, 0x0d, 0x0a, 0x0d, 0x0a])), /not UTF-8/);
  t.throws(() => parseCpim(crlf(['a: b', '', 'Content-Type: ???', '', 'x'])), /bad Content-Type/);
  const badId = parseCpim(
    crlf([
      'NS: imdn <urn:ietf:params:imdn>',
      'imdn.Message-ID: has space',
      '',
      'Content-Type: text/plain',
      '',
      'x',
    ]),
  );
  t.throws(() => imdnRequestOf(badId), /bad imdn\.Message-ID/);
});

t.test('a display notification parses; so do prefixed elements', async (t) => {
  t.same(parseImdnXml(NOTIFICATION_XML), {
    messageId: '34jk324j',
    datetime: '2008-04-04T12:16:49-05:00',
    recipientUri: 'im:bob@example.com',
    kind: 'display',
    status: 'displayed',
  });
  const prefixed = `<i:imdn xmlns:i="urn:ietf:params:xml:ns:imdn"><i:message-id>a&amp;b</i:message-id>
    <i:delivery-notification><i:status><i:delivered/></i:status></i:delivery-notification></i:imdn>`;
  t.match(parseImdnXml(prefixed), {
    messageId: 'a&b',
    kind: 'delivery',
    status: 'delivered',
    datetime: null,
  });
});

t.test('malformed IMDN documents are refused with a reason', async (t) => {
  t.throws(() => parseImdnXml('<foo/>'), /without an <imdn> root/);
  t.throws(
    () => parseImdnXml('<imdn xmlns="urn:wrong"><message-id>a</message-id></imdn>'),
    /not in the urn:ietf:params:xml:ns:imdn namespace/,
  );
  t.throws(
    () => parseImdnXml(`<imdn xmlns="urn:ietf:params:xml:ns:imdn"><display-notification/></imdn>`),
    /without a <message-id>/,
  );
  t.throws(
    () =>
      parseImdnXml(
        `<imdn xmlns="urn:ietf:params:xml:ns:imdn"><message-id>a</message-id><display-notification></display-notification></imdn>`,
      ),
    /has no <status>/,
  );
  t.throws(
    () =>
      parseImdnXml(
        `<imdn xmlns="urn:ietf:params:xml:ns:imdn"><message-id>a</message-id><display-notification><status><displayed/></status></display-notification><delivery-notification><status><delivered/></status></delivery-notification></imdn>`,
      ),
    /exactly one/,
  );
  t.throws(() => parseImdnXml(`<!DOCTYPE x [<!ENTITY a "b">]>${NOTIFICATION_XML}`), /DTD/);
  t.throws(() => parseImdnXml(`${NOTIFICATION_XML}${' '.repeat(20_000)}`), /too large/);
});

t.test('what Parley writes reads back: a notification in CPIM', async (t) => {
  const xml = imdnXml({
    messageId: 'm<1>',
    datetime: '2026-12-01T08:00:00.000Z',
    recipientUri: 'sip:alice@corp.test',
    status: 'delivered',
  });
  const body = cpimBody({
    from: 'sip:alice@corp.test',
    to: 'sip:bob@partner.test',
    messageId: 'n1',
    dateTime: '2026-12-01T08:00:01.000Z',
    contentType: 'message/imdn+xml',
    contentDisposition: 'notification',
    content: xml,
  });
  const text = body.toString('utf8');
  t.match(
    text,
    /^From: <sip:alice@corp\.test>\r\nTo: <sip:bob@partner\.test>\r\nNS: imdn <urn:ietf:params:imdn>\r\n/,
  );
  t.notMatch(text, /Disposition-Notification/, 'a notification asks for no notification');
  t.match(text, /Content-Disposition: notification/);
  const got = readImdn(sipMessage('message/cpim', body));
  t.match(got, {
    kind: 'notification',
    imdnId: 'n1',
    notification: {
      messageId: 'm<1>',
      kind: 'delivery',
      status: 'delivered',
      recipientUri: 'sip:alice@corp.test',
    },
  });
  const cpim = parseCpim(body);
  t.equal(cpim.mime.get('content-length'), String(Buffer.byteLength(xml)), 'the part is measured in bytes');
});

t.test('what Parley writes reads back: a message asking for notifications', async (t) => {
  const body = cpimBody({
    from: 'sip:alice@corp.test',
    to: 'sip:bob@partner.test',
    messageId: 'fx-1',
    dateTime: '2026-12-01T08:00:00.000Z',
    dispositions: ['positive-delivery', 'display'],
    contentType: 'text/plain;charset=UTF-8',
    content: 'héllo\r\n\r\nsecond paragraph',
  });
  const got = readImdn(sipMessage('message/cpim', body));
  t.match(got, {
    kind: 'request',
    request: { messageId: 'fx-1', dispositions: ['positive-delivery', 'display'] },
  });
  if (got.kind === 'request')
    t.equal(got.cpim.content, 'héllo\r\n\r\nsecond paragraph', 'blank lines in the text survive');
});

t.test('readImdn: other bodies are not IMDN; broken IMDN is an error to answer', async (t) => {
  t.same(readImdn(sipMessage('text/plain', Buffer.from('hi'))), { kind: 'none' });
  t.same(readImdn(sipMessage(null, Buffer.from('hi'))), { kind: 'none' });
  t.same(
    readImdn(sipMessage('message/cpim', crlf(['From: <sip:a@b>', '', 'Content-Type: text/plain', '', 'x']))),
    {
      kind: 'none',
    },
  );
  t.match(readImdn(sipMessage('message/cpim', Buffer.from('no headers at all'))), {
    kind: 'error',
    reason: /without the empty line/,
  });
  t.match(
    readImdn(
      sipMessage(
        'message/cpim',
        crlf(['NS: imdn <urn:ietf:params:imdn>', '', 'Content-Type: message/imdn+xml', '', '<imdn/>']),
      ),
    ),
    { kind: 'error', reason: /namespace/ },
  );
});

t.test('ids: tokens are kept, others replaced; receipts and statuses map both ways', async (t) => {
  t.equal(imdnMessageId('fx-x2s-1'), 'fx-x2s-1');
  t.match(imdnMessageId('$event:hs.test'), /^parley-[0-9a-f]{24}$/);
  t.same(requestsOf(['display', 'negative-delivery', 'positive-delivery']), ['delivered', 'displayed']);
  t.same(requestsOf([]), []);
  t.same(dispositionsFor(['chatstates', 'displayed', 'delivered']), ['positive-delivery', 'display']);
  t.same(dispositionsFor(['chatstates']), [], 'a sender that takes no receipts asks for none');
  t.same(dispositionsFor(undefined), []);
  t.equal(dispositionOf('delivered'), 'positive-delivery');
  t.equal(dispositionOf('displayed'), 'display');
  const n = { messageId: 'a', datetime: null, recipientUri: null };
  t.equal(statusOf({ ...n, kind: 'display', status: 'displayed' }), 'displayed');
  t.equal(statusOf({ ...n, kind: 'delivery', status: 'delivered' }), 'delivered');
  t.equal(statusOf({ ...n, kind: 'delivery', status: 'failed' }), null, 'no canonical negative receipt');
  t.equal(statusOf({ ...n, kind: 'processing', status: 'processed' }), null);
});

t.test('state: who asked for what, once per disposition, what Parley sent, who is capable', async (t) => {
  const store = new MemoryStore();
  const s = new ImdnState(namespacedState(store, 'sip:test:'), 'imdn:', 60_000, 60_000);
  t.equal(await s.capable('bob@partner.test'), false);
  await s.asked('bob@partner.test', { messageId: 'plain', dateTime: null, dispositions: [] });
  t.equal(await s.capable('bob@partner.test'), false, 'an id without a request proves nothing');
  t.equal(await s.askedOf('bob@partner.test', 'plain'), null);
  await s.asked('bob@partner.test', { messageId: 'm1', dateTime: 'dt', dispositions: ['display'] });
  t.equal(await s.capable('bob@partner.test'), true);
  t.same(await s.askedOf('bob@partner.test', 'm1'), { dispositions: ['display'], dateTime: 'dt' });
  t.equal(await s.askedOf('eve@partner.test', 'm1'), null, 'keyed by the sender too');
  t.equal(await s.once('bob@partner.test', 'm1', 'display'), true);
  t.equal(await s.once('bob@partner.test', 'm1', 'display'), false, 'a second display is not sent');
  await s.forget('bob@partner.test', 'm1', 'display');
  t.equal(await s.once('bob@partner.test', 'm1', 'display'), true, 'forgotten after a failed send');
  await s.sent('fx-1', { canonicalId: '$ev', from: 'carol@hs.test', to: 'bob@partner.test' });
  t.same(await s.sentOf('fx-1'), { canonicalId: '$ev', from: 'carol@hs.test', to: 'bob@partner.test' });
  t.equal(await s.sentOf('nope'), null);
  await store.set('sip:test:imdn:sent:broken', '{not json');
  t.equal(await s.sentOf('broken'), null, 'a corrupt entry reads as absent, not a crash');
});
