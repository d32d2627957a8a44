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

/** A TCP port free on 127.0.0.1 right now (never 6379, the machine's own Redis). */
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
