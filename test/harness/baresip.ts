// baresip, a real SIP softphone, for tests: headless (no sound device: aubridge loops its
// player into its source), its own config folder, SIP on a free port, driven through its
// `ctrl_tcp` module (netstring JSON commands, events back). Installed with apt-get when
// missing (idempotent); killed on exit.
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort, track } from './processes.js';
import { freeUdpPort } from './sip.js';

const has = (bin: string) => spawnSync('sh', ['-c', `command -v ${bin}`], { stdio: 'ignore' }).status === 0;

/** Install baresip from Debian's packages when missing (root only). */
export function ensureBaresip(): void {
  if (has('baresip')) return;
  if (process.getuid?.() !== 0) throw new Error('install baresip (apt-get install -y baresip)');
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  const install = () => spawnSync('apt-get', ['install', '-y', 'baresip'], { stdio: 'ignore', env }).status;
  if (install() !== 0) {
    spawnSync('apt-get', ['update'], { stdio: 'ignore', env });
    if (install() !== 0) throw new Error('apt-get install -y baresip failed');
  }
}

export interface BaresipOptions {
  /** The account's address of record, e.g. `bob@partner.test`. */
  aor: string;
  /** Outbound proxy every request goes to, e.g. `sip:127.0.0.1:5070` (Parley or Kamailio). */
  outbound: string;
  /** `auto` answers incoming calls at once; `manual` waits for an `accept` command. */
  answermode?: 'auto' | 'manual';
  /** Digest credentials for the account (auth_user / auth_pass). */
  auth?: { user: string; pass: string };
  /** The account's transport (uri-param), default udp. */
  transport?: 'udp' | 'tcp' | 'tls';
  /** Contacts (SIP URIs); the first is the current contact `/message` sends to. */
  contacts?: string[];
  /** CA file baresip trusts for TLS. */
  caFile?: string;
  /** PEM with certificate and key: baresip then also listens for TLS (on sipPort + 1). */
  certFile?: string;
  /** The UDP/TCP port (default: a free one). */
  sipPort?: number;
  /** Load the presence module: SUBSCRIBE to every contact, PUBLISH the account's status. */
  presence?: boolean;
}

/** A ctrl_tcp event, e.g. `{ type: 'CALL_ESTABLISHED', peeruri: 'sip:...' }`. */
export interface BaresipEvent {
  type: string;
  class?: string;
  param?: string;
  peeruri?: string;
  [k: string]: unknown;
}

export interface BaresipHandle {
  /** UDP and TCP. */
  sipPort: number;
  /** TLS (with `certFile`): baresip 1.0 binds it one above the UDP/TCP port. */
  tlsPort: number;
  ctrlPort: number;
  /** Everything baresip printed so far, with the SIP trace (colour codes removed). */
  log(): string;
  events: BaresipEvent[];
  /** Run a command (`dial`, `accept`, `hangup`, `message`...); resolves with its response. */
  command(command: string, params?: string): Promise<{ ok: boolean; data: string }>;
  /** The first event at or after index `from` matching `pred`. */
  waitEvent(pred: (e: BaresipEvent) => boolean, from?: number, ms?: number): Promise<BaresipEvent>;
  /** Wait until the log matches `re`. */
  waitLog(re: RegExp, ms?: number): Promise<RegExpMatchArray>;
  stop(): Promise<void>;
}

/** baresip colours its trace: ESC [ ... m. */
const ANSI_COLOUR = new RegExp(`${String.fromCharCode(27)}\\[[0-9;]*m`, 'g');
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

const tcpFree = (port: number) =>
  new Promise<boolean>((resolve) => {
    const srv = net.createServer();
    srv.once('error', () => resolve(false));
    srv.listen(port, '127.0.0.1', () => srv.close(() => resolve(true)));
  });

/** A port free now for UDP and TCP, with the next one free for TCP (baresip's TLS). */
export async function freeSipPort(): Promise<number> {
  for (;;) {
    const p = await freeUdpPort();
    if (p < 65535 && (await tcpFree(p)) && (await tcpFree(p + 1))) return p;
  }
}

/** Frame a string as a netstring (`len:data,`). */
const netstring = (s: string) => `${Buffer.byteLength(s)}:${s},`;

