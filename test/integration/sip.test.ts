// The SIP adapter against real SIP peers: SIPp (scenarios in test/integration/sipp/) and
// Kamailio, through the real pipeline (MemoryStore, AuditWriter, a compiled policy), with
// an in-process MemoryAdapter standing for the enterprise's XMPP side.
import dgram from 'node:dgram';
import { readdirSync, readFileSync } from 'node:fs';
import net from 'node:net';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import t from 'tap';
import { buildSipAdapter, type SipAdapter } from '../../src/adapters/sip/index.js';
import { verifyLog } from '../../src/core/audit/verify.js';
import { AuditWriter } from '../../src/core/audit/writer.js';
import { silentLogger } from '../../src/core/logger.js';
import { Pipeline } from '../../src/core/pipeline.js';
import { compilePolicySource } from '../../src/core/policy/index.js';
import { MemoryStore } from '../../src/store/memory.js';
import { MemoryAdapter, message } from '../fixtures/memory-adapter.js';
import { ensureSipTools, freeUdpPort, runSipp, startKamailio, startSipp } from '../harness/sip.js';

const POLICY = `
apiVersion: parley/v1
kind: Policy
metadata: { name: sip-it, version: "1" }
zones:
  enterprise: { domains: [corp.test] }
  partner: { domains: [partner.test] }
  consumer: { domains: ["*"] }
defaults: { decision: deny }
rules:
  - id: partners-talk
    match: { between: [{ zone: enterprise }, { zone: partner }], kind: [message, chatstate] }
    effect: allow
  - id: block-rival
    match: { party: { domain: [rival.test] } }
    effect: deny
    reason: Communication with competitors is prohibited
`;

const T1 = 20; // Timer F = 64*T1 = 1.28 s

ensureSipTools();

async function setup(opts: { route?: string; peers?: string[] } = {}) {
  const store = new MemoryStore();
  const audit = new AuditWriter(store.audit, {});
  const policy = compilePolicySource(POLICY, 'sip-it.yaml');
  const pipeline = new Pipeline({ policy: () => policy, audit, store, logger: silentLogger });
  const corp = new MemoryAdapter('corp', 'xmpp', ['corp.test']);
  const sip = buildSipAdapter(
    'partner-sip',
    {
      type: 'sip',
      listen: ['udp://127.0.0.1:0', 'tcp://127.0.0.1:0'],
      domains: ['partner.test', 'rival.test'],
      route: opts.route ?? `sip:127.0.0.1:${await freeUdpPort()}`,
      peers: opts.peers ?? ['127.0.0.1/32'],
      timers: { t1: T1, t2: 4 * T1, t4: 100 },
    },
    { logger: silentLogger, configDir: '.' },
  );
  await corp.start(pipeline.register(corp));
  await sip.start(pipeline.register(sip));
  const udpPort = sip.transport.local('udp')!.port;
  const tcpPort = sip.transport.local('tcp')!.port;
  return {
    store,
    audit,
    corp,
    sip,
    udpPort,
    tcpPort,
    stop: async () => {
      await sip.stop();
      await audit.close();
    },
  };
}

type Env = Awaited<ReturnType<typeof setup>>;

const keys = (from: string, to: string, body: string) => {
  const [fu, fd] = from.split('@') as [string, string];
  const [tu, td] = to.split('@') as [string, string];
  return { from_user: fu, from_domain: fd, to_user: tu, to_domain: td, body };
};

const waitFor = async (cond: () => boolean, ms = 3000) => {
  const end = Date.now() + ms;
  while (!cond() && Date.now() < end) await new Promise((r) => setTimeout(r, 20));
  return cond();
};

const bodyOf = (env: Env, i = 0) => {
  const e = env.corp.delivered[i]?.event;
  return e?.kind === 'message' ? e.body : undefined;
};

