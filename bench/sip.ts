// SIP MESSAGE throughput through Parley next to Kamailio, in the same run. SIPp (a UAC,
// bench/sipp/message-uac.xml) sends pager-mode MESSAGEs at increasing rates to
//   - Kamailio alone: a stateful relay (t_relay, -m 1024) to a SIPp UAS (the baseline);
//   - Parley: in a process of its own (bench/sip-gateway.mjs, as `parley start` runs it),
//     from a config with two SIP adapters — `partner-sip` (partner.test, where SIPp sends)
//     and `corp-sip` (corp.test, whose route is the SIPp UAS) — with a permissive policy and
//     fail-closed audit (memory store). Parley answers the UAC only after the far end's
//     200, so the response time covers both legs.
// After a 2 s warm-up, each rate of the ladder runs for a few seconds (a step failing more
// than 1 % ends the ladder); the highest rate with < 0.1 % failed calls that SIPp really
// carried (>= 90 % of the offered rate, not stretched by retransmissions) wins, with SIPp's
// p99 response time at that rate (SIPp's clock moves in ~4 ms steps here), and the highest
// rate that also kept p99 <= 20 ms. Parley's steps also report its process's CPU per
// MESSAGE (all threads), the event loop's utilisation and time per MESSAGE, event-loop delay,
// GC pauses and mark-compacts, to tell its own stalls from the machine's noise.
// Parley runs from the compiled dist/ (as `parley start` does; npm run bench:sip builds it
// first); --source runs src/ through tsx instead.
// Run: npm run bench:sip [-- --rates=250,500,1000 --seconds=4 --children=4 --source
//   --targets=parley (Parley's ladder alone, for A/B runs; no ratio) --udp-thread=off
//   --parley-node-options="--trace-gc-nvp" (node options for Parley's process; its output
//   goes to this one's stderr)]
// Prints one JSON line per step, then one summary line per target and the ratio.
import { type ChildProcess, fork, spawn } from 'node:child_process';
import dgram from 'node:dgram';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { track } from '../test/harness/processes.js';
import { ensureSipTools, freeUdpPort } from '../test/harness/sip.js';
import { argOf, partnerPolicy, sleep } from './common.js';

const SIPP_DIR = resolve(dirname(fileURLToPath(import.meta.url)), 'sipp');
const MODULES = '/usr/lib/x86_64-linux-gnu/kamailio/modules/';

const RATES = (argOf('rates') ?? '250,500,1000,2000,3000,4000,6000,8000,12000').split(',').map(Number);
const SECONDS = Number(argOf('seconds') ?? 4);
const KAMAILIO_CHILDREN = Number(argOf('children') ?? 4);
/** --udp-thread=off: Parley's SIP sockets on its event loop (the adapter's `udpThread: false`). */
const UDP_THREAD = argOf('udp-thread') !== 'off';
/** Which ladders to run (A/B runs of Parley alone skip Kamailio's; the ratio needs both). */
const TARGETS = new Set((argOf('targets') ?? 'kamailio,parley').split(','));
/** A step failing more than this share ends the ladder for that target (higher rates fail too). */
const STOP_SHARE = 0.01;
const OK_SHARE = 0.001;
const P99_TARGET_MS = 20;
/** A step passes only when SIPp completed at least this share of the offered rate. */
const SUSTAINED = 0.9;

const POLICY = partnerPolicy('bench-sip');

function waitExit(c: ChildProcess): Promise<number | null> {
  if (c.exitCode !== null || c.signalCode !== null) return Promise.resolve(c.exitCode);
  return new Promise((r) => c.once('exit', (code) => r(code)));
}

async function kill(c: ChildProcess): Promise<void> {
  if (c.exitCode !== null || c.signalCode !== null) return;
  c.kill('SIGTERM');
  const exited = await Promise.race([waitExit(c).then(() => true), sleep(3000).then(() => false)]);
  if (!exited) {
    c.kill('SIGKILL');
    await waitExit(c);
  }
}

/** True once something holds 127.0.0.1:<port>/udp (binding it ourselves fails). */
async function udpBound(port: number): Promise<boolean> {
  const probe = dgram.createSocket('udp4');
  const bound = await new Promise<boolean>((r) => {
    probe.once('error', () => r(true));
    probe.bind(port, '127.0.0.1', () => r(false));
  });
  await new Promise<void>((r) => probe.close(() => r()));
  return bound;
}

