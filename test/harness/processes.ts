// What every harness needs: free ports and child processes that never outlive the tests.
import type { ChildProcess } from 'node:child_process';
import net from 'node:net';

const live = new Set<ChildProcess>();
let hooked = false;

/** Kill `child` (SIGKILL) if the test process exits while it still runs. */
export function track(child: ChildProcess): ChildProcess {
  if (!hooked) {
    hooked = true;
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
  live.add(child);
  child.once('exit', () => live.delete(child));
  return child;
}

/** Whether `port` can be listened on at 127.0.0.1 right now (0: any port; resolves the port or 0). */
function tryListen(port: number): Promise<number> {
  return new Promise<number>((resolve) => {
    const srv = net.createServer();
    srv.unref();
    srv.on('error', () => resolve(0));
    srv.listen(port, '127.0.0.1', () => {
      const addr = srv.address();
      const p = typeof addr === 'object' && addr ? addr.port : 0;
      srv.close(() => resolve(p));
    });
  });
}

/**
 * A TCP port free on 127.0.0.1 right now (never 6379, the machine's own Redis). Taken below
 * Linux's ephemeral range (32768-60999): a port from that range can be taken meanwhile as
 * the local end of any outgoing connection, and a server restarted on it (or started after
 * a slow peer, e.g. Synapse) would fail with EADDRINUSE.
 */
export async function freePort(): Promise<number> {
  for (let i = 0; i < 100; i++) {
    const port = 20_000 + Math.floor(Math.random() * 12_000);
    if (port === 6379) continue;
    if ((await tryListen(port)) === port) return port;
  }
  for (;;) {
    const port = await tryListen(0);
    if (port !== 6379 && port > 0) return port;
  }
}