t.test('SIPp MESSAGE allowed by the policy: 200 and delivered once, audited', async (t) => {
  const env = await setup();
  t.teardown(env.stop);
  const r = await runSipp({
    scenario: 'message-uac-200.xml',
    port: await freeUdpPort(),
    target: `127.0.0.1:${env.udpPort}`,
    keys: keys('bob@partner.test', 'alice@corp.test', 'hello from SIPp'),
  });
  t.equal(r.code, 0, r.code === 0 ? 'sipp succeeded' : `sipp succeeded\n${r.messages.slice(-1500)}`);
  t.match(r.messages, /SIP\/2\.0 200 OK/);
  t.equal(env.corp.delivered.length, 1);
  const d = env.corp.delivered[0]!;
  t.equal(d.event.from, 'sip:bob@partner.test');
  t.equal(d.event.to, 'xmpp:alice@corp.test', 'addressed on the network that serves corp.test');
  t.equal(bodyOf(env)?.trim(), 'hello from SIPp');
  await env.audit.flush();
  const [rec] = await env.store.audit.range(1, 10);
  t.match(rec, { decision: 'allow', rule: 'partners-talk', fromNetwork: 'sip' });
});

t.test('SIPp MESSAGE denied by the policy: 403 with the rule reason, nothing delivered', async (t) => {
  const env = await setup();
  t.teardown(env.stop);
  const r = await runSipp({
    scenario: 'message-uac-403.xml',
    port: await freeUdpPort(),
    target: `127.0.0.1:${env.udpPort}`,
    keys: keys('eve@rival.test', 'alice@corp.test', 'psst'),
  });
  t.equal(r.code, 0, r.code === 0 ? 'sipp got its 403' : `sipp got its 403\n${r.messages.slice(-1500)}`);
  t.match(r.messages, /SIP\/2\.0 403 Communication with competitors is prohibited/);
  t.match(r.messages, /Warning: 399 parley "Communication with competitors is prohibited"/);
  t.equal(env.corp.delivered.length, 0);
  const [rec] = await env.store.audit.range(1, 10);
  t.match(rec, { decision: 'deny', rule: 'block-rival' });
  await env.audit.close();
  t.match(await verifyLog(env.store.audit), { ok: true });
});

t.test('outbound: a message from the enterprise reaches the SIPp UAS and gets 200', async (t) => {
  const uasPort = await freeUdpPort();
  const uas = startSipp({ scenario: 'message-uas.xml', port: uasPort, timeoutS: 15 });
  await new Promise((r) => setTimeout(r, 300)); // SIPp binds its socket
  const env = await setup({ route: `sip:127.0.0.1:${uasPort}` });
  t.teardown(env.stop);
  const out = await env.corp.submit(
    message('xmpp:alice@corp.test', 'sip:bob@partner.test', 'hello SIP, from XMPP'),
  );
  t.match(out, { status: 'delivered', decision: 'allow' });
  const r = await uas.done;
  t.equal(
    r.code,
    0,
    r.code === 0 ? 'sipp UAS saw one MESSAGE' : `sipp UAS saw one MESSAGE\n${r.messages.slice(-1500)}`,
  );
  t.match(r.messages, /MESSAGE sip:bob@partner\.test SIP\/2\.0/);
  t.match(r.messages, /From: <sip:alice@corp\.test>;tag=/);
  t.match(r.messages, /hello SIP, from XMPP/);
  t.equal(env.corp.refused.length, 0);
});

