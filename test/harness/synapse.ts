// A private Synapse for tests: installed from PyPI into a cached virtualenv outside the
// repo (~/.cache/parley/synapse) when missing, configured in a temp dir (server name
// hs.test, one client listener on a free port, SQLite, open registration, presence on,
// generous rate limits, federation off, Parley's appservice registration), started in the
// foreground and stopped after. Fault tests stop and restart it.
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { homedir, tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort, track } from './processes.js';

export const SYNAPSE_VENV = process.env.PARLEY_SYNAPSE_VENV ?? join(homedir(), '.cache', 'parley', 'synapse');

export interface SynapseHandle {
  /** Client-server base URL, e.g. http://127.0.0.1:PORT. */
  url: string;
  port: number;
  serverName: string;
  dir: string;
  /** Graceful stop (SIGTERM), waits for the exit. */
  stop(): Promise<void>;
  /** Start again on the same port with the same database. */
  restart(): Promise<void>;
  /** Stop and delete the temp dir (database, logs). */
  destroy(): Promise<void>;
  /** Register a user (open registration, dummy auth); returns its id and access token. */
  registerUser(localpart: string, password?: string): Promise<{ userId: string; accessToken: string }>;
  /** The tail of Synapse's log (for failure messages). */
  logTail(lines?: number): string;
}

const python = (venv: string) => join(venv, 'bin', 'python');
const hasSynapse = (venv: string): boolean =>
  existsSync(python(venv)) &&
  spawnSync(python(venv), ['-c', 'import synapse'], { stdio: 'ignore' }).status === 0;

/** Install Synapse into the cached virtualenv when it is missing (idempotent); returns the venv. */
export function ensureSynapse(venv: string = SYNAPSE_VENV): string {
  if (hasSynapse(venv)) return venv;
  mkdirSync(join(venv, '..'), { recursive: true });
  // Build in a side folder and move it into place, so an interrupted install is not mistaken for one.
  const building = `${venv}.building-${process.pid}`;
  rmSync(building, { recursive: true, force: true });
  const run = (cmd: string, args: string[]) => {
    const r = spawnSync(cmd, args, { stdio: ['ignore', 'ignore', 'pipe'], timeout: 15 * 60_000 });
    if (r.status !== 0) {
      throw new Error(`${cmd} ${args.join(' ')} failed (${r.status}): ${r.stderr?.toString().slice(-2000)}`);
    }
  };
  run('python3', ['-m', 'venv', building]);
  run(join(building, 'bin', 'pip'), ['install', '--quiet', 'matrix-synapse']);
  if (hasSynapse(venv)) {
    rmSync(building, { recursive: true, force: true });
    return venv; // someone else finished first
  }
  rmSync(venv, { recursive: true, force: true });
  renameSync(building, venv);
  if (!hasSynapse(venv)) throw new Error(`Synapse still missing in ${venv} after pip install`);
  return venv;
}

export interface SynapseOptions {
  /** Appservice registration files to load. */
  appservices: string[];
  serverName?: string;
  /** Listen on this port (default: a free one). */
  port?: number;
}

function waitExit(c: ChildProcess): Promise<void> {
  if (c.exitCode !== null || c.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => c.once('exit', () => resolve()));
}

