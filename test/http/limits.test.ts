// Slow clients over real sockets: a request trickled byte by byte is cut off after the
// request (or header) timeout, an idle keep-alive connection is closed, and connections
// past the cap are closed at once while the probes answer again as soon as slots free.
import { copyFileSync, mkdtempSync, writeFileSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { parseConfig } from '../../src/config.js';
import { startGateway } from '../../src/gateway.js';
import { buildHttpApp, type HttpLimits } from '../../src/http/app.js';
import { createLogger } from '../../src/log.js';
import { FakeServices } from '../fixtures/fake-services.js';

const ADMIN = 'adm-5f1c9e0b7a2d4c68b3e1';

async function listen(limits: HttpLimits, services = new FakeServices()) {
  const app = await buildHttpApp({ services, tokens: { admin: ADMIN }, logger: false, limits });
  const base = new URL(await app.listen({ host: '127.0.0.1', port: 0 }));
  t.teardown(() => app.close());
  return { app, services, port: Number(base.port) };
}

interface Conn {
  socket: Socket;
  received: () => string;
  closed: () => boolean;
  whenClosed: Promise<void>;
}

function open(port: number): Promise<Conn> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host: '127.0.0.1', port });
    let text = '';
    let closed = false;
    const whenClosed = new Promise<void>((r) =>
      socket.on('close', () => {
        closed = true;
        r();
      }),
    );
    socket.on('data', (d) => {
      text += d.toString('latin1');
    });
    socket.on('error', () => {});
    socket.once('connect', () => resolve({ socket, received: () => text, closed: () => closed, whenClosed }));
    socket.once('error', reject);
  });
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Send `chunks` one by one, `everyMs` apart, until the server closes the connection. */
async function trickle(c: Conn, chunks: string[], everyMs: number): Promise<void> {
  for (const chunk of chunks) {
    if (c.closed()) return;
    c.socket.write(chunk);
    await sleep(everyMs);
  }
}

t.test('a body trickled byte by byte is cut off after the request timeout (408)', async (t) => {
  const { services, port } = await listen({ requestTimeoutMs: 500, headersTimeoutMs: 300 });
  const c = await open(port);
  const body = JSON.stringify({ text: `# ${'x'.repeat(200)}\n` });
  c.socket.write(
    'POST /api/v1/policy/validate HTTP/1.1\r\nHost: x\r\n' +
      `Authorization: Bearer ${ADMIN}\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\n\r\n`,
  );
  // At one byte per 50 ms the body would take over 10 s: far past the 500 ms allowed.
  await trickle(c, body.split(''), 50);
  t.ok(c.closed(), 'the server closed the connection before the body was complete');
  t.match(c.received(), /^HTTP\/1\.1 408 /, 'with 408 Request Timeout');
  t.same(services.validated, [], 'the route never ran');
});

t.test('headers trickled byte by byte are cut off after the header timeout', async (t) => {
  const { port } = await listen({ requestTimeoutMs: 5000, headersTimeoutMs: 300 });
  const c = await open(port);
  const head = `GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: ${'y'.repeat(400)}\r\n\r\n`;
  await trickle(c, head.split(''), 20);
  t.ok(c.closed(), 'closed before the headers were complete');
  t.match(c.received(), /^HTTP\/1\.1 408 /);
});

t.test('an idle keep-alive connection is closed after the keep-alive timeout', async (t) => {
  const { port } = await listen({ keepAliveTimeoutMs: 200 });
  const c = await open(port);
  c.socket.write('GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: keep-alive\r\n\r\n');
  for (let i = 0; i < 100 && !c.closed(); i++) await sleep(50);
  t.match(c.received(), /^HTTP\/1\.1 200 /);
  t.ok(c.closed(), 'the server closed the idle connection');
});

