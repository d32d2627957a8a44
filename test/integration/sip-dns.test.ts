// RFC 3263 next hops with real SIP peers: no `route`; the partner's SIPp is found through
// SRV records served by a small DNS server in the test, with a dead target listed first,
// so Parley fails over (UDP: after Timer F; TCP: on the refused connection). A call to a
// SIPp phone found the same way has its ACK and BYE sent to the phone's Contact.
import dgram from 'node:dgram';
import t from 'tap';
import type { CallEvent, SessionDescription } from '../../src/core/model.js';
import { type FakeDns, startFakeDns } from '../fixtures/dns-server.js';
import { message } from '../fixtures/memory-adapter.js';
import { partnerPolicy, startSipRig } from '../fixtures/sip-rig.js';
import { freePort } from '../harness/processes.js';
import { ensureSipTools, freeUdpPort, startSipp } from '../harness/sip.js';

t.setTimeout(90_000);

const POLICY = partnerPolicy('sip-dns', ['udp.partner.test', 'tcp.partner.test']);
const T1 = 20;

ensureSipTools();

async function setup(dns: FakeDns, listen: string[]) {
  return startSipRig({
    policy: POLICY,
    sip: {
      listen,
      domains: ['udp.partner.test', 'tcp.partner.test'],
      dns: { servers: [dns.server], timeoutMs: 500, tries: 1, cacheS: 0 },
      timers: { t1: T1, t2: 4 * T1, t4: 100 },
    },
  });
}

/** SRV records: a dead target first (priority 10), then the live one (priority 20). */
const zone = (domain: string, proto: '_udp' | '_tcp', dead: number, live: number) => ({
  [domain]: [],
  [`_sip.${proto}.${domain}`]: [
    { type: 'SRV' as const, priority: 10, weight: 0, port: dead, target: `dead.${domain}` },
    { type: 'SRV' as const, priority: 20, weight: 0, port: live, target: `live.${domain}` },
  ],
  [`dead.${domain}`]: [{ type: 'A' as const, address: '127.0.0.1' }],
  [`live.${domain}`]: [{ type: 'A' as const, address: '127.0.0.1' }],
});

/** A UDP port nobody answers on (bound and silent, so no ICMP error short-cuts Timer F). */
async function silentUdp() {
  const s = dgram.createSocket('udp4');
  await new Promise<void>((r) => s.bind(0, '127.0.0.1', () => r()));
  return { port: s.address().port, close: () => new Promise<void>((r) => s.close(() => r())) };
}

t.test(
  'UDP via SRV: the first target times out (Timer F), the second (SIPp) takes the MESSAGE',
  async (t) => {
    const dead = await silentUdp();
    t.teardown(dead.close);
    const sippPort = await freeUdpPort();
    const dns = await startFakeDns(zone('udp.partner.test', '_udp', dead.port, sippPort));
    t.teardown(dns.close);
    const uas = startSipp({ scenario: 'message-uas.xml', port: sippPort, timeoutS: 15 });
    await new Promise((r) => setTimeout(r, 300));
    const env = await setup(dns, ['udp://127.0.0.1:0']);
    t.teardown(env.stop);
    const started = Date.now();
    const out = await env.corp.submit(
      message('xmpp:alice@corp.test', 'sip:bob@udp.partner.test', 'found by SRV'),
    );
    const ms = Date.now() - started;
    t.match(out, { status: 'delivered' });
    t.ok(ms >= 64 * T1, `failed over after Timer F (${ms} ms)`);
    const r = await uas.done;
    t.equal(r.code, 0, r.code === 0 ? 'SIPp got the MESSAGE' : r.messages.slice(-2000));
    t.match(
      r.messages,
      /MESSAGE sip:bob@udp\.partner\.test SIP\/2\.0\s+Via: SIP\/2\.0\/UDP 127\.0\.0\.1:\d+;branch=z9hG4bK/,
    );
    t.match(r.messages, /found by SRV/);
    t.ok(dns.queries.includes('SRV _sip._udp.udp.partner.test'), 'looked up by SRV');
  },
);

