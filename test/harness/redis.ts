// A private redis-server for tests and benchmarks: a free port, no persistence, killed on
// exit. Fault tests may kill and restart it without touching anyone else's Redis.
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import net from 'node:net';
import { freePort, track } from './processes.js';

export interface RedisHandle {
  url: string;
  port: number;
  /** Graceful stop (SIGTERM), waits for the exit. */
  stop(): Promise<void>;
  /** SIGKILL, waits for the exit. */
  kill(): Promise<void>;
  /** Start again on the same port (empty: no persistence). */
  restart(): Promise<void>;
}

function hasRedisServer(): boolean {
  return spawnSync('redis-server', ['--version'], { stdio: 'ignore' }).status === 0;
}

/** Install redis-server with apt-get when missing and we are root (idempotent). */
export function ensureRedisServer(): void {
  if (hasRedisServer()) return;
  if (process.getuid?.() !== 0) {
    throw new Error('redis-server is not installed (apt-get install -y redis-server) and we are not root');
  }
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  const install = () =>
    spawnSync('apt-get', ['install', '-y', 'redis-server'], { stdio: 'ignore', env }).status;
  if (install() !== 0) {
    spawnSync('apt-get', ['update'], { stdio: 'ignore', env });
    if (install() !== 0) throw new Error('apt-get install -y redis-server failed');
  }
  if (!hasRedisServer()) throw new Error('redis-server still missing after apt-get install');
}

export { freePort };

/** One PING over a raw socket: true on +PONG. */
function pingOnce(port: number, timeoutMs = 500): Promise<boolean> {
  return new Promise((resolve) => {
    const sock = net.connect({ host: '127.0.0.1', port });
    let buf = '';
    const done = (v: boolean) => {
      sock.destroy();
      resolve(v);
    };
    sock.setTimeout(timeoutMs, () => done(false));
    sock.on('error', () => done(false));
    sock.on('connect', () => sock.write('PING\r\n'));
    sock.on('data', (d) => {
      buf += d.toString();
      if (buf.includes('\r\n')) done(buf.startsWith('+PONG'));
    });
  });
}

function waitExit(c: ChildProcess): Promise<void> {
  if (c.exitCode !== null || c.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => c.once('exit', () => resolve()));
}

export async function startRedis(): Promise<RedisHandle> {
  ensureRedisServer();
  const port = await freePort();
  let child: ChildProcess | null = null;

  const spawnServer = async (): Promise<void> => {
    const c = spawn(
      'redis-server',
      [
        '--port',
        String(port),
        '--bind',
        '127.0.0.1',
        '--save',
        '',
        '--appendonly',
        'no',
        '--daemonize',
        'no',
      ],
      { stdio: ['ignore', 'ignore', 'pipe'] },
    );
    let stderr = '';
    c.stderr?.on('data', (d: Buffer) => {
      stderr += d.toString();
    });
    track(c);
    child = c;
    const deadline = Date.now() + 10_000;
    while (Date.now() < deadline) {
      if (c.exitCode !== null)
        throw new Error(`redis-server exited (${c.exitCode}) on port ${port}: ${stderr}`);
      if (await pingOnce(port)) return;
      await new Promise((r) => setTimeout(r, 25));
    }
    c.kill('SIGKILL');
    throw new Error(`redis-server on port ${port} did not answer PING within 10 s`);
  };

  const end = async (signal: NodeJS.Signals): Promise<void> => {
    const c = child;
    child = null;
    if (!c) return;
    c.kill(signal);
    await waitExit(c);
  };

  await spawnServer();
  return {
    url: `redis://127.0.0.1:${port}`,
    port,
    stop: () => end('SIGTERM'),
    kill: () => end('SIGKILL'),
    restart: async () => {
      await end('SIGKILL');
      await spawnServer();
    },
  };
}