export async function startSynapse(opts: SynapseOptions): Promise<SynapseHandle> {
  const venv = ensureSynapse();
  const serverName = opts.serverName ?? 'hs.test';
  const dir = mkdtempSync(join(tmpdir(), 'parley-synapse-'));
  const port = opts.port ?? (await freePort());
  const secret = () => randomBytes(24).toString('hex');
  const generous = { per_second: 1000, burst_count: 1000 };
  const config = {
    server_name: serverName,
    pid_file: join(dir, 'homeserver.pid'),
    listeners: [
      {
        port,
        bind_addresses: ['127.0.0.1'],
        type: 'http',
        tls: false,
        x_forwarded: false,
        resources: [{ names: ['client'], compress: false }],
      },
    ],
    database: { name: 'sqlite3', args: { database: join(dir, 'homeserver.db') } },
    log_config: join(dir, 'log.config.yaml'),
    media_store_path: join(dir, 'media'),
    signing_key_path: join(dir, 'signing.key'),
    report_stats: false,
    macaroon_secret_key: secret(),
    form_secret: secret(),
    registration_shared_secret: secret(),
    enable_registration: true,
    enable_registration_without_verification: true,
    trusted_key_servers: [],
    suppress_key_server_warning: true,
    federation_domain_whitelist: [],
    presence: { enabled: true },
    app_service_config_files: opts.appservices,
    rc_message: generous,
    rc_registration: generous,
    rc_login: { address: generous, account: generous, failed_attempts: generous },
    rc_joins: { local: generous, remote: generous },
    rc_joins_per_room: generous,
    rc_invites: { per_room: generous, per_user: generous, per_issuer: generous },
    rc_presence: { per_user: generous },
    rc_room_creation: generous,
    rc_3pid_validation: generous,
    rc_admin_redaction: generous,
    rc_delayed_event_mgmt: generous,
    url_preview_enabled: false,
  };
  // JSON is YAML.
  writeFileSync(join(dir, 'homeserver.yaml'), JSON.stringify(config, null, 2));
  writeFileSync(
    join(dir, 'log.config.yaml'),
    JSON.stringify({
      version: 1,
      formatters: {
        precise: { format: '%(asctime)s - %(name)s - %(lineno)d - %(levelname)s - %(message)s' },
      },
      handlers: {
        file: { class: 'logging.FileHandler', formatter: 'precise', filename: join(dir, 'homeserver.log') },
      },
      loggers: { synapse: { level: 'INFO' }, 'synapse.storage.SQL': { level: 'WARNING' } },
      root: { level: 'INFO', handlers: ['file'] },
      disable_existing_loggers: false,
    }),
  );
  const cfgPath = join(dir, 'homeserver.yaml');
  const gen = spawnSync(python(venv), ['-m', 'synapse.app.homeserver', '-c', cfgPath, '--generate-keys'], {
    cwd: dir,
    stdio: ['ignore', 'ignore', 'pipe'],
    timeout: 120_000,
  });
  if (gen.status !== 0)
    throw new Error(`synapse --generate-keys failed: ${gen.stderr?.toString().slice(-2000)}`);

  const url = `http://127.0.0.1:${port}`;
  let child: ChildProcess | null = null;
  const logTail = (lines = 40): string => {
    try {
      return readFileSync(join(dir, 'homeserver.log'), 'utf8').split('\n').slice(-lines).join('\n');
    } catch {
      return '(no log)';
    }
  };

  const spawnServer = async (): Promise<void> => {
    const c = spawn(python(venv), ['-m', 'synapse.app.homeserver', '-c', cfgPath], {
      cwd: dir,
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let stderr = '';
    c.stderr?.on('data', (d: Buffer) => {
      stderr = (stderr + d.toString()).slice(-8000);
    });
    track(c);
    child = c;
    const deadline = Date.now() + 120_000;
    while (Date.now() < deadline) {
      if (c.exitCode !== null) {
        throw new Error(`synapse exited (${c.exitCode}): ${stderr}\n${logTail()}`);
      }
      try {
        const res = await fetch(`${url}/_matrix/client/versions`, { signal: AbortSignal.timeout(1000) });
        if (res.ok) return;
      } catch {
        // not yet
      }
      await new Promise((r) => setTimeout(r, 200));
    }
    c.kill('SIGKILL');
    throw new Error(`synapse did not answer on ${url} within 120 s\n${logTail()}`);
  };

  const stop = async (): Promise<void> => {
    const c = child;
    child = null;
    if (!c) return;
    c.kill('SIGTERM');
    const killer = setTimeout(() => c.kill('SIGKILL'), 10_000);
    await waitExit(c);
    clearTimeout(killer);
  };

  const registerUser = async (localpart: string, password = 'pw-not-secret') => {
    const post = (body: unknown) =>
      fetch(`${url}/_matrix/client/v3/register`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify(body),
      });
    const first = await post({ username: localpart, password, inhibit_login: false });
    let json = (await first.json()) as {
      session?: string;
      user_id?: string;
      access_token?: string;
      error?: string;
    };
    if (first.status === 401 && json.session) {
      const second = await post({
        username: localpart,
        password,
        inhibit_login: false,
        auth: { type: 'm.login.dummy', session: json.session },
      });
      json = (await second.json()) as typeof json;
      if (!second.ok) throw new Error(`register ${localpart}: ${second.status} ${JSON.stringify(json)}`);
    } else if (!first.ok) {
      throw new Error(`register ${localpart}: ${first.status} ${JSON.stringify(json)}`);
    }
    if (!json.user_id || !json.access_token)
      throw new Error(`register ${localpart}: ${JSON.stringify(json)}`);
    return { userId: json.user_id, accessToken: json.access_token };
  };

  await spawnServer();
  return {
    url,
    port,
    serverName,
    dir,
    stop,
    restart: async () => {
      await stop();
      await spawnServer();
    },
    destroy: async () => {
      await stop();
      rmSync(dir, { recursive: true, force: true });
    },
    registerUser,
    logTail,
  };
}
