// A link whose server stops answering: stop() must not hang on the stream close, must
// close the socket, and must settle every send still waiting for the socket to drain
// (otherwise their events hold the gateway's shutdown for its whole drain timeout). The
// server is test/fixtures/stuck-component.ts: it completes the handshake, then neither
// reads nor answers.
import { xml } from '@xmpp/xml';
import t from 'tap';
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
