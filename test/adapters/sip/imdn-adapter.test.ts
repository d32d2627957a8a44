// IMDN (RFC 5438) through the SIP adapter over a real UDP socket, with the real pipeline:
// the socket plays bob's SIP client and Parley's next hop; the other network is the
// in-memory adapter (the federation test does the same with SIPp, Kamailio and real clients).
import dgram from 'node:dgram';
import t from 'tap';
import type { CanonicalEvent } from '../../../src/core/model.js';
import { partnerPolicy, startSipRig } from '../../fixtures/sip-rig.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function setup() {
  const sock = dgram.createSocket('udp4');
  await new Promise<void>((r) => sock.bind(0, '127.0.0.1', () => r()));
  const me = sock.address().port;
  const rig = await startSipRig({
    name: 'sip',
    policy: partnerPolicy('imdn'),
    sip: {
      listen: ['udp://127.0.0.1:0'],
      domains: ['partner.test'],
      route: `sip:127.0.0.1:${me}`,
      timers: { t1: 20, t4: 50 },
    },
  });
  const { corp, sip, pipeline } = rig;
  const port = sip.transport.local('udp')!.port;
  /** Requests Parley sent to its next hop (answered 200), and responses to ours. */
  const requests: string[] = [];
  const responses: string[] = [];
  sock.on('message', (m, from) => {
    const text = m.toString();
    if (text.startsWith('SIP/2.0')) return void responses.push(text);
    requests.push(text);
    const h = (n: string) => new RegExp(`^${n}:.*$`, 'm').exec(text)?.[0] ?? '';
    const ok = ['SIP/2.0 200 OK', h('Via'), h('From'), `${h('To')};tag=ph`, h('Call-ID'), h('CSeq')];
    sock.send(Buffer.from(`${ok.join('\r\n')}\r\nContent-Length: 0\r\n\r\n`), from.port, from.address);
  });
  let n = 0;
  /** A MESSAGE from `from` to alice@corp.test; resolves with Parley's answer. */
  const message = async (contentType: string, body: string, from = 'bob@partner.test') => {
    n++;
    const b = body.replace(/\r?\n/g, '\r\n');
    const text = [
      'MESSAGE sip:alice@corp.test SIP/2.0',
      `Via: SIP/2.0/UDP 127.0.0.1:${me};branch=z9hG4bKimdn${n};rport`,
      `From: <sip:${from}>;tag=f${n}`,
      'To: <sip:alice@corp.test>',
      `Call-ID: imdn-${n}`,
      'CSeq: 1 MESSAGE',
      'Max-Forwards: 70',
      `Content-Type: ${contentType}`,
      `Content-Length: ${Buffer.byteLength(b)}`,
      '',
      b,
    ].join('\r\n');
    const before = responses.length;
    sock.send(Buffer.from(text), port, '127.0.0.1');
    // Waits for the answer (up to 20 s: a loaded machine may take seconds), so that what the
    // adapter remembers before it answers is there when the test goes on.
    for (let i = 0; i < 2000 && !responses.slice(before).some((r) => r.includes(`Call-ID: imdn-${n}`)); i++)
      await sleep(10);
    const answer = responses.slice(before).find((r) => r.includes(`Call-ID: imdn-${n}`));
    if (answer === undefined) throw new Error(`no answer to MESSAGE imdn-${n} within 20 s`);
    return answer;
  };
  return {
    corp,
    sip,
    pipeline,
    requests,
    message,
    stop: async () => {
      sock.close();
      await rig.stop();
    },
  };
}

const cpimAsking = (id: string, asked: string, text: string) => `From: <sip:bob@partner.test>
To: <sip:alice@corp.test>
NS: imdn <urn:ietf:params:imdn>
imdn.Message-ID: ${id}
DateTime: 2026-12-01T08:00:00Z
imdn.Disposition-Notification: ${asked}

Content-Type: text/plain;charset=UTF-8

${text}`;

const notification = (about: string, kind: string, status: string) => `From: <sip:bob@partner.test>
To: <sip:alice@corp.test>
NS: imdn <urn:ietf:params:imdn>
imdn.Message-ID: n-${about}-${status}
DateTime: 2026-12-01T08:00:05Z

Content-Type: message/imdn+xml
Content-Disposition: notification

<?xml version="1.0" encoding="UTF-8"?>
<imdn xmlns="urn:ietf:params:xml:ns:imdn"><message-id>${about}</message-id>
<${kind}-notification><status><${status}/></status></${kind}-notification></imdn>`;

const receipt = (messageId: string, r: 'delivered' | 'displayed', id: string): CanonicalEvent => ({
  kind: 'receipt',
  id,
  time: '2026-12-01T08:00:01.000Z',
  from: 'xmpp:alice@corp.test',
  to: 'sip:bob@partner.test',
  adapter: 'corp',
  traceId: id,
  receipt: r,
  messageId,
});