t.test(
  'slow clients under the cap do not stop the probes; past the cap new connections are closed',
  async (t) => {
    const cap = 20;
    const { port } = await listen({ requestTimeoutMs: 1500, headersTimeoutMs: 1500, maxConnections: cap });
    const slow: Conn[] = [];
    // Clients that send half a request and stop (slow loris).
    for (let i = 0; i < cap - 2; i++) {
      const c = await open(port);
      c.socket.write('POST /api/v1/policy/eval HTTP/1.1\r\nHost: x\r\n');
      slow.push(c);
    }
    const probe = await fetch(`http://127.0.0.1:${port}/healthz`, { headers: { connection: 'close' } });
    t.equal(probe.status, 200, '/healthz answers while slow clients hold connections');
    await probe.text();

    // Fill the cap: the next connection is closed without an answer.
    while (slow.length < cap) {
      const c = await open(port);
      c.socket.write('POST /api/v1/policy/eval HTTP/1.1\r\nHost: x\r\n');
      slow.push(c);
    }
    await sleep(100);
    const extra = await open(port);
    extra.socket.write('GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n');
    await extra.whenClosed;
    t.equal(extra.received(), '', 'a connection past the cap is closed at once, unanswered');

    // The slow clients are cut off by the header timeout, and the probe answers again.
    await Promise.all(slow.map((c) => c.whenClosed));
    t.ok(
      slow.every((c) => /^HTTP\/1\.1 408 /.test(c.received())),
      'every slow client got 408 and was disconnected',
    );
    const again = await fetch(`http://127.0.0.1:${port}/healthz`);
    t.equal(again.status, 200, '/healthz answers once the slow clients are gone');
  },
);

t.test('the defaults bound every timeout', async (t) => {
  const { app } = await listen({});
  t.equal(app.server.requestTimeout, 30_000);
  t.equal(app.server.headersTimeout, 10_000);
  t.equal(app.server.keepAliveTimeout, 5_000);
  t.equal(app.server.timeout, 120_000);
  t.equal(app.server.maxConnections, 1024);
});

t.test('the http config section sets them on the gateway listener', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'parley-http-limits-'));
  copyFileSync('policies/default.yaml', join(dir, 'policy.yaml'));
  const text =
    `store: { memory: true }\nhttp:\n  listen: "127.0.0.1:0"\n  tokens: { admin: "${'$'}{A}" }\n  requestTimeoutMs: 400\n` +
    '  headersTimeoutMs: 300\n  keepAliveTimeoutMs: 250\n  idleTimeoutMs: 60000\n  maxConnections: 64\n' +
    'policy: { file: policy.yaml }\n';
  writeFileSync(join(dir, 'parley.yaml'), text);
  const loaded = parseConfig(text, join(dir, 'parley.yaml'), { A: ADMIN });
  const logger = createLogger({
    level: 'warn',
    destination: { write: () => true } as unknown as NodeJS.WritableStream,
  });
  const gw = await startGateway(loaded, { logger });
  t.teardown(() => gw.stop());
  const server = gw.http!.server;
  t.same(
    [
      server.requestTimeout,
      server.headersTimeout,
      server.keepAliveTimeout,
      server.timeout,
      server.maxConnections,
    ],
    [400, 300, 250, 60000, 64],
  );
  const c = await open(Number(new URL(gw.url!).port));
  const body = JSON.stringify({ text: 'x'.repeat(200) });
  c.socket.write(
    'POST /api/v1/policy/validate HTTP/1.1\r\nHost: x\r\n' +
      `Authorization: Bearer ${ADMIN}\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\n\r\n`,
  );
  await trickle(c, body.split(''), 50);
  t.ok(c.closed(), 'the gateway cut the trickling client off');
  t.match(c.received(), /^HTTP\/1\.1 408 /);

  const bad = () =>
    parseConfig('http:\n  requestTimeoutMs: 0\npolicy: { file: p.yaml }\n', join(dir, 'bad.yaml'), {});
  t.throws(bad, /requestTimeoutMs/, 'a zero timeout is refused, naming the key');
});
