// The local lab (issue 6): Redis, Prosody (the enterprise corp.test and a partner host
// chat.partner.test), Synapse (the consumer Matrix hs.test), Kamailio (the SIP partner
// partner.test) and Parley wired to all of them with policies/default.yaml, demo users on
// each network, and instructions for logging in.
// It reuses the test harness (test/harness/*): one implementation starts the servers.
// Run: node --import tsx scripts/lab.ts [--http 127.0.0.1:8080]
//
// Everything lives in one folder (the servers' too: TMPDIR points into it), and nothing
// outlives the lab: Ctrl-C, SIGTERM and closing the terminal (SIGHUP) stop Parley, then the
// servers, and remove the folder; so does the lab's parent dying (the lab polls its parent
// pid); and if the lab itself is killed outright, its watchdog (scripts/lab-watchdog.ts)
// does the same.
import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmodSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { matrixCommand } from '../src/cli/matrix.js';
import { loadConfig } from '../src/config.js';
import { type Gateway, startGateway } from '../src/gateway.js';
import { createLogger } from '../src/log.js';
import { type ProsodyHandle, startProsody } from '../test/harness/prosody.js';
import { freePort, type RedisHandle, startRedis } from '../test/harness/redis.js';
import { ensureSipTools, freeUdpPort, type KamailioHandle, startKamailio } from '../test/harness/sip.js';
import { type SynapseHandle, startSynapse } from '../test/harness/synapse.js';
import { descendants, type WatchdogState } from './lab-watchdog.js';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const args = process.argv.slice(2);
const httpArg = args[args.indexOf('--http') + 1];
const http = args.includes('--http') && httpArg ? httpArg : null;

// A closed terminal or a pipe whose reader is gone (Ctrl-C in `npm run lab | tee`) must
// not turn the lab's own output into a crash that skips the clean-up.
for (const stream of [process.stdout, process.stderr]) stream.on('error', () => {});
const say = (s = '') => {
  if (process.stdout.writable) process.stdout.write(`${s}\n`);
};
const step = (s: string) => say(`  ${s}...`);

const USERS = {
  xmpp: { alice: 'alice-pw', sam: 'sam-pw' },
  partnerXmpp: { dave: 'dave-pw' },
  matrix: ['carol', 'erin'],
};

let redis: RedisHandle | null = null;
let prosody: ProsodyHandle | null = null;
let synapse: SynapseHandle | null = null;
let kamailio: KamailioHandle | null = null;
let gw: Gateway | null = null;
/** The lab folder: config, tokens, registration and every server's own folder. */
let dir: string | null = null;
let stopping = false;

// The watchdog: told which processes the lab started and its folder, cleans up if the
// lab dies without doing so itself.
const watchdog: ChildProcess = spawn(
  process.execPath,
  [...process.execArgv, join(root, 'scripts', 'lab-watchdog.ts')],
  {
    cwd: root,
    detached: true,
    stdio: ['pipe', 'ignore', 'ignore'],
  },
);
watchdog.unref();
watchdog.stdin?.on('error', () => {});
let told = '';
function tellWatchdog(done = false): void {
  const state: WatchdogState = {
    procs: descendants(process.pid).filter((p) => p.pid !== watchdog.pid),
    dirs: dir ? [dir] : [],
    ...(done ? { done } : {}),
  };
  const line = JSON.stringify(state);
  if (line === told || !watchdog.stdin?.writable) return;
  told = line;
  watchdog.stdin.write(`${line}\n`);
}
const tracker = setInterval(() => tellWatchdog(), 1000);
tracker.unref();

