// SIP over TCP/TLS against strangers and slow peers (issue 15 item 4), over real sockets:
// a stranger is closed at accept (before any TLS handshake), one address holds at most
// tcp.maxConnectionsPerAddress connections, a connection that does not complete a message
// within tcp.messageTimeoutS is closed (trickling does not postpone it), and a message
// over maxBodyBytes closes the connection with a log line that says so.
import net from 'node:net';
import tls from 'node:tls';
import t from 'tap';
import { resolveSipConfig, SipConfigError } from '../../../src/adapters/sip/index.js';
import { recordingLogger } from '../../fixtures/recording-logger.js';
import { partnerPolicy, startSipRig } from '../../fixtures/sip-rig.js';
import { selfSignedCert } from '../../harness/sip.js';

const cert = selfSignedCert(['localhost']);
t.teardown(() => cert.remove());

async function setup(sip: Record<string, unknown> = {}) {
  const { logger, lines } = recordingLogger();
  const rig = await startSipRig({
    policy: partnerPolicy('tcp'),
    logger,
    sip: {
      listen: ['tcp://127.0.0.1:0', 'tls://127.0.0.1:0'],
      domains: ['partner.test'],
      route: 'sip:127.0.0.1:5999;transport=tcp',
      peers: ['127.0.0.1/32'],
      tls: { certFile: cert.certFile, keyFile: cert.keyFile },
      ...sip,
    },
  });
  const tcpPort = rig.sip.transport.local('tcp')!.port;
  const tlsPort = rig.sip.transport.local('tls')!.port;
  return { ...rig, lines, tcpPort, tlsPort };
}
type Env = Awaited<ReturnType<typeof setup>>;

const options = (n: number, transport = 'TCP') =>
  [
    'OPTIONS sip:parley@partner.test SIP/2.0',
    `Via: SIP/2.0/${transport} 127.0.0.1:5999;branch=z9hG4bKtcp${n}-${Math.random().toString(36).slice(2)}`,
    'From: <sip:bob@partner.test>;tag=1',
    'To: <sip:parley@partner.test>',
    `Call-ID: tcp-${n}-${Math.random()}`,
    `CSeq: ${n} OPTIONS`,
    'Max-Forwards: 70',
    'Content-Length: 0',
    '',
    '',
  ].join('\r\n');

/** What a socket received until it closed, and whether a TLS handshake completed. */
interface Watched {
  sock: net.Socket;
  data: () => string;
  closed: Promise<void>;
  secured: () => boolean;
  /** Resolves at the first byte received, or the TLS handshake done, or the close. */
  anything: Promise<void>;
}

function watch(sock: net.Socket): Watched {
  let data = '';
  let secured = false;
  sock.on('data', (d: Buffer) => {
    data += d.toString('latin1');
  });
  sock.on('secureConnect', () => {
    secured = true;
  });
  sock.on('error', () => {});
  const closed = new Promise<void>((r) => sock.once('close', () => r()));
  const anything = new Promise<void>((r) => {
    sock.once('data', () => r());
    sock.once('secureConnect', () => r());
    sock.once('close', () => r());
  });
  return { sock, data: () => data, closed, secured: () => secured, anything };
}

const tcpFrom = (env: Env, localAddress = '127.0.0.1') =>
  watch(net.connect({ host: '127.0.0.1', port: env.tcpPort, localAddress }));
const tlsFrom = (env: Env, localAddress = '127.0.0.1') =>
  watch(
    tls.connect({
      socket: net.connect({ host: '127.0.0.1', port: env.tlsPort, localAddress }),
      rejectUnauthorized: false,
    }),
  );

const connected = (w: Watched) =>
  new Promise<void>((resolve, reject) => {
    const s: net.Socket = w.sock;
    s.once(s instanceof tls.TLSSocket ? 'secureConnect' : 'connect', () => resolve());
    s.once('close', () => reject(new Error('closed before it connected')));
  });

/** Wait (no upper bound but the test's) until the socket got a response or closed. */
const answered = async (w: Watched) => {
  while (!/\r\n\r\n/.test(w.data()) && !w.sock.destroyed) await new Promise((r) => setTimeout(r, 10));
  return w.data();
};

t.test('a stranger over TCP is closed at accept: no answer, not even a 403', async (t) => {
  const env = await setup();
  t.teardown(env.stop);
  const w = tcpFrom(env, '127.0.0.2');
  w.sock.on('connect', () => w.sock.write(options(1)));
  await w.anything;
  await new Promise((r) => setTimeout(r, 50)); // the rest of an answer, if one came
  t.equal(w.data(), '', 'nothing was read from it, nothing sent to it');
  await w.closed;
  t.ok(
    env.lines.some((l) => /SIP tcp connection refused: the address is not a permitted peer/.test(l.msg)),
    'logged',
  );
  const peer = tcpFrom(env);
  await connected(peer);
  peer.sock.write(options(2));
  t.match(await answered(peer), /^SIP\/2\.0 200 OK\r\n/, 'a peer is answered');
  peer.sock.destroy();
});

t.test('a stranger over TLS gets no handshake; a peer does', async (t) => {
  const env = await setup();
  t.teardown(env.stop);
  const w = tlsFrom(env, '127.0.0.2');
  await w.anything;
  t.notOk(w.secured(), 'the TLS handshake never completed');
  w.sock.destroy();
  t.ok(env.lines.some((l) => /SIP tls connection refused: the address is not a permitted peer/.test(l.msg)));
  const peer = tlsFrom(env);
  await connected(peer);
  t.ok(peer.secured(), 'the peer completed the handshake');
  peer.sock.write(options(3, 'TLS'));
  t.match(await answered(peer), /^SIP\/2\.0 200 OK\r\n/);
  peer.sock.destroy();
});

