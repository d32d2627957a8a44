// Real SIP peers for tests: SIPp (Debian `sip-tester`) running scenario files from
// test/integration/sipp/, and a private Kamailio on a free port. Installs the packages with
// apt-get when missing (idempotent); every process is killed on exit.
import { spawn, spawnSync } from 'node:child_process';
import dgram from 'node:dgram';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { track } from './processes.js';

export const SCENARIOS = resolve(dirname(fileURLToPath(import.meta.url)), '../integration/sipp');

const has = (bin: string) => spawnSync('sh', ['-c', `command -v ${bin}`], { stdio: 'ignore' }).status === 0;

/** Install sipp and kamailio from Debian's packages when missing (root only). */
export function ensureSipTools(): void {
  const missing = [has('sipp') ? null : 'sip-tester', has('kamailio') ? null : 'kamailio'].filter(
    (x): x is string => x !== null,
  );
  if (!missing.length) return;
  if (process.getuid?.() !== 0) throw new Error(`install ${missing.join(' ')} (apt-get install -y ...)`);
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  const install = () => spawnSync('apt-get', ['install', '-y', ...missing], { stdio: 'ignore', env }).status;
  if (install() !== 0) {
    spawnSync('apt-get', ['update'], { stdio: 'ignore', env });
    if (install() !== 0) throw new Error(`apt-get install -y ${missing.join(' ')} failed`);
  }
}

/** A UDP port that is free now (also free for TCP is not guaranteed; tests use UDP). */
export async function freeUdpPort(): Promise<number> {
  const s = dgram.createSocket('udp4');
  await new Promise<void>((r) => s.bind(0, '127.0.0.1', () => r()));
  const { port } = s.address();
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

export interface SippResult {
  code: number | null;
  stdout: string;
  stderr: string;
  /** The -trace_msg log: every message sent and received. */
  messages: string;
}

export interface SippOptions {
  scenario: string;
  /** Local port SIPp binds. */
  port: number;
  /** host:port to send to (UAC); omitted for a UAS. */
  target?: string;
  keys?: Record<string, string>;
  calls?: number;
  /** u1 UDP, t1 TCP, l1 TLS (needs a TLS build of SIPp: see sippHasTls). */
  transport?: 'u1' | 't1' | 'l1';
  /** SIPp's global timeout (it exits when reached). */
  timeoutS?: number;
  /** Digest credentials for `[authentication]` in a scenario (-au / -ap). */
  auth?: { user: string; password: string };
  /** Further command-line arguments. */
  args?: string[];
}

export interface SippHandle {
  done: Promise<SippResult>;
  stop(): Promise<SippResult>;
}

/** Start SIPp; `done` resolves when it exits. */
export function startSipp(o: SippOptions): SippHandle {
  const dir = mkdtempSync(join(tmpdir(), 'parley-sipp-'));
  const msgFile = join(dir, 'messages.log');
  const args = [
    '-sf',
    join(SCENARIOS, o.scenario),
    '-i',
    '127.0.0.1',
    '-p',
    String(o.port),
    '-m',
    String(o.calls ?? 1),
    '-t',
    o.transport ?? 'u1',
    '-nostdin',
    '-timeout',
    `${o.timeoutS ?? 20}s`,
    '-timeout_error',
    '-trace_msg',
    '-message_file',
    msgFile,
  ];
  for (const [k, v] of Object.entries(o.keys ?? {})) args.push('-key', k, v);
  if (o.auth) args.push('-au', o.auth.user, '-ap', o.auth.password);
  args.push(...(o.args ?? []));
  if (o.target) args.push(o.target);
  const child = spawn('sipp', args, { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] });
  track(child);
  let stdout = '';
  let stderr = '';
  child.stdout?.on('data', (d: Buffer) => {
    stdout = (stdout + d.toString()).slice(-20_000);
  });
  child.stderr?.on('data', (d: Buffer) => {
    stderr += d.toString();
  });
  const done = new Promise<SippResult>((resolveDone) => {
    child.once('exit', (code) => {
      let messages = '';
      try {
        messages = readFileSync(msgFile, 'utf8');
      } catch {
        // no messages
      }
      rmSync(dir, { recursive: true, force: true });
      resolveDone({ code, stdout, stderr, messages });
    });
  });
  return {
    done,
    stop: async () => {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
      return done;
    },
  };
}

export const runSipp = (o: SippOptions): Promise<SippResult> => startSipp(o).done;

export interface KamailioHandle {
  port: number;
  /** Everything Kamailio logged so far. */
  log(): string;
  stop(): Promise<void>;
}

const MODULES = '/usr/lib/x86_64-linux-gnu/kamailio/modules/';