t.test('TCP via SRV: a refused connection fails over at once to SIPp over TCP', async (t) => {
  const deadPort = await freePort(); // nothing listens: connection refused
  const sippPort = await freePort();
  const dns = await startFakeDns(zone('tcp.partner.test', '_tcp', deadPort, sippPort));
  t.teardown(dns.close);
  const uas = startSipp({ scenario: 'message-uas.xml', port: sippPort, transport: 't1', timeoutS: 15 });
  await new Promise((r) => setTimeout(r, 300));
  const env = await setup(dns, ['udp://127.0.0.1:0', 'tcp://127.0.0.1:0']);
  t.teardown(env.stop);
  const started = Date.now();
  const out = await env.corp.submit(
    message('xmpp:alice@corp.test', 'sip:bob@tcp.partner.test', 'TCP by SRV'),
  );
  const ms = Date.now() - started;
  t.match(out, { status: 'delivered' });
  t.ok(ms < 64 * T1, `no timer needed (${ms} ms)`);
  const r = await uas.done;
  t.equal(r.code, 0, r.code === 0 ? 'SIPp got the MESSAGE over TCP' : r.messages.slice(-2000));
  t.match(r.messages, /MESSAGE sip:bob@tcp\.partner\.test SIP\/2\.0\s+Via: SIP\/2\.0\/TCP /);
});

t.test('no usable DNS answer: the sender is told why', async (t) => {
  const dns = await startFakeDns({});
  t.teardown(dns.close);
  const env = await setup(dns, ['udp://127.0.0.1:0']);
  t.teardown(env.stop);
  const out = await env.corp.submit(message('xmpp:alice@corp.test', 'sip:bob@udp.partner.test', 'x'));
  t.match(out, { status: 'failed', code: 'delivery' });
  t.match(env.corp.refused[0]?.refusal.reason, /no next hop: udp\.partner\.test has no A or AAAA record/);
});

const SESSION: SessionDescription = {
  media: [
    {
      media: 'audio',
      port: 40000,
      address: '127.0.0.1',
      protocol: 'RTP/AVP',
      direction: 'sendrecv',
      codecs: [{ payloadType: 0, name: 'PCMU', clockRate: 8000 }],
    },
  ],
};

t.test("a call to a phone found by SRV: ACK and BYE go to the phone's Contact", async (t) => {
  const uasPort = await freeUdpPort();
  const dns = await startFakeDns(zone('udp.partner.test', '_udp', uasPort, uasPort));
  t.teardown(dns.close);
  const uas = startSipp({ scenario: 'invite-uas.xml', port: uasPort, timeoutS: 15 });
  await new Promise((r) => setTimeout(r, 300));
  const env = await setup(dns, ['udp://127.0.0.1:0']);
  t.teardown(env.stop);
  const base = {
    kind: 'call' as const,
    time: new Date().toISOString(),
    from: 'xmpp:alice@corp.test',
    to: 'sip:carol@udp.partner.test',
    adapter: 'corp',
    traceId: 't',
    callId: 'dns-call-1',
  };
  t.match(await env.corp.submit({ ...base, id: 'd-inv', action: 'invite', session: SESSION }), {
    status: 'delivered',
  });
  const calls = () => env.corp.delivered.map((d) => d.event).filter((e): e is CallEvent => e.kind === 'call');
  const end = Date.now() + 5000;
  while (!calls().some((e) => e.action === 'answer') && Date.now() < end)
    await new Promise((r) => setTimeout(r, 20));
  t.ok(
    calls().some((e) => e.action === 'answer'),
    'answered',
  );
  t.match(await env.corp.submit({ ...base, id: 'd-bye', action: 'hangup' }), { status: 'delivered' });
  const r = await uas.done;
  t.equal(r.code, 0, r.code === 0 ? 'SIPp UAS: INVITE, ACK, BYE' : r.messages.slice(-3000));
  t.match(r.messages, /ACK sip:callee@127\.0\.0\.1:\d+ SIP\/2\.0/);
  t.match(r.messages, /BYE sip:callee@127\.0\.0\.1:\d+ SIP\/2\.0/);
  t.equal(env.sip.calls.size, 0);
});
