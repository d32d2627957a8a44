// A private Prosody for tests and benchmarks: its own config, data and log in a temporary
// folder, c2s and component ports chosen free (never the system's 5222/5347), several
// virtual hosts and external components, users registered with prosodyctl. Installed
// with apt-get when missing (idempotent). Stop/kill/restart for the reconnect tests.
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { chownSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort, track } from './processes.js';

export interface ProsodyHost {
  /** The virtual host, e.g. `corp.test`. */
  domain: string;
  /** Users to register: name -> password. */
  users?: Record<string, string>;
}

export interface ProsodyComponent {
  /** The component's domain, e.g. `gw.corp.test`. */
  domain: string;
  secret: string;
}

export interface ProsodyOptions {
  hosts: ProsodyHost[];
  components: ProsodyComponent[];
  /** Keep messages for offline users (mod_offline); off by default, so they bounce. */
  offline?: boolean;
  /** Extra lines appended to the global section of the config. */
  extraConfig?: string[];
}

export interface ProsodyHandle {
  /** Folder holding config, data and log. */
  dir: string;
  c2sPort: number;
  componentPort: number;
  /** For @xmpp/client: `xmpp://127.0.0.1:<c2s port>`. */
  c2sService: string;
  /** For @xmpp/component: `xmpp://127.0.0.1:<component port>`. */
  componentService: string;
  /** Register (or re-register) a user while it runs or not. */
  register(user: string, host: string, password: string): void;
  /** Prosody's log so far (for failure messages). */
  log(): string;
  /** Graceful stop (SIGTERM), waits for the exit. */
  stop(): Promise<void>;
  /** SIGKILL, waits for the exit. */
  kill(): Promise<void>;
  /** Start again with the same config, ports and data. */
  restart(): Promise<void>;
  /** Stop and delete the folder. */
  destroy(): Promise<void>;
}

const hasProsody = (): boolean =>
  spawnSync('sh', ['-c', 'command -v prosody && command -v prosodyctl'], { stdio: 'ignore' }).status === 0;

/** Install Prosody with apt-get when missing and we are root (idempotent). */
export function ensureProsody(): void {
  if (hasProsody()) return;
  if (process.getuid?.() !== 0) {
    throw new Error('prosody is not installed (apt-get install -y prosody) and we are not root');
  }
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  const install = () => spawnSync('apt-get', ['install', '-y', 'prosody'], { stdio: 'ignore', env }).status;
  // Another apt-get may hold the dpkg lock for a while: retry for up to a minute.
  for (let i = 0; i < 12; i++) {
    if (install() === 0 && hasProsody()) return;
    if (i === 0) spawnSync('apt-get', ['update'], { stdio: 'ignore', env });
    spawnSync('sleep', ['5']);
  }
  if (!hasProsody()) throw new Error('apt-get install -y prosody failed');
}

/** The uid/gid Prosody runs as: itself when not root, else the `prosody` user. */
function runAs(): { uid: number; gid: number } | null {
  if (process.getuid?.() !== 0) return null;
  const id = (flag: string) => spawnSync('id', [flag, 'prosody'], { encoding: 'utf8' });
  const u = id('-u');
  const g = id('-g');
  if (u.status !== 0 || g.status !== 0) return null;
  return { uid: Number(u.stdout.trim()), gid: Number(g.stdout.trim()) };
}

const lua = (s: string): string => JSON.stringify(s);

function configText(
  dir: string,
  c2sPort: number,
  componentPort: number,
  o: ProsodyOptions,
  runAsRoot: boolean,
) {
  const lines = [
    `pidfile = ${lua(join(dir, 'prosody.pid'))}`,
    `data_path = ${lua(join(dir, 'data'))}`,
    'admins = { }',
    'modules_enabled = { "roster"; "saslauth"; "disco"; "ping"; "posix"; "register"; }',
    `modules_disabled = { "s2s"; ${o.offline ? '' : '"offline"; '}"tls"; }`,
    'allow_registration = true',
    'c2s_require_encryption = false',
    'allow_unencrypted_plain_auth = true',
    'authentication = "internal_hashed"',
    'storage = "internal"',
    'interfaces = { "127.0.0.1" }',
    `c2s_ports = { ${c2sPort} }`,
    `component_ports = { ${componentPort} }`,
    'component_interface = "127.0.0.1"',
    'http_ports = { }',
    'https_ports = { }',
    ...(runAsRoot ? ['run_as_root = true'] : []),
    `log = { { levels = { min = "info" }, to = "file", filename = ${lua(join(dir, 'prosody.log'))} } }`,
    ...(o.extraConfig ?? []),
    '',
  ];
  for (const h of o.hosts) lines.push(`VirtualHost ${lua(h.domain)}`, '');
  for (const c of o.components) {
    lines.push(`Component ${lua(c.domain)}`, `  component_secret = ${lua(c.secret)}`, '');
  }
  return lines.join('\n');
}

