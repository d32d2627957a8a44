import dgram from 'node:dgram';
import t from 'tap';
import { isComposingXml, readBody } from '../../../src/adapters/sip/content.js';
import { buildSipAdapter, resolveSipConfig, SipConfigError } from '../../../src/adapters/sip/index.js';
import {
  parseMessage,
  type SipRequest,
  type SipResponse,
  serialize,
} from '../../../src/adapters/sip/message.js';
import { Router } from '../../../src/adapters/sip/nexthop.js';
import { newBranch, TransactionLayer } from '../../../src/adapters/sip/transaction.js';
import { SipTransport } from '../../../src/adapters/sip/transport.js';
import { silentLogger } from '../../../src/core/logger.js';

const base = {
  type: 'sip',
  listen: ['udp://127.0.0.1:0'],
  domains: ['Partner.test'],
  route: 'sip:127.0.0.1:5070',
  peers: ['127.0.0.1/32', '10.0.0.0/8', '2001:db8::/32'],
};

const configError = (raw: Record<string, unknown>) => {
  try {
    resolveSipConfig(raw);
  } catch (err) {
    return err instanceof SipConfigError
      ? { path: err.path, message: err.message }
      : { path: ['?'], message: String(err) };
  }
  return null;
};

t.test('config: resolved, and every mistake names its key', async (t) => {
  const c = resolveSipConfig(base);
  t.same(c.listen, [{ transport: 'udp', host: '127.0.0.1', port: 0 }]);
  t.same(c.route, { transport: 'udp', host: '127.0.0.1', port: 5070 });
  t.same(c.domains, ['partner.test']);
  t.same(c.timers, { t1: 500, t2: 4000, t4: 5000 });
  t.match(configError({ ...base, listen: ['udp://127.0.0.1'] }), { path: ['listen', 0] });
  t.match(configError({ ...base, listen: ['sctp://127.0.0.1:5060'] }), { path: ['listen', 0] });
  t.match(configError({ ...base, route: 'http://x' }), { path: ['route'] });
  t.match(configError({ ...base, route: 'sip:127.0.0.1:5070;transport=tcp' }), {
    path: ['listen'],
    message: /needs a tcp/,
  });
  t.match(configError({ ...base, peers: ['10.0.0.0/33'] }), { path: ['peers', 0] });
  t.match(configError({ ...base, peers: ['example.com'] }), { path: ['peers', 0] });
  t.match(configError({ ...base, bogus: 1 }), { path: [] });
  t.match(configError({ ...base, timers: { t1: 0 } }), { path: ['timers', 't1'] });
  const { peers: _p, ...noPeers } = base;
  t.match(configError(noPeers), { message: /peers/ });
});

t.test('peers: CIDR matching for IPv4, IPv4-mapped IPv6 and IPv6', async (t) => {
  const a = buildSipAdapter('s', base, { logger: silentLogger, configDir: '.' });
  t.ok(a.permitted('127.0.0.1'));
  t.ok(a.permitted('10.200.3.4'));
  t.ok(a.permitted('::ffff:10.1.1.1'));
  t.ok(a.permitted('2001:db8::5'));
  t.notOk(a.permitted('127.0.0.2'));
  t.notOk(a.permitted('192.0.2.1'));
  t.notOk(a.permitted('2001:db9::1'));
  t.same([...a.capabilities.kinds].sort(), ['call', 'chatstate', 'message', 'presence', 'receipt']);
  t.same([...a.capabilities.callActions].sort(), ['answer', 'hangup', 'invite', 'ringing']);
});

const req = (ct: string | null, body: string): SipRequest =>
  parseMessage(
    Buffer.from(
      'MESSAGE sip:a@corp.test SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1;branch=z9hG4bK1\r\nFrom: <sip:b@p.test>;tag=1\r\n' +
        `To: <sip:a@corp.test>\r\nCall-ID: x\r\nCSeq: 1 MESSAGE\r\n${ct ? `Content-Type: ${ct}\r\n` : ''}` +
        `Content-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`,
    ),
  ) as SipRequest;