t.test('a CPIM message asking for IMDN keeps its id; receipts for it become IMDNs, once each', async (t) => {
  const env = await setup();
  t.teardown(env.stop);
  const answer = await env.message(
    'message/cpim',
    cpimAsking('m-1', 'positive-delivery, display', 'hi alice'),
  );
  t.match(answer, /^SIP\/2\.0 200 /);
  t.match(env.corp.delivered[0]?.event, {
    kind: 'message',
    id: 'm-1',
    body: 'hi alice',
    requests: ['chatstates', 'delivered', 'displayed'],
  });
  t.match(await env.corp.submit(receipt('m-1', 'delivered', 'r1')), { status: 'delivered' });
  t.match(await env.corp.submit(receipt('m-1', 'delivered', 'r2')), { status: 'delivered' });
  t.match(await env.corp.submit(receipt('m-1', 'displayed', 'r3')), { status: 'delivered' });
  const imdns = env.requests.filter((r) => r.includes('message/imdn+xml'));
  t.equal(imdns.length, 2, 'one delivery and one display notification, the repeat not sent');
  t.match(imdns[0], /^MESSAGE sip:bob@partner\.test SIP\/2\.0/);
  t.match(imdns[0], /Content-Type: message\/cpim/);
  t.match(imdns[0], /From: <sip:alice@corp\.test>/);
  t.match(imdns[0], /<message-id>m-1<\/message-id>[\s\S]*<datetime>2026-12-01T08:00:00Z<\/datetime>/);
  t.match(imdns[0], /<delivered\/>/);
  t.match(imdns[1], /<displayed\/>/);
});

t.test('a receipt for a message that did not ask is not sent, and nobody is told', async (t) => {
  const env = await setup();
  t.teardown(env.stop);
  await env.message('text/plain', 'plain hi');
  await env.message('message/cpim', cpimAsking('m-2', 'positive-delivery', 'asks for delivery only'));
  const plainId = env.corp.delivered[0]!.event.id;
  t.match(await env.corp.submit(receipt(plainId, 'displayed', 'r1')), { status: 'delivered' });
  t.match(await env.corp.submit(receipt('m-2', 'displayed', 'r2')), { status: 'delivered' });
  await env.pipeline.drain();
  t.same(env.requests, [], 'nothing sent to the SIP side');
  t.same(env.corp.refused, [], 'no refusal');
  t.same(env.corp.noticed, [], 'no notice');
});

t.test("IMDNs for Parley's messages become receipts; strangers' and unknown ones do not", async (t) => {
  const env = await setup();
  t.teardown(env.stop);
  const toBob = (id: string, requests?: ('delivered' | 'displayed' | 'chatstates')[]): CanonicalEvent => ({
    kind: 'message',
    id,
    time: '2026-12-01T08:00:00.000Z',
    from: 'xmpp:alice@corp.test',
    to: 'sip:bob@partner.test',
    adapter: 'corp',
    traceId: id,
    body: `text of ${id}`,
    ...(requests ? { requests } : {}),
  });
  await env.corp.submit(toBob('a-0', ['delivered', 'displayed']));
  t.match(env.requests[0], /Content-Type: text\/plain/, 'bob has not shown he speaks IMDN: plain text');
  await env.message('message/cpim', cpimAsking('m-3', 'display', 'bob speaks IMDN'));
  await env.corp.submit(toBob('a-1', ['delivered', 'displayed']));
  await env.corp.submit(toBob('a-2', ['chatstates']));
  await env.corp.submit(toBob('$not:a-token', ['displayed']));
  const [cpim, plain, mapped] = env.requests.slice(1);
  t.match(
    cpim,
    /Content-Type: message\/cpim[\s\S]*imdn\.Message-ID: a-1\r\n[\s\S]*imdn\.Disposition-Notification: positive-delivery, display\r\n/,
  );
  t.match(cpim, /\r\n\r\ntext of a-1$/);
  t.match(plain, /Content-Type: text\/plain/, 'a sender that takes no receipts asks for none');
  const mappedId = /imdn\.Message-ID: (\S+)/.exec(mapped ?? '')?.[1] ?? '';
  t.match(mappedId, /^parley-[0-9a-f]{24}$/, 'an id that is no token is replaced');
  t.match(mapped, /imdn\.Disposition-Notification: display\r\n/);

  t.match(await env.message('message/cpim', notification('a-1', 'delivery', 'delivered')), /^SIP\/2\.0 200 /);
  t.match(
    await env.message('message/cpim', notification(mappedId, 'display', 'displayed')),
    /^SIP\/2\.0 200 /,
  );
  const receipts = () => env.corp.delivered.filter((d) => d.event.kind === 'receipt').map((d) => d.event);
  t.match(receipts(), [
    { from: 'sip:bob@partner.test', to: 'xmpp:alice@corp.test', receipt: 'delivered', messageId: 'a-1' },
    { receipt: 'displayed', messageId: '$not:a-token' },
  ]);
  // Not carried (answered 200): from someone the message did not go to, about a message
  // Parley never sent, or a status the model has no receipt for.
  t.match(
    await env.message('message/cpim', notification('a-1', 'display', 'displayed'), 'eve@partner.test'),
    /^SIP\/2\.0 200 /,
  );
  await env.message('message/cpim', notification('never-sent', 'display', 'displayed'));
  await env.message('message/cpim', notification('a-1', 'delivery', 'failed'));
  t.equal(receipts().length, 2, 'none of those became a receipt');
  t.match(
    await env.message(
      'message/cpim',
      notification('a-1', 'display', 'displayed').replace('urn:ietf:params:xml:ns:imdn', 'urn:x'),
    ),
    /^SIP\/2\.0 400 .*namespace/,
    'a malformed notification is answered 400 with the reason',
  );
});
