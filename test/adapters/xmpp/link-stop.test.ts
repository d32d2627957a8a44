// A link whose server stops answering: stop() must not hang on the stream close, must
// close the socket, and must settle every send still waiting for the socket to drain
// (otherwise their events hold the gateway's shutdown for its whole drain timeout). The
// server is test/fixtures/stuck-component.ts: it completes the handshake, then neither
// reads nor answers.
import net from 'node:net';
import { xml } from '@xmpp/xml';
import t from 'tap';
import { ComponentLink } from '../../../src/adapters/xmpp/link.js';
import { silentLogger } from '../../../src/core/logger.js';
import { stuckServer } from '../../fixtures/stuck-component.js';
import { connectedLink } from '../../fixtures/xmpp-setup.js';

const SECRET = 'stuck-secret';

t.test('stop closes the socket and settles waiting sends when the server stops answering', async (t) => {
  const server = await stuckServer(SECRET);
  t.teardown(server.stop);
  // A 10 s connect timeout, as configured by default: xmpp.js waits that long for the close.
  const link = await connectedLink(`xmpp://127.0.0.1:${server.port}`, 'stuck.test', SECRET, 10_000);

  // 24 MB toward a server that reads nothing: the kernel buffers fill and later writes wait.
  const body = 'x'.repeat(1024 * 1024);
  const sends = Array.from({ length: 24 }, (_, i) =>
    link.send(xml('message', { to: `u${i}@corp.test`, from: 'g@stuck.test' }, xml('body', {}, body))),
  );
  const settled = new Set<number>();
  sends.forEach((p, i) => void p.then(() => settled.add(i)));
  await new Promise((r) => setTimeout(r, 300));
  t.ok(settled.size < sends.length, `some sends wait for the socket (${settled.size} of 24 settled)`);

  const stopAt = Date.now();
  await link.stop();
  const stopMs = Date.now() - stopAt;
  t.ok(stopMs < 4000, `stop returned in ${stopMs} ms (it waits at most ~2 s for the stream close)`);

  server.resume();
  const closedAt = await Promise.race([
    server.closed,
    new Promise<null>((r) => setTimeout(() => r(null), 3000)),
  ]);
  t.ok(closedAt !== null, 'the server saw the connection closed');

  const results = await Promise.race([
    Promise.all(sends),
    new Promise<null>((r) => setTimeout(() => r(null), 3000)),
  ]);
  t.ok(results !== null, 'every waiting send settled after the stop');
  t.ok(results?.includes(false), 'the sends that never reached the socket report failure');
  t.equal(link.socket, null, 'no socket left');
});

t.test('stop ends a connect attempt in progress at once, not at its connect timeout', async (t) => {
  // A server that accepts the connection and never answers the stream header.
  const sockets = new Set<net.Socket>();
  const silent = net.createServer((s) => {
    sockets.add(s);
    s.on('error', () => {});
  });
  await new Promise<void>((r) => silent.listen(0, '127.0.0.1', () => r()));
  t.teardown(async () => {
    for (const s of sockets) s.destroy();
    await new Promise((r) => silent.close(r));
  });
  const link = new ComponentLink({
    service: `xmpp://127.0.0.1:${(silent.address() as net.AddressInfo).port}`,
    domain: 'silent.test',
    secret: SECRET,
    initialDelayMs: 100,
    maxDelayMs: 400,
    connectTimeoutMs: 10_000,
    logger: silentLogger,
    onStanza: () => {},
    onUp: () => {},
    onDown: () => {},
  });
  const started = link.start(); // the first attempt: it waits for a handshake that never comes
  await new Promise((r) => setTimeout(r, 300));
  t.notOk(link.up);
  const stopAt = Date.now();
  await link.stop();
  await started;
  const ms = Date.now() - stopAt;
  t.ok(ms < 4000, `the attempt ended ${ms} ms after stop (its connect timeout is 10 s)`);
});