t.test('MESSAGE bodies: text/plain, message/cpim, isComposing, and what is refused', async (t) => {
  t.same(readBody(req('text/plain;charset=UTF-8', 'héllo')), { kind: 'text', text: 'héllo' });
  t.same(readBody(req(null, 'no type')), { kind: 'text', text: 'no type' });
  const cpim =
    'From: <sip:b@p.test>\r\nTo: <sip:a@corp.test>\r\nDateTime: 2026-11-26T01:00:00Z\r\n\r\n' +
    'Content-Type: text/plain;charset=utf-8\r\n\r\nhello through CPIM';
  t.same(readBody(req('message/cpim', cpim)), { kind: 'text', text: 'hello through CPIM' });
  t.same(readBody(req('application/im-iscomposing+xml', isComposingXml('active'))), {
    kind: 'composing',
    state: 'composing',
  });
  t.same(readBody(req('application/im-iscomposing+xml', isComposingXml('idle'))), {
    kind: 'composing',
    state: 'paused',
  });
  t.match(readBody(req('application/im-iscomposing+xml', '<x/>')), { kind: 'unsupported' });
  t.match(readBody(req('message/cpim', 'no blank line')), { kind: 'unsupported' });
  t.match(readBody(req('text/html', '<b>x</b>')), { kind: 'unsupported', type: 'text/html' });
  t.match(readBody(req('text/plain;charset=iso-8859-1', 'x')), { kind: 'unsupported' });
  t.match(isComposingXml('active'), /<refresh>60<\/refresh>/);
});

async function pair(t1: number) {
  const peer = dgram.createSocket('udp4');
  await new Promise<void>((r) => peer.bind(0, '127.0.0.1', () => r()));
  const seen: { at: number; text: string }[] = [];
  const transport = new SipTransport(
    [{ transport: 'udp', host: '127.0.0.1', port: 0 }],
    {
      onMessage: (m) => {
        if (m.kind === 'response') layer.receiveResponse(m);
      },
      onUnparsable: () => {},
    },
    silentLogger,
  );
  await transport.start();
  const layer = new TransactionLayer(transport, { t1, t2: 4 * t1, t4: 50 }, silentLogger);
  const started = Date.now();
  peer.on('message', (m) => seen.push({ at: Date.now() - started, text: m.toString() }));
  const request = (): SipRequest => ({
    kind: 'request',
    method: 'MESSAGE',
    uri: 'sip:bob@partner.test',
    headers: [
      { name: 'Via', value: `SIP/2.0/UDP 127.0.0.1:${transport.local('udp')!.port};branch=${newBranch()}` },
      { name: 'From', value: '<sip:a@corp.test>;tag=1' },
      { name: 'To', value: '<sip:bob@partner.test>' },
      { name: 'Call-ID', value: 'c1' },
      { name: 'CSeq', value: '1 MESSAGE' },
    ],
    body: Buffer.from('x'),
  });
  return {
    peer,
    seen,
    transport,
    layer,
    request,
    dest: { transport: 'udp' as const, address: '127.0.0.1', port: peer.address().port },
    close: async () => {
      layer.stop();
      await transport.stop();
      peer.close();
    },
  };
}

t.test('client non-INVITE: Timer E doubles up to T2, Timer F ends it', async (t) => {
  const p = await pair(20);
  t.teardown(p.close);
  const tx = p.layer.request(p.request(), p.dest);
  const r = await tx.done;
  t.match(r, { ok: false, timeout: true, reason: /Timer F/ });
  // Sends at 0, 20, 60, 140, then every T2 = 80 ms until 64*T1 = 1280 ms (18 in all).
  // Timers may fire late on a loaded machine and the peer may read a datagram late, which
  // stretches one gap and shortens the next: the checks use sums and medians. Doubling:
  // the first three gaps take ~140 ms (20 + 40 + 80; without doubling 60). Cap: the
  // median later gap is T2, none far above it. Count: only a missing cap or a missing
  // Timer F could push it outside.
  const gaps = p.seen.slice(1).map((s, i) => s.at - p.seen[i]!.at);
  const firstThree = (p.seen[3]?.at ?? 0) - (p.seen[0]?.at ?? 0);
  t.ok(firstThree >= 110, `the interval doubles from T1: ${gaps.slice(0, 3).join(',')}`);
  const later = gaps.slice(3).sort((a, b) => a - b);
  const median = later[Math.floor(later.length / 2)] ?? 0;
  t.ok(median >= 70 && median <= 100, `then stays at T2: median ${median} (${gaps.join(',')})`);
  t.ok(
    gaps.every((g) => g < 80 + 100),
    `no gap above T2 (+ scheduling slack): ${gaps.join(',')}`,
  );
  t.ok(p.seen.length >= 8 && p.seen.length <= 19, `${p.seen.length} transmissions before Timer F`);
});