/** Stop everything in order (Parley drains and flushes its audit first), remove the folder. */
async function stopAll(code: number, why = ''): Promise<never> {
  if (stopping) process.exit(code);
  stopping = true;
  clearInterval(tracker);
  say(`\nStopping the lab${why ? ` (${why})` : ''}...`);
  // Whatever still hangs after this long is the watchdog's to stop.
  setTimeout(() => process.exit(code), 60_000).unref();
  await gw?.stop().catch(() => {});
  await Promise.allSettled([synapse?.destroy(), prosody?.destroy(), kamailio?.stop(), redis?.stop()]);
  if (dir) rmSync(dir, { recursive: true, force: true });
  tellWatchdog(true);
  watchdog.stdin?.end();
  say('Stopped.');
  process.exit(code);
}
process.on('SIGINT', () => void stopAll(0, 'SIGINT'));
process.on('SIGTERM', () => void stopAll(0, 'SIGTERM'));
process.on('SIGHUP', () => void stopAll(0, 'the terminal closed (SIGHUP)'));
process.on('uncaughtException', (err) => {
  process.stderr.write(`lab failed: ${err.stack ?? err.message}\n`);
  void stopAll(1);
});
// The parent gone (its terminal, npm, a supervisor killed outright): this lab is an orphan.
const parent = process.ppid;
setInterval(() => {
  if (process.ppid !== parent) void stopAll(0, `its parent process ${parent} is gone`);
}, 500).unref();

