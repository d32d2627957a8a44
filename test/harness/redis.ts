// A private redis-server for tests and benchmarks: a free port, no persistence, killed on
// exit. Fault tests may kill and restart it without touching anyone else's Redis.
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import net from 'node:net';

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

const live = new Set<ChildProcess>();
let exitHookInstalled = false;
function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.on('exit', () => {
    for (const c of live) {
      try {
        c.kill('SIGKILL');
      } catch {
        // already gone
      }
    }
  });
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

export async function freePort(): Promise<number> {
  for (;;) {
    const port = await new Promise<number>((resolve, reject) => {
      const srv = net.createServer();
      srv.unref();
      srv.on('error', reject);
      srv.listen(0, '127.0.0.1', () => {
        const addr = srv.address();
        const p = typeof addr === 'object' && addr ? addr.port : 0;
        srv.close(() => resolve(p));
      });
    });
    if (port !== 6379 && port > 0) return port;
  }
}

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
  installExitHook();
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
    live.add(c);
    c.once('exit', () => live.delete(c));
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