function portOpen(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const sock = net.connect({ host: '127.0.0.1', port });
    const done = (v: boolean) => {
      sock.destroy();
      resolve(v);
    };
    sock.setTimeout(300, () => done(false));
    sock.on('error', () => done(false));
    sock.on('connect', () => done(true));
  });
}

function waitExit(c: ChildProcess): Promise<void> {
  if (c.exitCode !== null || c.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => c.once('exit', () => resolve()));
}

export async function startProsody(opts: ProsodyOptions): Promise<ProsodyHandle> {
  ensureProsody();
  const dir = mkdtempSync(join(tmpdir(), 'parley-prosody-'));
  mkdirSync(join(dir, 'data'));
  const user = runAs();
  const [c2sPort, componentPort] = [await freePort(), await freePort()];
  if (c2sPort === componentPort || c2sPort === 5222 || componentPort === 5347) {
    rmSync(dir, { recursive: true, force: true });
    return startProsody(opts);
  }
  const cfg = join(dir, 'prosody.cfg.lua');
  // `run_as_root` only when we are root without a prosody user to switch to.
  writeFileSync(
    cfg,
    configText(dir, c2sPort, componentPort, opts, user === null && process.getuid?.() === 0),
  );
  const logFile = join(dir, 'prosody.log');
  writeFileSync(logFile, '');
  const chown = () => {
    if (!user) return;
    spawnSync('chown', ['-R', `${user.uid}:${user.gid}`, dir]);
    chownSync(dir, user.uid, user.gid);
  };

  const register = (name: string, host: string, password: string) => {
    const r = spawnSync('prosodyctl', ['--config', cfg, 'register', name, host, password], {
      encoding: 'utf8',
      ...(user ? { uid: user.uid, gid: user.gid } : {}),
      env: { ...process.env, HOME: dir },
    });
    if (r.status !== 0) {
      throw new Error(`prosodyctl register ${name}@${host} failed (${r.status}): ${r.stderr}${r.stdout}`);
    }
  };

  chown();
  for (const h of opts.hosts)
    for (const [name, pw] of Object.entries(h.users ?? {})) register(name, h.domain, pw);

  let child: ChildProcess | null = null;
  const readLog = () => {
    try {
      return readFileSync(logFile, 'utf8');
    } catch {
      return '';
    }
  };

  const spawnServer = async (): Promise<void> => {
    chown();
    const c = spawn('prosody', ['--config', cfg, '-F'], {
      stdio: ['ignore', 'pipe', 'pipe'],
      cwd: dir,
      env: { ...process.env, HOME: dir },
      ...(user ? { uid: user.uid, gid: user.gid } : {}),
    });
    let output = '';
    const keep = (d: Buffer) => {
      output = (output + d.toString()).slice(-8192);
    };
    c.stdout?.on('data', keep);
    c.stderr?.on('data', keep);
    track(c);
    child = c;
    const deadline = Date.now() + 15_000;
    while (Date.now() < deadline) {
      if (c.exitCode !== null) {
        throw new Error(`prosody exited (${c.exitCode}): ${output}\n${readLog().slice(-4000)}`);
      }
      if ((await portOpen(c2sPort)) && (await portOpen(componentPort))) return;
      await new Promise((r) => setTimeout(r, 50));
    }
    c.kill('SIGKILL');
    throw new Error(`prosody did not open ports ${c2sPort}/${componentPort} within 15 s: ${output}`);
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
    dir,
    c2sPort,
    componentPort,
    c2sService: `xmpp://127.0.0.1:${c2sPort}`,
    componentService: `xmpp://127.0.0.1:${componentPort}`,
    register,
    log: readLog,
    stop: () => end('SIGTERM'),
    kill: () => end('SIGKILL'),
    restart: async () => {
      await end('SIGKILL');
      await spawnServer();
    },
    destroy: async () => {
      await end('SIGTERM');
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