async function main(): Promise<void> {
  say(
    'Parley lab: starting Redis, Prosody, Kamailio, Synapse and Parley (Synapse is installed on first use).',
  );
  ensureSipTools();
  const labRoot = mkdtempSync(join(tmpdir(), 'parley-lab-'));
  dir = labRoot;
  tellWatchdog();
  // The servers' folders go inside it; Prosody runs as its own user and must pass through.
  chmodSync(labRoot, 0o711);
  process.env.TMPDIR = labRoot;
  // Parley's config and the tokens: readable by this user only.
  const labDir = join(labRoot, 'parley');
  mkdirSync(labDir, { mode: 0o700 });
  const corpSecret = randomBytes(12).toString('hex');
  const partnerSecret = randomBytes(12).toString('hex');
  const adminToken = randomBytes(16).toString('hex');
  const auditorToken = randomBytes(16).toString('hex');
  const [sipPort, hsPort, asPort] = [await freeUdpPort(), await freePort(), await freePort()];
  const listen = http ?? `127.0.0.1:${await freePort()}`;

  step('Redis, Prosody (corp.test, chat.partner.test) and Kamailio (partner.test)');
  [redis, prosody, kamailio] = await Promise.all([
    startRedis(),
    startProsody({
      hosts: [
        { domain: 'corp.test', users: USERS.xmpp },
        { domain: 'chat.partner.test', users: USERS.partnerXmpp },
      ],
      components: [
        { domain: 'gw.corp.test', secret: corpSecret },
        { domain: 'gw.chat.partner.test', secret: partnerSecret },
      ],
    }),
    startKamailio(sipPort),
  ]);

  writeFileSync(
    join(labDir, 'parley.yaml'),
    `# The lab's Parley config (generated by scripts/lab.ts).
store: { redis: "${redis.url}/0" }
http:
  listen: "${listen}"
  tokens: { admin: "${adminToken}", auditor: "${auditorToken}" }
log: { level: warn }
policy: { file: ${JSON.stringify(join(root, 'policies', 'default.yaml'))}, watch: true }
audit: { content: full, failClosed: true }
adapters:
  corp:
    type: xmpp
    service: "${prosody.componentService}"
    component: gw.corp.test
    secret: "${corpSecret}"
    domains: [corp.test]
  partner-xmpp:
    type: xmpp
    service: "${prosody.componentService}"
    component: gw.chat.partner.test
    secret: "${partnerSecret}"
    domains: [chat.partner.test]
  consumer-matrix:
    type: matrix
    homeserver: "http://127.0.0.1:${hsPort}"
    serverName: hs.test
    registration: matrix-registration.yaml
    listen: "127.0.0.1:${asPort}"
    domains: [hs.test]
  partner-sip:
    type: sip
    listen: ["udp://127.0.0.1:${sipPort}"]
    domains: [partner.test]
    route: "sip:127.0.0.1:${kamailio.port}"
    peers: ["127.0.0.1/32"]
`,
  );
  let out = '';
  const code = await matrixCommand(
    ['registration', '-c', 'parley.yaml'],
    { stdout: (s) => (out += s), stderr: (s) => (out += s), cwd: labDir, env: {} },
    (file) => loadConfig(resolve(labDir, file ?? 'parley.yaml'), {}),
  );
  if (code !== 0) throw new Error(`parley matrix registration failed: ${out}`);

  step('Synapse (hs.test)');
  synapse = await startSynapse({ appservices: [join(labDir, 'matrix-registration.yaml')], port: hsPort });
  for (const u of USERS.matrix) await synapse.registerUser(u, `${u}-pw`);

  step('Parley');
  const logger = createLogger({ level: 'warn' });
  gw = await startGateway(loadConfig(join(labDir, 'parley.yaml'), {}), { logger });
  tellWatchdog();

  // Show what Parley sends to the SIP partner (Kamailio answers MESSAGE itself and logs it).
  const kam = kamailio;
  let shown = 0;
  setInterval(() => {
    const lines = kam
      .log()
      .split('\n')
      .filter((l) => l.includes('KAMAILIO-GOT'));
    for (const l of lines.slice(shown)) say(`[sip partner.test] ${l.slice(l.indexOf('KAMAILIO-GOT') + 13)}`);
    shown = lines.length;
  }, 500).unref();

  const c2s = `127.0.0.1:${prosody.c2sPort}`;
  say(`
Parley lab is up (config: ${join(labDir, 'parley.yaml')}).
  lab folder   ${labRoot} (removed when the lab stops)

  Parley       ${gw.url}   admin token: ${adminToken}   auditor token: ${auditorToken}
               ${gw.url}/readyz   ${gw.url}/console   ${gw.url}/metrics
  policy       policies/default.yaml (edit it: Parley reloads it)

XMPP (enterprise corp.test and partner chat.partner.test), Prosody at ${c2s}, no TLS:
  users        alice@corp.test / alice-pw, sam@corp.test / sam-pw, dave@chat.partner.test / dave-pw
  client       any XMPP client with "server ${c2s}", TLS off and plain auth allowed
               (e.g. Gajim, Profanity: /connect alice@corp.test server 127.0.0.1 port ${prosody.c2sPort} tls disable)
  ghosts       write to carol%hs.test@gw.corp.test (Matrix), bob%partner.test@gw.corp.test (SIP),
               dave%chat.partner.test@gw.corp.test (the partner's XMPP)

Matrix (consumer hs.test), Synapse at ${synapse.url}:
  users        carol / carol-pw, erin / erin-pw (Element: homeserver ${synapse.url})
  ghosts       start a direct chat with @_parley_alice=40corp.test:hs.test

SIP (partner partner.test), Kamailio at 127.0.0.1:${kamailio.port} (UDP):
  send         sipp -sf test/integration/sipp/message-uac-200.xml -i 127.0.0.1 -m 1 127.0.0.1:${kamailio.port} \\
                 -key from_user bob -key from_domain partner.test -key to_user alice -key to_domain corp.test \\
                 -key body "hello from SIP"
  call         share presence first: alice, online in her client, adds bob%partner.test@gw.corp.test
               to her roster and accepts its request back (else the call gets 480: no online resource); then
               sipp -sf test/integration/federation-sipp/invite-uac.xml -i 127.0.0.1 -m 1 127.0.0.1:${kamailio.port} \\
                 -key from_user bob -key from_domain partner.test -key to_user alice -key to_domain corp.test
               alice's client rings; answer it (SIPp hangs up 0.3 s later)
  receive      what Parley sends to partner.test is printed here as [sip partner.test] lines

What to try:
  - alice -> carol%hs.test@gw.corp.test: a consumer gets IM with a disclaimer (rule consumer-im);
    the 31st message in a minute is refused (rate limit).
  - alice calls carol: refused (no-consumer-calls); alice calls dave: allowed (partners-talk).
  - carol's presence reaches alice as online/offline only (consumer-presence: presence basic).
  - every decision is in the audit trail: the console, or parley audit verify -c <config above>.

Ctrl-C (or closing this terminal) stops everything and removes the lab folder.`);
}

main().catch(async (err: unknown) => {
  process.stderr.write(`lab failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  await stopAll(1);
});