t.test('isComposing (RFC 3994) <-> chat states, both ways, with SIPp', async (t) => {
  const uasPort = await freeUdpPort();
  const uas = startSipp({ scenario: 'message-uas.xml', port: uasPort, timeoutS: 15 });
  await new Promise((r) => setTimeout(r, 300));
  const env = await setup({ route: `sip:127.0.0.1:${uasPort}` });
  t.teardown(env.stop);
  for (const [state, canonical] of [
    ['active', 'composing'],
    ['idle', 'paused'],
  ] as const) {
    const r = await runSipp({
      scenario: 'iscomposing-uac.xml',
      port: await freeUdpPort(),
      target: `127.0.0.1:${env.udpPort}`,
      keys: { ...keys('bob@partner.test', 'alice@corp.test', ''), state },
    });
    t.equal(r.code, 0, r.code === 0 ? `isComposing ${state}: 200` : r.messages.slice(-1500));
    const e = env.corp.delivered.at(-1)?.event;
    t.same(e?.kind === 'chatstate' && [e.from, e.state], ['sip:bob@partner.test', canonical]);
  }
  const out = await env.corp.submit({
    kind: 'chatstate',
    id: 'cs1',
    time: new Date().toISOString(),
    from: 'xmpp:alice@corp.test',
    to: 'sip:bob@partner.test',
    adapter: 'corp',
    traceId: 'cs1',
    state: 'composing',
  });
  t.match(out, { status: 'delivered' });
  const r = await uas.done;
  t.equal(r.code, 0, 'SIPp UAS answered the isComposing MESSAGE');
  t.match(r.messages, /Content-Type: application\/im-iscomposing\+xml/);
  t.match(r.messages, /<state>active<\/state>/);
});

t.test('TCP both ways: SIPp sends over TCP, Parley routes to a TCP next hop', async (t) => {
  const uasPort = await freeUdpPort();
  const uas = startSipp({ scenario: 'message-uas.xml', port: uasPort, transport: 't1', timeoutS: 15 });
  await new Promise((r) => setTimeout(r, 300));
  const env = await setup({ route: `sip:127.0.0.1:${uasPort};transport=tcp` });
  t.teardown(env.stop);
  const r = await runSipp({
    scenario: 'message-uac-200.xml',
    port: await freeUdpPort(),
    transport: 't1',
    target: `127.0.0.1:${env.tcpPort}`,
    keys: keys('bob@partner.test', 'alice@corp.test', 'over TCP'),
  });
  t.equal(r.code, 0, r.code === 0 ? 'SIPp over TCP got 200' : r.messages.slice(-1500));
  t.equal(bodyOf(env)?.trim(), 'over TCP');
  const out = await env.corp.submit(message('xmpp:alice@corp.test', 'sip:bob@partner.test', 'to a TCP hop'));
  t.match(out, { status: 'delivered' });
  const u = await uas.done;
  t.equal(u.code, 0, u.code === 0 ? 'SIPp TCP UAS got it' : u.messages.slice(-1500));
  t.match(u.messages, /Via: SIP\/2\.0\/TCP 127\.0\.0\.1:\d+;branch=z9hG4bK\w+;rport[\s\S]*to a TCP hop/);
});

t.test('a dead next hop: Timer F fires and the sender is told', async (t) => {
  const env = await setup(); // route: a free port nobody listens on
  t.teardown(env.stop);
  const started = Date.now();
  const out = await env.corp.submit(message('xmpp:alice@corp.test', 'sip:bob@partner.test', 'anyone there?'));
  const took = Date.now() - started;
  t.match(out, { status: 'failed', code: 'delivery' });
  t.ok(took >= 64 * T1 - 50 && took < 64 * T1 + 1500, `gave up after ${took} ms (Timer F = ${64 * T1} ms)`);
  t.equal(env.corp.refused.length, 1);
  t.match(env.corp.refused[0]!.refusal, { code: 'delivery', reason: /Timer F/ });
});

function rawMessage(_port: number, localPort: number, branch: string, body = 'once only'): Buffer {
  return Buffer.from(
    `MESSAGE sip:alice@corp.test SIP/2.0\r\n` +
      `Via: SIP/2.0/UDP 127.0.0.1:${localPort};branch=${branch};rport\r\n` +
      'From: <sip:bob@partner.test>;tag=raw1\r\n' +
      'To: <sip:alice@corp.test>\r\n' +
      `Call-ID: ${branch}@127.0.0.1\r\n` +
      'CSeq: 1 MESSAGE\r\nMax-Forwards: 70\r\nContent-Type: text/plain\r\n' +
      `Content-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`,
  );
}

