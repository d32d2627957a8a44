// A private PostgreSQL server for tests and benchmarks: its own data folder under the temp
// folder, a free port on 127.0.0.1, trust authentication, superuser `parley` and a database
// `parley`. Never the machine's own PostgreSQL service. We run as root in CI: the folder
// belongs to the `postgres` user and the server runs as that user (setpriv execs, so the
// child we track is the postmaster itself). stop() and start() keep the data folder (fault
// tests restart the server under a running gateway); destroy() also removes it.
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { chownSync, existsSync, mkdtempSync, openSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import postgres from 'postgres';
import { freePort, track } from './processes.js';

export interface PostgresHandle {
  /** `postgres://parley@127.0.0.1:PORT/parley` (the superuser, trust authentication). */
  url: string;
  port: number;
  /** The temp folder: data in `pg/`, the server's log in `log`. */
  dir: string;
  /** The URL of another role (trust: no password) or database. */
  urlFor(user: string, database?: string): string;
  /** Fast shutdown (SIGINT: sessions are cut, the data kept); waits for the exit. */
  stop(): Promise<void>;
  /** Start again on the same port and data folder; resolves when it accepts connections. */
  start(): Promise<void>;
  /** Stop and remove the folder. */
  destroy(): Promise<void>;
  /** The end of the server's log (for failure messages). */
  logTail(): string;
}

export interface PostgresOptions {
  /**
   * Tests: no fsync, no synchronous commit (the server is thrown away; a clean stop and
   * start keeps everything). Benchmarks leave it off: durable commits, as in production.
   */
  fast?: boolean;
  /** Extra `-c name=value` settings. */
  settings?: Record<string, string>;
}

/** The folder of the newest PostgreSQL server binaries (PARLEY_PG_BIN overrides). */
export function postgresBinDir(): string {
  const env = process.env.PARLEY_PG_BIN;
  if (env) {
    if (!existsSync(join(env, 'initdb'))) throw new Error(`PARLEY_PG_BIN=${env} has no initdb`);
    return env;
  }
  const base = '/usr/lib/postgresql';
  const versions = existsSync(base)
    ? readdirSync(base)
        .filter((v) => existsSync(join(base, v, 'bin', 'initdb')))
        .sort((a, b) => Number(b) - Number(a))
    : [];
  const v = versions[0];
  if (!v) {
    throw new Error(
      'PostgreSQL server binaries not found (no /usr/lib/postgresql/*/bin/initdb): ' +
        'install them with `apt-get install -y postgresql` (or set PARLEY_PG_BIN to the folder holding initdb)',
    );
  }
  return join(base, v, 'bin');
}

const isRoot = (): boolean => process.getuid?.() === 0;

/** The uid and gid of the `postgres` user (root only runs the server as that user). */
function postgresUser(): { uid: number; gid: number } {
  const id = (flag: string) => spawnSync('id', [flag, 'postgres'], { encoding: 'utf8' });
  const u = id('-u');
  const g = id('-g');
  if (u.status !== 0 || g.status !== 0) {
    throw new Error('running as root, but there is no `postgres` user to run the server as');
  }
  return { uid: Number(u.stdout.trim()), gid: Number(g.stdout.trim()) };
}

/** argv run as the postgres user when we are root (setpriv execs: no extra process). */
const asPostgres = (argv: string[]): string[] =>
  isRoot() ? ['setpriv', '--reuid=postgres', '--regid=postgres', '--init-groups', ...argv] : argv;

function chownTree(dir: string, uid: number, gid: number): void {
  chownSync(dir, uid, gid);
  for (const name of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, name.name);
    if (name.isDirectory()) chownTree(p, uid, gid);
    else chownSync(p, uid, gid);
  }
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function waitExit(c: ChildProcess): Promise<void> {
  if (c.exitCode !== null || c.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => c.once('exit', () => resolve()));
}

export async function startPostgres(opts: PostgresOptions = {}): Promise<PostgresHandle> {
  const bin = postgresBinDir();
  const dir = mkdtempSync(join(tmpdir(), 'parley-pg-'));
  const data = join(dir, 'pg');
  const logFile = join(dir, 'log');
  const run = (argv: string[]) => {
    const [cmd, ...args] = asPostgres(argv);
    return spawnSync(cmd as string, args, { cwd: dir, encoding: 'utf8' });
  };
  if (isRoot()) {
    const { uid, gid } = postgresUser();
    chownTree(dir, uid, gid);
  }
  const init = run([
    join(bin, 'initdb'),
    '-D',
    data,
    '-A',
    'trust',
    '-U',
    'parley',
    '-E',
    'UTF8',
    '--locale=C',
    '--no-sync',
  ]);
  if (init.status !== 0) {
    rmSync(dir, { recursive: true, force: true });
    throw new Error(`initdb failed (${init.status}): ${init.stderr || init.stdout}`);
  }
  const port = await freePort();
  const settings: Record<string, string> = {
    listen_addresses: '127.0.0.1',
    unix_socket_directories: dir,
    ...(opts.fast ? { fsync: 'off', synchronous_commit: 'off', full_page_writes: 'off' } : {}),
    ...opts.settings,
  };
  let child: ChildProcess | null = null;
  let removed = false;

  const logTail = (): string => {
    try {
      return readFileSync(logFile, 'utf8').slice(-3000);
    } catch {
      return '(no log)';
    }
  };

  const ready = (): boolean =>
    spawnSync(join(bin, 'pg_isready'), ['-q', '-h', '127.0.0.1', '-p', String(port), '-U', 'parley'], {
      stdio: 'ignore',
    }).status === 0;

  const start = async (): Promise<void> => {
    if (child) return;
    const out = openSync(logFile, 'a');
    const argv = asPostgres([
      join(bin, 'postgres'),
      '-D',
      data,
      '-p',
      String(port),
      ...Object.entries(settings).flatMap(([k, v]) => ['-c', `${k}=${v}`]),
    ]);
    const c = spawn(argv[0] as string, argv.slice(1), { cwd: dir, stdio: ['ignore', out, out] });
    track(c);
    child = c;
    const deadline = Date.now() + 30_000;
    while (Date.now() < deadline) {
      if (c.exitCode !== null || c.signalCode !== null) {
        child = null;
        throw new Error(`postgres exited (${c.exitCode ?? c.signalCode}) on port ${port}:\n${logTail()}`);
      }
      if (ready()) return;
      await sleep(50);
    }
    c.kill('SIGKILL');
    child = null;
    throw new Error(`postgres on port ${port} did not accept connections within 30 s:\n${logTail()}`);
  };

  const stop = async (): Promise<void> => {
    const c = child;
    child = null;
    if (!c) return;
    c.kill('SIGINT');
    await waitExit(c);
  };

  const destroy = async (): Promise<void> => {
    await stop();
    if (!removed) {
      removed = true;
      rmSync(dir, { recursive: true, force: true });
    }
  };
  // A test process that exits without destroy(): track() kills the server; remove the folder.
  process.once('exit', () => {
    if (!removed) {
      child?.kill('SIGKILL');
      rmSync(dir, { recursive: true, force: true });
    }
  });

  const urlFor = (user: string, database = 'parley') =>
    `postgres://${encodeURIComponent(user)}@127.0.0.1:${port}/${database}`;

  try {
    await start();
    const admin = postgres(urlFor('parley', 'postgres'), { max: 1, onnotice: () => {} });
    try {
      await admin.unsafe('CREATE DATABASE parley');
    } finally {
      await admin.end({ timeout: 5 });
    }
  } catch (err) {
    await destroy();
    throw err;
  }
  return { url: urlFor('parley'), port, dir, urlFor, stop, start, destroy, logTail };
}