t.test(
  'client non-INVITE: a provisional stops the doubling, the final ends it, K absorbs repeats',
  async (t) => {
    const p = await pair(20);
    t.teardown(p.close);
    const reqMsg = p.request();
    const tx = p.layer.request(reqMsg, p.dest);
    await new Promise((r) => setTimeout(r, 30));
    const answer = (status: number, reason: string) => {
      const got = parseMessage(Buffer.from(p.seen[0]!.text));
      const res = serialize({
        kind: 'response',
        status,
        reason,
        headers: got.headers.filter((h) => ['Via', 'From', 'To', 'Call-ID', 'CSeq'].includes(h.name)),
        body: Buffer.alloc(0),
      });
      p.peer.send(res, p.transport.local('udp')!.port, '127.0.0.1');
    };
    answer(100, 'Trying');
    await new Promise((r) => setTimeout(r, 50));
    t.equal(tx.state, 'proceeding');
    answer(404, 'Not Found');
    const r = await tx.done;
    t.ok(r.ok && r.response.status === 404, 'the final response is the result');
    const sent = p.seen.length;
    t.equal(p.layer.client.size, 0, 'the transaction object is done');
    t.same(p.layer.lingering(), { server: 0, client: 1 }, 'its key is kept for Timer K (T4 = 50 ms)');
    const retransmitted = parseMessage(
      serialize({
        kind: 'response',
        status: 404,
        reason: 'Not Found',
        headers: parseMessage(Buffer.from(p.seen[0]!.text)).headers.filter((h) =>
          ['Via', 'From', 'To', 'Call-ID', 'CSeq'].includes(h.name),
        ),
        body: Buffer.alloc(0),
      }),
    );
    t.ok(p.layer.receiveResponse(retransmitted as SipResponse), 'a retransmitted final is absorbed');
    answer(404, 'Not Found'); // (and over the wire: no new request follows)
    await new Promise((r) => setTimeout(r, 100));
    t.equal(p.seen.length, sent, 'no more requests after the final response');
    t.same(p.layer.lingering(), { server: 0, client: 0 }, 'Timer K forgot it');
    t.notOk(p.layer.receiveResponse(retransmitted as SipResponse), 'after Timer K a final matches nothing');
  },
);

t.test('router: a request too large for SIP over UDP is refused unsent; one at the limit goes', async (t) => {
  const p = await pair(20);
  t.teardown(p.close);
  const router = new Router(p.layer, p.dest, null, (tr) => ({
    hostport: `127.0.0.1:${p.transport.local(tr)!.port}`,
    transport: tr,
  }));
  // Answer whatever arrives with a 200, as the far end would.
  p.peer.on('message', (m, rinfo) => {
    const req = parseMessage(m);
    if (req.kind !== 'request') return;
    const res = {
      kind: 'response' as const,
      status: 200,
      reason: 'OK',
      headers: req.headers,
      body: Buffer.alloc(0),
    };
    p.peer.send(serialize(res), rinfo.port, rinfo.address);
  });
  const sized = (bytes: number): SipRequest => {
    const r = p.request();
    const over = serialize(r).length - r.body.length;
    return { ...r, body: Buffer.alloc(bytes - over - String(bytes).length + 1, 'a') };
  };
  const exact = (bytes: number) => {
    // Adjust for the Content-Length digits so the wire size is exactly `bytes`.
    let r = sized(bytes);
    while (serialize(r).length > bytes) r = { ...r, body: r.body.subarray(1) };
    while (serialize(r).length < bytes) r = { ...r, body: Buffer.concat([r.body, Buffer.from('a')]) };
    return r;
  };
  const atLimit = exact(1300);
  t.equal(serialize(atLimit).length, 1300);
  const ok = await router.send(atLimit, { maxUdpBytes: 1300 });
  t.match(ok.result, { ok: true }, 'a 1,300-byte request is sent and answered');

  const before = p.seen.length;
  const big = exact(1301);
  const refused = await router.send(big, { maxUdpBytes: 1300 });
  t.match(refused.result, { ok: false, timeout: false, reason: /too large for SIP over UDP/ });
  t.equal(refused.request, null, 'nothing sent');
  await new Promise((r) => setTimeout(r, 50));
  t.equal(p.seen.length, before, 'the peer received nothing more');
});