async function udpClient() {
  const sock = dgram.createSocket('udp4');
  await new Promise<void>((r) => sock.bind(0, '127.0.0.1', () => r()));
  const got: string[] = [];
  sock.on('message', (m) => got.push(m.toString('utf8')));
  return { sock, got, port: sock.address().port };
}

t.test('UDP retransmissions are absorbed: one delivery, the final response repeated', async (t) => {
  const env = await setup();
  t.teardown(env.stop);
  // Slow the far side so that retransmissions arrive while the transaction is Trying.
  env.corp.onDeliver = () => new Promise((r) => setTimeout(r, 150));
  const c = await udpClient();
  t.teardown(() => c.sock.close());
  const msg = rawMessage(env.udpPort, c.port, 'z9hG4bKretrans1');
  for (let i = 0; i < 3; i++) {
    c.sock.send(msg, env.udpPort, '127.0.0.1');
    await new Promise((r) => setTimeout(r, 60));
  }
  await new Promise((r) => setTimeout(r, 300));
  c.sock.send(msg, env.udpPort, '127.0.0.1'); // after the final response: answered again
  await new Promise((r) => setTimeout(r, 200));
  t.equal(env.corp.delivered.length, 1, 'delivered once');
  const oks = c.got.filter((m) => m.startsWith('SIP/2.0 200 OK'));
  t.equal(oks.length, 2, 'one 200, repeated once for the late retransmission');
  t.match(oks[0], /;received=127\.0\.0\.1/);
  t.match(oks[0], new RegExp(`;rport=${c.port}`));
  t.equal(
    oks[0]!.match(/To: .*;tag=(\w+)/)?.[1],
    oks[1]!.match(/To: .*;tag=(\w+)/)?.[1],
    'the same response',
  );
});

t.test('queued then bounced: 202 Accepted, later a notice MESSAGE to the SIP sender', async (t) => {
  const uasPort = await freeUdpPort();
  const uas = startSipp({ scenario: 'message-uas.xml', port: uasPort, timeoutS: 15 });
  await new Promise((r) => setTimeout(r, 300));
  const env = await setup({ route: `sip:127.0.0.1:${uasPort}` });
  t.teardown(env.stop);
  env.corp.answer = () => ({ ok: true, queued: true }); // the XMPP link is down: queued
  const c = await udpClient();
  t.teardown(() => c.sock.close());
  c.sock.send(rawMessage(env.udpPort, c.port, 'z9hG4bKqueued1', 'see you later'), env.udpPort, '127.0.0.1');
  t.ok(await waitFor(() => c.got.some((m) => m.startsWith('SIP/2.0 202 Accepted'))), '202 Accepted');
  // The link stayed down: the pipeline bounces the queued event to its sender.
  const queued = env.corp.delivered[0]!.event;
  await env.corp.ctx!.bounce(queued, {
    code: 'delivery',
    rule: null,
    reason: 'corp.test stayed unreachable',
  });
  const r = await uas.done;
  t.equal(r.code, 0, r.code === 0 ? 'the notice reached the SIP side' : r.messages.slice(-1500));
  t.match(r.messages, /MESSAGE sip:bob@partner\.test SIP\/2\.0[\s\S]*From: <sip:alice@corp\.test>/);
  t.match(r.messages, /\[Parley\] Your message could not be delivered: corp\.test stayed unreachable/);
});

t.test('peers: a request from an address outside the configured CIDRs gets 403', async (t) => {
  const env = await setup({ peers: ['10.0.0.0/8', '192.0.2.0/24'] });
  t.teardown(env.stop);
  const r = await runSipp({
    scenario: 'message-uac-403.xml',
    port: await freeUdpPort(),
    target: `127.0.0.1:${env.udpPort}`,
    keys: keys('bob@partner.test', 'alice@corp.test', 'let me in'),
  });
  t.equal(r.code, 0, r.code === 0 ? 'sipp got its 403' : `sipp got its 403\n${r.messages.slice(-1500)}`);
  t.match(r.messages, /SIP\/2\.0 403 Forbidden/);
  t.match(r.messages, /not a permitted peer/);
  t.equal(env.corp.delivered.length, 0);
  t.equal(await env.store.audit.length(), 0, 'never reached the pipeline');
});