async function waitBound(port: number, c: ChildProcess, what: string, output: () => string) {
  const deadline = Date.now() + 10_000;
  while (!(await udpBound(port))) {
    if (c.exitCode !== null) throw new Error(`${what} exited (${c.exitCode}): ${output().slice(-2000)}`);
    if (Date.now() > deadline) throw new Error(`${what} did not bind 127.0.0.1:${port}`);
    await sleep(50);
  }
}

/** The SIPp UAS answering every MESSAGE 200; runs until killed. */
async function startUas(dir: string) {
  const port = await freeUdpPort();
  const child = spawn(
    'sipp',
    [
      '-sf',
      join(SIPP_DIR, 'message-uas.xml'),
      '-i',
      '127.0.0.1',
      '-p',
      String(port),
      '-nostdin',
      '-buff_size',
      '1048576',
    ],
    { cwd: dir, stdio: ['ignore', 'ignore', 'pipe'] },
  );
  track(child);
  let err = '';
  child.stderr?.on('data', (d: Buffer) => {
    err = (err + d.toString()).slice(-4000);
  });
  await waitBound(port, child, 'sipp UAS', () => err);
  return { port, stop: () => kill(child) };
}

/** Kamailio as a stateful relay (t_relay) of everything to the UAS. */
async function startKamailioRelay(dir: string, uasPort: number) {
  const port = await freeUdpPort();
  const cfg = join(dir, 'kamailio.cfg');
  writeFileSync(
    cfg,
    `#!KAMAILIO
debug=1
log_stderror=yes
children=${KAMAILIO_CHILDREN}
disable_tcp=yes
auto_aliases=no
listen=udp:127.0.0.1:${port}
mpath="${MODULES}"
loadmodule "tm.so"
loadmodule "sl.so"
loadmodule "pv.so"
loadmodule "maxfwd.so"

request_route {
  if (!mf_process_maxfwd_header("10")) { sl_send_reply("483", "Too Many Hops"); exit; }
  $du = "sip:127.0.0.1:${uasPort}";
  if (!t_relay()) sl_reply_error();
}
`,
  );
  const child = spawn('kamailio', ['-DD', '-E', '-f', cfg, '-Y', dir, '-m', '1024', '-M', '16'], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  track(child);
  let log = '';
  const keep = (d: Buffer) => {
    log = (log + d.toString()).slice(-8000);
  };
  child.stdout?.on('data', keep);
  child.stderr?.on('data', keep);
  await waitBound(port, child, 'kamailio', () => log);
  return { port, log: () => log, stop: () => kill(child) };
}

interface Step {
  rate: number;
  calls: number;
  successful: number;
  failed: number;
  failedShare: number;
  retransmissions: number;
  achievedRate: number;
  p50Ms: number | null;
  p99Ms: number | null;
  maxMs: number | null;
  /** Datagrams the kernel dropped on this machine during the step (full receive buffers). */
  udpRcvbufErrors: number;
}

/** The kernel's count of UDP datagrams dropped because a socket's receive buffer was full. */
function udpRcvbufErrors(): number {
  const lines = readFileSync('/proc/net/snmp', 'utf8')
    .split('\n')
    .filter((l) => l.startsWith('Udp:'));
  const head = lines[0]?.split(/\s+/) ?? [];
  const values = lines[1]?.split(/\s+/) ?? [];
  return Number(values[head.indexOf('RcvbufErrors')] ?? 0);
}

/** One SIPp UAC run: `rate` MESSAGE/s for SECONDS to `target`; stats from its CSV files. */
async function step(target: string, rate: number, seconds = SECONDS): Promise<Step> {
  const dir = mkdtempSync(join(tmpdir(), 'parley-bench-sipp-'));
  const calls = Math.max(1, Math.round(rate * seconds));
  try {
    const args = [
      '-sf',
      join(SIPP_DIR, 'message-uac.xml'),
      '-i',
      '127.0.0.1',
      '-p',
      String(await freeUdpPort()),
      '-r',
      String(rate),
      '-m',
      String(calls),
      '-nostdin',
      '-buff_size',
      '1048576',
      '-recv_timeout',
      '5000',
      '-timeout',
      `${seconds + 30}s`,
      '-trace_stat',
      '-stf',
      join(dir, 'stat.csv'),
      '-fd',
      '1',
      '-trace_rtt',
      '-rtt_freq',
      '1000',
      '-key',
      'from_user',
      'bob',
      '-key',
      'from_domain',
      'partner.test',
      '-key',
      'to_user',
      'alice',
      '-key',
      'to_domain',
      'corp.test',
      target,
    ];
    const child = spawn('sipp', args, { cwd: dir, stdio: ['ignore', 'ignore', 'pipe'] });
    track(child);
    const drops0 = udpRcvbufErrors();
    let err = '';
    child.stderr?.on('data', (d: Buffer) => {
      err = (err + d.toString()).slice(-4000);
    });
    const t0 = process.hrtime.bigint();
    const code = await waitExit(child);
    const wall = Number(process.hrtime.bigint() - t0) / 1e9;
    const stat = readFileSync(join(dir, 'stat.csv'), 'utf8').trim().split('\n');
    if (stat.length < 2) throw new Error(`sipp (exit ${code}) wrote no statistics: ${err}`);
    const head = stat[0]!.split(';');
    const last = stat.at(-1)!.split(';');
    const field = (name: string) => Number(last[head.indexOf(name)] ?? Number.NaN);
    const rttFile = readdirSync(dir).find((f) => f.endsWith('_rtt.csv'));
    const rtts = rttFile
      ? readFileSync(join(dir, rttFile), 'utf8')
          .trim()
          .split('\n')
          .slice(1)
          .map((l) => Number(l.split(';')[1]))
          .filter((x) => Number.isFinite(x))
          .sort((a, b) => a - b)
      : [];
    const q = (p: number) =>
      rtts.length ? rtts[Math.min(rtts.length - 1, Math.floor(p * rtts.length))]! : null;
    const successful = field('SuccessfulCall(C)');
    const failed = field('FailedCall(C)');
    // Calls never finished (sipp stopped by -timeout) count as failed too.
    const failedAll = Math.max(failed, calls - successful);
    return {
      rate,
      calls,
      successful,
      failed: failedAll,
      failedShare: +(failedAll / calls).toFixed(5),
      retransmissions: field('Retransmissions(C)'),
      achievedRate: Math.round(successful / Math.max(wall, seconds)),
      p50Ms: q(0.5),
      p99Ms: q(0.99),
      maxMs: rtts.length ? rtts.at(-1)! : null,
      udpRcvbufErrors: udpRcvbufErrors() - drops0,
    };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Parley's process (bench/sip-gateway.mjs): started, asked, finished over IPC. */
async function startParley(configPath: string) {
  const source = process.argv.includes('--source');
  const child = fork(
    fileURLToPath(new URL('./sip-gateway.mjs', import.meta.url)),
    [configPath, ...(source ? ['--source'] : [])],
    {
      execArgv: [...(source ? ['--import', 'tsx'] : []), ...(argOf('parley-node-options')?.split(' ') ?? [])],
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    },
  );
  track(child);
  const next = (type: string) =>
    new Promise<Record<string, unknown>>((resolve, reject) => {
      const onMessage = (m: Record<string, unknown>) => {
        if (m.type !== type) return;
        child.off('message', onMessage);
        child.off('exit', onExit);
        resolve(m);
      };
      const onExit = (code: number | null) =>
        reject(new Error(`Parley's process exited (${code}) before "${type}"`));
      child.on('message', onMessage);
      child.once('exit', onExit);
    });
  await next('ready');
  const ask = (m: Record<string, unknown>, reply: string) => {
    const answer = next(reply);
    child.send(m);
    return answer;
  };
  return {
    /** Start measuring; the function returned ends the step and gives its figures. */
    watch: async () => {
      await ask({ type: 'watch' }, 'watching');
      return async (messages: number) => (await ask({ type: 'stats', messages }, 'stats')).stats;
    },
    finish: async () => {
      const done = await ask({ type: 'finish' }, 'finished');
      await waitExit(child);
      return { records: done.records as number, auditOk: done.auditOk as boolean };
    },
    stop: () => kill(child),
  };
}

type Parley = Awaited<ReturnType<typeof startParley>>;

async function ladder(name: string, target: string, parley: Parley | null = null) {
  // Warm-up (JIT, caches, Kamailio's first transactions): 2 s at 250/s, not counted.
  const warm = await step(target, 250, 2);
  console.log(JSON.stringify({ bench: 'sip-warmup', target: name, ...warm }));
  await sleep(500);
  const steps: Step[] = [];
  for (const rate of RATES) {
    const stats = parley ? await parley.watch() : null;
    const s = await step(target, rate);
    steps.push(s);
    console.log(
      JSON.stringify({
        bench: 'sip',
        target: name,
        ...s,
        ...(stats ? { parleyProcess: await stats(s.calls) } : {}),
      }),
    );
    if (s.failedShare > STOP_SHARE) break;
    await sleep(1000); // let retransmissions and transaction timers settle
  }
  // Passed: < 0.1 % failed and the rate was really carried (not stretched by retransmissions).
  const ok = steps.filter((s) => s.failedShare < OK_SHARE && s.achievedRate >= SUSTAINED * s.rate);
  const highest = (xs: Step[]) => xs.reduce<Step | null>((b, s) => (!b || s.rate > b.rate ? s : b), null);
  const best = highest(ok);
  /** The highest rate that also kept p99 within the target. */
  const bestWithinP99 = highest(ok.filter((s) => s.p99Ms !== null && s.p99Ms <= P99_TARGET_MS));
  return { steps, best, bestWithinP99 };
}

ensureSipTools();
const work = mkdtempSync(join(tmpdir(), 'parley-bench-sip-'));
const stops: (() => Promise<void>)[] = [];
let exitCode = 0;
try {
  const uas = await startUas(work);
  stops.push(uas.stop);

  // Baseline: Kamailio alone.
  const kam = await startKamailioRelay(work, uas.port);
  stops.push(kam.stop);
  await sleep(300);
  const kamailio = TARGETS.has('kamailio')
    ? await ladder('kamailio', `127.0.0.1:${kam.port}`)
    : { steps: [], best: null, bestWithinP99: null };
  await kam.stop();

  // Parley: SIP in (partner-sip) -> policy + audit -> SIP out (corp-sip) -> UAS.
  const inPort = await freeUdpPort();
  const outPort = await freeUdpPort();
  writeFileSync(join(work, 'policy.yaml'), POLICY);
  const configText = `store: { memory: true }
policy: { file: policy.yaml, watch: false }
audit: { content: full, failClosed: true }
adapters:
  partner-sip:
    type: sip
    listen: ["udp://127.0.0.1:${inPort}"]
    domains: [partner.test]
    route: "sip:127.0.0.1:${await freeUdpPort()}"
    peers: [127.0.0.1/32]
    udpThread: ${UDP_THREAD}
  corp-sip:
    type: sip
    listen: ["udp://127.0.0.1:${outPort}"]
    domains: [corp.test]
    route: "sip:127.0.0.1:${uas.port}"
    peers: [127.0.0.1/32]
    udpThread: ${UDP_THREAD}
`;
  writeFileSync(join(work, 'parley.yaml'), configText);
  const proc = await startParley(join(work, 'parley.yaml'));
  stops.push(proc.stop);
  const parley = await ladder('parley', `127.0.0.1:${inPort}`, proc);
  const { records, auditOk } = await proc.finish();

  const summary = (name: string, r: typeof kamailio) => ({
    bench: 'sip-summary',
    target: name,
    /** The highest step with < 0.1 % failed calls whose rate was carried (>= 90 % achieved). */
    maxRateUnder0_1PctFailures: r.best?.rate ?? 0,
    achievedRate: r.best?.achievedRate ?? 0,
    p50Ms: r.best?.p50Ms ?? null,
    p99Ms: r.best?.p99Ms ?? null,
    maxRateWithP99Within20Ms: r.bestWithinP99?.rate ?? 0,
    stepsRun: r.steps.map((s) => s.rate),
  });
  console.log(JSON.stringify(summary('kamailio', kamailio)));
  console.log(
    JSON.stringify({
      ...summary('parley', parley),
      udpThread: UDP_THREAD,
      auditRecords: records,
      auditOk,
    }),
  );
  const kRate = kamailio.best?.rate ?? 0;
  const pRate = parley.best?.rate ?? 0;
  console.log(
    JSON.stringify({
      bench: 'sip-ratio',
      parleyRate: pRate,
      kamailioStatefulRate: kRate,
      ratio: kRate ? +(pRate / kRate).toFixed(2) : null,
      targetRatio: 0.5,
      parleyP99Ms: parley.best?.p99Ms ?? null,
      targetP99Ms: P99_TARGET_MS,
      parleyRateWithP99Within20Ms: parley.bestWithinP99?.rate ?? 0,
      ratioWithP99Within20Ms: kRate ? +((parley.bestWithinP99?.rate ?? 0) / kRate).toFixed(2) : null,
      kamailioLadderCapped: kRate === RATES.at(-1),
      note: 'SIPp response times come in ~4 ms steps; rates are the ladder steps passed',
    }),
  );
} catch (err) {
  console.error(err);
  exitCode = 1;
} finally {
  for (const s of stops.reverse()) await s().catch(() => {});
  rmSync(work, { recursive: true, force: true });
}
process.exit(exitCode);