/**
 * A Kamailio on 127.0.0.1:<free port> acting as the partner's proxy. Requests from anyone
 * but Parley are relayed statefully (`t_relay`) to Parley. Requests from Parley are
 * logged (`KAMAILIO-GOT ...`) and then relayed to 127.0.0.1:`forwardTo` when given (the
 * partner's phone), else a MESSAGE is answered 200 by Kamailio itself.
 *
 * One worker process: with two, a 180 and the 200 sent a moment later can be forwarded
 * in the other order (each worker reads the socket on its own), and the SIPp scenarios
 * that expect the 180 first fail for a reason that is Kamailio's, not Parley's.
 */
export async function startKamailio(
  parleyPort: number,
  opts: { forwardTo?: number } = {},
): Promise<KamailioHandle> {
  ensureSipTools();
  const port = await freeUdpPort();
  const dir = mkdtempSync(join(tmpdir(), 'parley-kamailio-'));
  const cfg = join(dir, 'kamailio.cfg');
  writeFileSync(
    cfg,
    `#!KAMAILIO
debug=2
log_stderror=yes
children=1
disable_tcp=yes
auto_aliases=no
listen=udp:127.0.0.1:${port}
mpath="${MODULES}"
loadmodule "tm.so"
loadmodule "sl.so"
loadmodule "pv.so"
loadmodule "xlog.so"
loadmodule "maxfwd.so"
loadmodule "textops.so"

request_route {
  if (!mf_process_maxfwd_header("10")) { sl_send_reply("483", "Too Many Hops"); exit; }
  if ($si == "127.0.0.1" && $sp == ${parleyPort}) {
    xlog("L_NOTICE", "KAMAILIO-GOT $rm from=$fu to=$ru body=[$rb]\\n");
${
  opts.forwardTo
    ? `    $du = "sip:127.0.0.1:${opts.forwardTo}";
    if (!t_relay()) sl_reply_error();`
    : `    if (is_method("ACK")) exit;
    sl_send_reply("200", "OK from Kamailio");`
}
    exit;
  }
  $du = "sip:127.0.0.1:${parleyPort}";
  if (!t_relay()) sl_reply_error();
}
`,
  );
  const child = spawn('kamailio', ['-DD', '-E', '-f', cfg, '-Y', dir, '-m', '64', '-M', '8'], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  track(child);
  let log = '';
  child.stdout?.on('data', (d: Buffer) => {
    log += d.toString();
  });
  child.stderr?.on('data', (d: Buffer) => {
    log += d.toString();
  });
  // Ready when it answers an OPTIONS-less probe: wait for its UDP port to be bound.
  const deadline = Date.now() + 10_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`kamailio exited (${child.exitCode}): ${log.slice(-2000)}`);
    const probe = dgram.createSocket('udp4');
    const bound = await new Promise<boolean>((r) => {
      probe.once('error', () => r(true));
      probe.bind(port, '127.0.0.1', () => r(false));
    });
    await new Promise<void>((r) => probe.close(() => r()));
    if (bound) break;
    if (Date.now() > deadline)
      throw new Error(`kamailio did not bind 127.0.0.1:${port}: ${log.slice(-2000)}`);
    await new Promise((r) => setTimeout(r, 50));
  }
  return {
    port,
    log: () => log,
    stop: async () => {
      if (child.exitCode === null && child.signalCode === null) {
        const exited = new Promise<void>((r) => child.once('exit', () => r()));
        child.kill('SIGTERM');
        await Promise.race([exited, new Promise((r) => setTimeout(r, 3000))]);
        if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
      }
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

export interface TestCert {
  certFile: string;
  keyFile: string;
  /** Certificate and key in one file (baresip's `sip_certificate`). */
  bothFile: string;
  remove(): void;
}

/** A self-signed certificate (openssl) for 127.0.0.1 and the given DNS names. */
export function selfSignedCert(names: string[] = ['localhost']): TestCert {
  const dir = mkdtempSync(join(tmpdir(), 'parley-cert-'));
  const certFile = join(dir, 'cert.pem');
  const keyFile = join(dir, 'key.pem');
  const san = ['IP:127.0.0.1', ...names.map((n) => `DNS:${n}`)].join(',');
  const r = spawnSync(
    'openssl',
    [
      'req',
      '-x509',
      '-newkey',
      'rsa:2048',
      '-nodes',
      '-keyout',
      keyFile,
      '-out',
      certFile,
      '-days',
      '2',
      '-subj',
      `/CN=${names[0] ?? '127.0.0.1'}`,
      '-addext',
      `subjectAltName=${san}`,
    ],
    { encoding: 'utf8' },
  );
  if (r.status !== 0) throw new Error(`openssl req failed: ${r.stderr}`);
  const bothFile = join(dir, 'both.pem');
  writeFileSync(bothFile, readFileSync(certFile, 'utf8') + readFileSync(keyFile, 'utf8'));
  return { certFile, keyFile, bothFile, remove: () => rmSync(dir, { recursive: true, force: true }) };
}