t.test('Kamailio: relays SIPp MESSAGE to Parley (200, delivered) and takes Parley MESSAGE', async (t) => {
  // The SIP adapter must know Kamailio's port (its route) and Kamailio Parley's, so the
  // adapter listens first on a fixed free port.
  const parleyPort = await freeUdpPort();
  const kam = await startKamailio(parleyPort);
  t.teardown(kam.stop);
  const store = new MemoryStore();
  const audit = new AuditWriter(store.audit, {});
  const policy = compilePolicySource(POLICY, 'sip-it.yaml');
  const pipeline = new Pipeline({ policy: () => policy, audit, store, logger: silentLogger });
  const corp = new MemoryAdapter('corp', 'xmpp', ['corp.test']);
  const sip: SipAdapter = buildSipAdapter(
    'partner-sip',
    {
      type: 'sip',
      listen: [`udp://127.0.0.1:${parleyPort}`],
      domains: ['partner.test', 'rival.test'],
      route: `sip:127.0.0.1:${kam.port}`,
      peers: ['127.0.0.1/32'],
      timers: { t1: 50 },
    },
    { logger: silentLogger, configDir: '.' },
  );
  await corp.start(pipeline.register(corp));
  await sip.start(pipeline.register(sip));
  t.teardown(() => sip.stop());

  const r = await runSipp({
    scenario: 'message-uac-200.xml',
    port: await freeUdpPort(),
    target: `127.0.0.1:${kam.port}`,
    keys: keys('carol@partner.test', 'alice@corp.test', 'via Kamailio'),
  });
  t.equal(
    r.code,
    0,
    r.code === 0
      ? 'SIPp -> Kamailio -> Parley answered 200'
      : `SIPp -> Kamailio -> Parley answered 200\n${r.messages.slice(-1500)}\n${kam.log().slice(-1500)}`,
  );
  t.equal(corp.delivered.length, 1);
  const e = corp.delivered[0]?.event;
  t.equal(e?.kind === 'message' && e.body.trim(), 'via Kamailio');

  const denied = await runSipp({
    scenario: 'message-uac-403.xml',
    port: await freeUdpPort(),
    target: `127.0.0.1:${kam.port}`,
    keys: keys('eve@rival.test', 'alice@corp.test', 'psst'),
  });
  t.equal(denied.code, 0, 'the 403 came back through Kamailio');
  t.match(denied.messages, /403 Communication with competitors is prohibited/);
  t.equal(corp.delivered.length, 1, 'nothing more delivered');

  const out = await corp.submit(message('xmpp:alice@corp.test', 'sip:carol@partner.test', 'to Kamailio'));
  t.match(out, { status: 'delivered' });
  await new Promise((r) => setTimeout(r, 100));
  t.match(
    kam.log(),
    /KAMAILIO-GOT MESSAGE from=sip:alice@corp\.test to=sip:carol@partner\.test body=\[to Kamailio\]/,
  );
  await audit.close();
});

