// The UDP thread (udp-thread.ts): SIP UDP sockets served from a worker thread. Real sockets
// on 127.0.0.1; the peer is a plain dgram socket (or a child process, to keep sending while
// this thread is blocked).
import { spawn } from 'node:child_process';
import dgram from 'node:dgram';
import { once } from 'node:events';
import t from 'tap';
import { bindUdpHere } from '../../../src/adapters/sip/udp-socket.js';
import { bindInUdpThread } from '../../../src/adapters/sip/udp-thread.js';
import { silentLogger } from '../../../src/core/logger.js';
import { recordingLogger } from '../../fixtures/recording-logger.js';

interface Got {
  text: string;
  address: string;
  port: number;
}

async function peer() {
  const sock = dgram.createSocket('udp4');
  await new Promise<void>((r) => sock.bind(0, '127.0.0.1', () => r()));
  const got: string[] = [];
  sock.on('message', (m) => got.push(m.toString()));
  return {
    sock,
    port: sock.address().port,
    got,
    close: () => new Promise<void>((r) => sock.close(() => r())),
  };
}

async function until(cond: () => boolean, ms = 5000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error('timed out waiting');
    await new Promise((r) => setTimeout(r, 10));
  }
}

t.test('datagrams both ways through the thread, with their source addresses', async (t) => {
  const got: Got[] = [];
  const bound = await bindInUdpThread(
    { host: '127.0.0.1', port: 0, ipv6: false, receiveBuffer: 1 << 20 },
    (buf, address, port) => got.push({ text: buf.toString(), address, port }),
    () => {},
    silentLogger,
  );
  t.ok(bound.socket.port > 0, 'bound to a port');
  t.ok((bound.receiveBuffer ?? 0) >= 1 << 20, 'the receive buffer was sized in the thread');
  const p = await peer();
  t.teardown(() => p.close());
  for (let i = 0; i < 200; i++) p.sock.send(`in ${i}`, bound.socket.port, '127.0.0.1');
  await until(() => got.length === 200);
  t.same(
    got.map((g) => g.text),
    Array.from({ length: 200 }, (_, i) => `in ${i}`),
    'all 200 arrived, in order',
  );
  t.ok(
    got.every((g) => g.address === '127.0.0.1' && g.port === p.port),
    'each with the peer as its source',
  );

  const sends = Array.from({ length: 200 }, (_, i) =>
    bound.socket.send(Buffer.from(`out ${i}`), p.port, '127.0.0.1'),
  );
  await Promise.all(sends);
  await until(() => p.got.length === 200);
  t.same(
    p.got,
    Array.from({ length: 200 }, (_, i) => `out ${i}`),
    'the peer got all 200 sends, in order',
  );
  await bound.socket.close();
});

t.test('a datagram the kernel refuses rejects its own send only', async (t) => {
  const bound = await bindInUdpThread(
    { host: '127.0.0.1', port: 0, ipv6: false },
    () => {},
    () => {},
    silentLogger,
  );
  const p = await peer();
  t.teardown(() => p.close());
  const ok1 = bound.socket.send(Buffer.from('before'), p.port, '127.0.0.1');
  const tooBig = bound.socket.send(Buffer.alloc(70_000), p.port, '127.0.0.1');
  const ok2 = bound.socket.send(Buffer.from('after'), p.port, '127.0.0.1');
  await t.rejects(tooBig, /EMSGSIZE/, 'a datagram over 64 KiB is refused');
  await ok1;
  await ok2;
  await until(() => p.got.length === 2);
  t.same(p.got, ['before', 'after'], 'the others went out');
  await bound.socket.close();
  await t.rejects(
    bound.socket.send(Buffer.from('late'), p.port, '127.0.0.1'),
    /closed|ended/,
    'a send after close rejects',
  );
});

t.test('a port in use: the bind rejects with its code; the thread still serves others', async (t) => {
  const taken = await bindUdpHere(
    { host: '127.0.0.1', port: 0, ipv6: false },
    () => {},
    () => {},
  );
  t.teardown(() => taken.socket.close());
  await t.rejects(
    bindInUdpThread(
      { host: '127.0.0.1', port: taken.socket.port, ipv6: false },
      () => {},
      () => {},
      silentLogger,
    ),
    { code: 'EADDRINUSE' },
  );
  const got: string[] = [];
  const ok = await bindInUdpThread(
    { host: '127.0.0.1', port: 0, ipv6: false },
    (buf) => got.push(buf.toString()),
    () => {},
    silentLogger,
  );
  const p = await peer();
  t.teardown(() => p.close());
  p.sock.send('hello', ok.socket.port, '127.0.0.1');
  await until(() => got.length === 1);
  t.same(got, ['hello']);
  await ok.socket.close();
});

t.test(
  'an event loop that stops reading: the thread holds a bounded queue, drops requests beyond it (not responses) and says so',
  async (t) => {
    const log = recordingLogger();
    let received = 0;
    let responsesReceived = 0;
    const bound = await bindInUdpThread(
      { host: '127.0.0.1', port: 0, ipv6: false, receiveBuffer: 8 << 20 },
      (buf) => {
        received++;
        if (buf.toString().startsWith('SIP/2.0 ')) responsesReceived++;
      },
      () => {},
      log.logger,
    );
    const total = 6000;
    const responses = 500;
    // A child process sends while this thread is blocked (as a long stall would block it):
    // requests, then responses, which the thread keeps past the limit.
    const child = spawn(
      process.execPath,
      [
        '-e',
        `const s = require('node:dgram').createSocket('udp4');
       let i = 0;
       const text = (n) => n < ${total - responses} ? 'MESSAGE sip:x ' + n : 'SIP/2.0 200 OK ' + n;
       const next = () => { if (i >= ${total}) return s.close(); s.send(text(i++), ${bound.socket.port}, '127.0.0.1', next); };
       next();`,
      ],
      { stdio: 'ignore' },
    );
    const exited = once(child, 'exit');
    await new Promise((r) => setTimeout(r, 100)); // the child is running
    Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 2500);
    await exited;
    await until(() => log.lines.some((l) => l.msg.includes('overloaded')), 5000);
    const warn = log.lines.find((l) => l.msg.includes('overloaded'));
    const dropped = Number(warn?.fields.dropped);
    await until(() => received + dropped >= total, 5000);
    t.equal(
      received + dropped,
      total,
      `every datagram was handed over or counted as dropped (${received} + ${dropped})`,
    );
    t.equal(responsesReceived, responses, 'every response was kept past the limit');
    t.ok(
      received >= 4096 + responses && received <= 4096 + responses + 64,
      `a bounded queue was handed over (${received})`,
    );
    t.equal(warn?.level, 'warn');
    await bound.socket.close();
  },
);

t.test('the thread ends with its last socket: a process using it exits on its own', async (t) => {
  const child = spawn(process.execPath, ['--import', 'tsx', 'test/fixtures/udp-thread-exit.ts'], {
    cwd: new URL('../../..', import.meta.url).pathname,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  child.stdout.on('data', (d: Buffer) => {
    out += d.toString();
  });
  child.stderr.on('data', (d: Buffer) => {
    out += d.toString();
  });
  const started = Date.now();
  const timer = setTimeout(() => child.kill('SIGKILL'), 15_000);
  const [code, signal] = (await once(child, 'exit')) as [number | null, string | null];
  clearTimeout(timer);
  t.equal(signal, null, `exited by itself, not killed (${Date.now() - started} ms): ${out}`);
  t.equal(code, 0, out);
  t.match(out, /closed/);
});