t.test('one address holds at most tcp.maxConnectionsPerAddress connections', async (t) => {
  const env = await setup({ tcp: { maxConnectionsPerAddress: 2 } });
  t.teardown(env.stop);
  const a = tcpFrom(env);
  const b = tcpFrom(env);
  await Promise.all([connected(a), connected(b)]);
  a.sock.write(options(4));
  b.sock.write(options(5));
  t.match(await answered(a), /^SIP\/2\.0 200 OK/);
  t.match(await answered(b), /^SIP\/2\.0 200 OK/);
  const c = tcpFrom(env);
  c.sock.on('connect', () => c.sock.write(options(6)));
  await c.anything;
  await new Promise((r) => setTimeout(r, 50));
  c.sock.destroy();
  t.equal(c.data(), '', 'the third is closed unanswered');
  t.ok(
    env.lines.some((l) =>
      /2 connections from this address are open \(tcp\.maxConnectionsPerAddress\)/.test(l.msg),
    ),
  );
  a.sock.destroy();
  await a.closed;
  // The server sees the close a moment after the client: retry until a slot is free.
  let d: Watched;
  for (;;) {
    d = tcpFrom(env);
    d.sock.on('connect', () => d.sock.write(options(7)));
    const got = await answered(d);
    if (got) break;
    await new Promise((r) => setTimeout(r, 20));
  }
  t.match(d.data(), /^SIP\/2\.0 200 OK/, 'a slot freed by a close is taken again');
  b.sock.destroy();
  d.sock.destroy();
});

t.test(
  'no complete message within tcp.messageTimeoutS: closed, and trickling does not postpone it',
  async (t) => {
    const env = await setup({ tcp: { messageTimeoutS: 1 } });
    t.teardown(env.stop);
    const silent = tcpFrom(env);
    const started = Date.now();
    await silent.closed;
    t.ok(Date.now() - started >= 900, 'a connection that sends nothing is closed after the timeout');
    const idleTls = tlsFrom(env);
    await idleTls.closed;
    t.ok(idleTls.secured(), 'a TLS peer that completes the handshake but sends nothing is closed too');

    const slow = tcpFrom(env);
    await connected(slow);
    slow.sock.write(options(8));
    t.match(await answered(slow), /^SIP\/2\.0 200 OK/, 'a complete message first');
    const partial = Buffer.from(options(9));
    let sent = 0;
    let closedAt = 0;
    slow.closed.then(() => {
      closedAt = Date.now();
    });
    const trickleStart = Date.now();
    // One byte every 100 ms: the whole message would take seconds; the deadline is 1 s.
    while (!slow.sock.destroyed && sent < partial.length - 1) {
      slow.sock.write(partial.subarray(sent, sent + 1));
      sent++;
      await new Promise((r) => setTimeout(r, 100));
    }
    await slow.closed;
    t.ok(sent < partial.length - 1, `closed while trickling (${sent} of ${partial.length} bytes sent)`);
    t.ok(closedAt - trickleStart >= 900, 'not before the timeout');
    t.ok(
      env.lines.filter((l) =>
        /connection closed: no complete message within 1 s \(tcp\.messageTimeoutS\)/.test(l.msg),
      ).length >= 3,
      'each closing logged',
    );
  },
);

t.test('a message over maxBodyBytes closes the connection with a clear log line', async (t) => {
  const env = await setup({ maxBodyBytes: 1024 });
  t.teardown(env.stop);
  const w = tcpFrom(env);
  await connected(w);
  w.sock.write(options(10).replace('Content-Length: 0', 'Content-Length: 4096'));
  await w.closed;
  t.ok(
    env.lines.some((l) =>
      /SIP tcp connection closed: body is too large \(Content-Length 4096 > 1024 bytes\)/.test(l.msg),
    ),
  );
});

t.test('config: tcp limits, their defaults and errors', async (t) => {
  const base = {
    type: 'sip',
    listen: ['tcp://127.0.0.1:0'],
    domains: ['partner.test', 'other.test'],
    route: 'sip:127.0.0.1:5070;transport=tcp',
    peers: ['127.0.0.1/32', { address: '10.0.0.0/8', domains: ['Other.test'] }],
  };
  const c = resolveSipConfig(base);
  t.same(c.tcp, {
    maxConnections: 1024,
    maxConnectionsPerAddress: 16,
    messageTimeoutMs: 30_000,
    idleTimeoutMs: 600_000,
  });
  t.same(
    c.peers.map((p) => p.domains),
    [['partner.test', 'other.test'], ['other.test']],
    "a bare CIDR speaks for all of the link's domains; an entry with domains for those",
  );
  t.same(
    resolveSipConfig({ ...base, tcp: { maxConnectionsPerAddress: 4, messageTimeoutS: 5, idleTimeoutS: 60 } })
      .tcp,
    { maxConnections: 1024, maxConnectionsPerAddress: 4, messageTimeoutMs: 5000, idleTimeoutMs: 60_000 },
  );
  const err = (raw: Record<string, unknown>) => {
    try {
      resolveSipConfig(raw);
      return null;
    } catch (e) {
      return e instanceof SipConfigError ? [e.path.join('.'), e.message] : String(e);
    }
  };
  t.match(err({ ...base, tcp: { messageTimeoutS: 0 } }), ['tcp.messageTimeoutS', /./]);
  t.match(err({ ...base, peers: [{ address: '10.0.0.0/8', domains: ['corp.test'] }] }), [
    'peers.0.domains.0',
    /"corp\.test" is not one of this link's domains/,
  ]);
  t.match(err({ ...base, peers: [{ address: 'nope', domains: ['partner.test'] }] }), [
    'peers.0.address',
    /not a CIDR/,
  ]);
});