t.test('malformed input over real sockets never crashes the adapter', async (t) => {
  const env = await setup();
  t.teardown(env.stop);
  const c = await udpClient();
  t.teardown(() => c.sock.close());
  const tortureDir = join(dirname(fileURLToPath(import.meta.url)), '../adapters/sip/torture');
  const files = readdirSync(tortureDir).filter((f) => f.endsWith('.dat'));
  for (const f of files) c.sock.send(readFileSync(join(tortureDir, f)), env.udpPort, '127.0.0.1');
  // A generator: random octets, truncations and CRLF storms.
  let seed = 42;
  const rnd = () => {
    seed = (seed * 1103515245 + 12345) & 0x7fffffff;
    return seed;
  };
  const base = rawMessage(env.udpPort, c.port, 'z9hG4bKfuzzbase');
  for (let i = 0; i < 400; i++) {
    let b: Buffer;
    if (i % 3 === 0) b = Buffer.from(Array.from({ length: rnd() % 1500 }, () => rnd() % 256));
    else if (i % 3 === 1) b = base.subarray(0, rnd() % base.length);
    else {
      b = Buffer.from(base);
      for (let k = 0; k < 5; k++) b[rnd() % b.length] = rnd() % 256;
    }
    c.sock.send(b, env.udpPort, '127.0.0.1');
  }
  // Over TCP: garbage, an oversize header, a missing Content-Length.
  for (const payload of [
    Buffer.alloc(70_000, 0x41),
    Buffer.from('MESSAGE sip:a@b SIP/2.0\r\nVia: x\r\n\r\n'),
  ]) {
    const s = net.connect(env.tcpPort, '127.0.0.1');
    s.on('error', () => {});
    await new Promise<void>((r) => s.once('connect', () => r()));
    s.write(payload);
    await new Promise<void>((r) => {
      s.once('close', () => r());
      setTimeout(() => {
        s.destroy();
        r();
      }, 500);
    });
  }
  await new Promise((r) => setTimeout(r, 300));
  // A request with a mismatched CSeq from a permitted peer is answered 400 with the reason.
  c.got.length = 0;
  const bad = rawMessage(env.udpPort, c.port, 'z9hG4bKbadcseq')
    .toString()
    .replace('CSeq: 1 MESSAGE', 'CSeq: 1 INVITE');
  c.sock.send(Buffer.from(bad), env.udpPort, '127.0.0.1');
  // Unparsable (a quoted string never closed), yet with a usable Via: 400 with the parser's reason.
  const unparsable = rawMessage(env.udpPort, c.port, 'z9hG4bKquote')
    .toString()
    .replace('From: <sip:bob@partner.test>;tag=raw1', 'From: "Bob <sip:bob@partner.test>;tag=raw1');
  c.sock.send(Buffer.from(unparsable), env.udpPort, '127.0.0.1');
  await new Promise((r) => setTimeout(r, 200));
  t.ok(
    c.got.some((m) => /^SIP\/2\.0 400 CSeq method does not match/.test(m)),
    'mismatched CSeq: 400',
  );
  t.ok(
    c.got.some((m) => /^SIP\/2\.0 400 unterminated quoted string/.test(m)),
    'unparsable: 400 with the reason',
  );
  // Still serving: a good MESSAGE over UDP and one over TCP get 200.
  c.got.length = 0;
  c.sock.send(rawMessage(env.udpPort, c.port, 'z9hG4bKafterfuzz', 'still alive'), env.udpPort, '127.0.0.1');
  await new Promise((r) => setTimeout(r, 300));
  t.ok(
    c.got.some((m) => m.startsWith('SIP/2.0 200 OK')),
    'UDP still answered',
  );
  const s = net.connect(env.tcpPort, '127.0.0.1');
  await new Promise<void>((r) => s.once('connect', () => r()));
  const tcpGot: string[] = [];
  s.on('data', (d) => tcpGot.push(d.toString()));
  const viaTcp = rawMessage(env.tcpPort, s.localPort!, 'z9hG4bKtcp1', 'over tcp')
    .toString()
    .replace('SIP/2.0/UDP', 'SIP/2.0/TCP');
  s.write(viaTcp.slice(0, 40));
  await new Promise((r) => setTimeout(r, 50));
  s.write(viaTcp.slice(40));
  await new Promise((r) => setTimeout(r, 300));
  s.destroy();
  t.match(tcpGot.join(''), /^SIP\/2\.0 200 OK/, 'TCP (split across segments) answered on the connection');
  t.ok(
    env.corp.delivered.some((d) => d.event.kind === 'message' && d.event.body === 'still alive'),
    'the good UDP message was delivered',
  );
  t.ok(
    env.corp.delivered.some((d) => d.event.kind === 'message' && d.event.body === 'over tcp'),
    'the good TCP message was delivered',
  );
});