export async function startBaresip(o: BaresipOptions): Promise<BaresipHandle> {
  ensureBaresip();
  const sipPort = o.sipPort ?? (await freeSipPort());
  const ctrlPort = await freePort();
  const dir = mkdtempSync(join(tmpdir(), 'parley-baresip-'));
  const transport = o.transport ?? 'udp';
  writeFileSync(
    join(dir, 'config'),
    [
      'poll_method epoll',
      `sip_listen 127.0.0.1:${sipPort}`,
      ...(o.certFile ? [`sip_certificate ${o.certFile}`] : []),
      ...(o.caFile ? [`sip_cafile ${o.caFile}`] : []),
      'call_local_timeout 120',
      'statmode_default off',
      'audio_player aubridge,parley',
      'audio_source aubridge,parley',
      'audio_alert aubridge,parley',
      'module_path /usr/lib/baresip/modules',
      'module g711.so',
      'module aubridge.so',
      'module_tmp account.so',
      'module_app contact.so',
      'module_app menu.so',
      'module_app ctrl_tcp.so',
      ...(o.presence ? ['module_app presence.so'] : []),
      `ctrl_tcp_listen 127.0.0.1:${ctrlPort}`,
      '',
    ].join('\n'),
  );
  const params = [
    'regint=0',
    `outbound="${o.outbound}"`,
    `answermode=${o.answermode ?? 'manual'}`,
    ...(o.auth ? [`auth_user=${o.auth.user}`, `auth_pass=${o.auth.pass}`] : []),
    ...(o.presence ? ['pubint=600'] : []),
  ];
  writeFileSync(join(dir, 'accounts'), `<sip:${o.aor};transport=${transport}>;${params.join(';')}\n`);
  const contacts = o.contacts ?? [];
  const contactParams = o.presence ? ';presence=p2p' : '';
  writeFileSync(join(dir, 'contacts'), contacts.map((c) => `<${c}>${contactParams}\n`).join(''));
  if (contacts[0]) writeFileSync(join(dir, 'current_contact'), `${contacts[0]}\n`);

  // -s: the SIP trace, the only place baresip 1.0 shows an incoming MESSAGE without a UI module.
  const child = spawn('baresip', ['-f', dir, '-s'], { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] });
  track(child);
  let log = '';
  const onOut = (d: Buffer) => {
    log = (log + d.toString().replace(ANSI_COLOUR, '')).slice(-400_000);
  };
  child.stdout?.on('data', onOut);
  child.stderr?.on('data', onOut);

  const deadline = Date.now() + 10_000;
  while (!log.includes('baresip is ready')) {
    if (child.exitCode !== null) throw new Error(`baresip exited (${child.exitCode}): ${log.slice(-2000)}`);
    if (Date.now() > deadline) throw new Error(`baresip did not start: ${log.slice(-2000)}`);
    await sleep(50);
  }

  // The control connection: netstrings both ways.
  const ctrl = net.connect({ host: '127.0.0.1', port: ctrlPort });
  await new Promise<void>((resolve, reject) => {
    ctrl.once('connect', () => resolve());
    ctrl.once('error', reject);
  });
  ctrl.on('error', () => {});
  const events: BaresipEvent[] = [];
  const waiting = new Map<string, (r: { ok: boolean; data: string }) => void>();
  let buf = Buffer.alloc(0);
  ctrl.on('data', (chunk: Buffer) => {
    buf = Buffer.concat([buf, chunk]);
    for (;;) {
      const colon = buf.indexOf(':');
      if (colon < 0) return;
      const len = Number(buf.subarray(0, colon).toString());
      if (buf.length < colon + 1 + len + 1) return;
      const text = buf.subarray(colon + 1, colon + 1 + len).toString();
      buf = buf.subarray(colon + 1 + len + 1);
      let msg: Record<string, unknown>;
      try {
        msg = JSON.parse(text) as Record<string, unknown>;
      } catch {
        continue;
      }
      if (msg.event) events.push(msg as BaresipEvent);
      else if (msg.response && typeof msg.token === 'string') {
        waiting.get(msg.token)?.({ ok: msg.ok === true, data: String(msg.data ?? '') });
        waiting.delete(msg.token);
      }
    }
  });
  let token = 0;

  const handle: BaresipHandle = {
    sipPort,
    tlsPort: sipPort + 1,
    ctrlPort,
    log: () => log,
    events,
    command: (command, params) =>
      new Promise((resolve, reject) => {
        const tok = String(++token);
        const timer = setTimeout(() => {
          waiting.delete(tok);
          reject(new Error(`baresip: no response to ${command}`));
        }, 5000);
        waiting.set(tok, (r) => {
          clearTimeout(timer);
          resolve(r);
        });
        ctrl.write(netstring(JSON.stringify({ command, ...(params ? { params } : {}), token: tok })));
      }),
    waitEvent: async (pred, from = 0, ms = 10_000) => {
      const end = Date.now() + ms;
      for (;;) {
        const e = events.slice(from).find(pred);
        if (e) return e;
        if (Date.now() > end)
          throw new Error(
            `baresip: no matching event within ${ms} ms; events: ${JSON.stringify(events.slice(from))}\n${log.slice(-2000)}`,
          );
        await sleep(20);
      }
    },
    waitLog: async (re, ms = 10_000) => {
      const end = Date.now() + ms;
      for (;;) {
        const m = log.match(re);
        if (m) return m;
        if (Date.now() > end) throw new Error(`baresip: log never matched ${re}:\n${log.slice(-2000)}`);
        await sleep(20);
      }
    },
    stop: async () => {
      ctrl.destroy();
      if (child.exitCode === null && child.signalCode === null) {
        const exited = new Promise<void>((r) => child.once('exit', () => r()));
        child.kill('SIGTERM');
        await Promise.race([exited, sleep(3000)]);
        if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
      }
      rmSync(dir, { recursive: true, force: true });
    },
  };
  return handle;
}
