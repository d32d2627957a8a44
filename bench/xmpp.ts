// XMPP message throughput and latency through Parley next to Prosody's own client-to-client
// delivery, in the same run. A private Prosody (test harness) with two hosts (corp.test,
// partner.test) and two components (gw.corp.test, gw.partner.test); Parley started by
// startGateway from a config with two XMPP links, a permissive policy and fail-closed audit
// (memory store). Real @xmpp/client users alice@corp.test and bob@partner.test run in a
// child process (as they would on other machines), so Parley has its event loop to itself:
//   direct:  alice -> bob@partner.test                                (Prosody alone)
//   gateway: alice -> bob%partner.test@gw.corp.test -> Parley -> bob  (two Prosody routings)
// Loaded: N messages (default 20,000) in bursts of 500 (the next burst leaves when the
// previous one has arrived), per path, alternating, `--rounds` times (median reported).
// Unloaded: `--probe` messages one at a time, alternating paths; the added p50/p99.
// Parley runs from the compiled dist/ (as `parley start` does; npm run bench:xmpp builds it
// first); --source runs src/ through tsx instead, whose keepNames costs a few per cent.
// --prosody-nagle=off starts Prosody with `network_settings = { nagle = false }` (TCP_NODELAY
// on all its connections; both paths are measured under it). Prosody keeps Nagle on by
// default, and on these short stanza writes it then waits for delayed ACKs: both paths run
// far below Prosody's CPU limit (bench/README.md, XMPP, session 4).
// Run: npm run bench:xmpp [-- --messages=20000 --burst=500 --rounds=3 --probe=300 --source
//                          --prosody-nagle=off]
import { fork } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Element } from '@xmpp/xml';
import { parseConfig } from '../src/config.js';
import { verifyLog } from '../src/core/audit/verify.js';
import { silentLogger } from '../src/core/logger.js';
import type { Gateway } from '../src/gateway.js';
import { login, type TestUser } from '../test/fixtures/xmpp-setup.js';
import { type ProsodyHandle, startProsody } from '../test/harness/prosody.js';
import { argOf, cpuSeconds, loadGateway, median, partnerPolicy, percentile, sleep } from './common.js';

const MESSAGES = Number(argOf('messages') ?? 20_000);
const BURST = Number(argOf('burst') ?? 500);
const ROUNDS = Number(argOf('rounds') ?? 3);
const PROBE = Number(argOf('probe') ?? 300);
const PROSODY_NAGLE = (argOf('prosody-nagle') ?? 'on') !== 'off';

const POLICY = partnerPolicy('bench-xmpp');

const ms3 = (x: number) => +x.toFixed(3);

// ---------------------------------------------------------------- the clients (child) ---

type Path = 'direct' | 'gateway';
const TO: Record<Path, string> = {
  direct: 'bob@partner.test',
  gateway: 'bob%partner.test@gw.corp.test',
};

interface Tracker {
  sent: Map<string, bigint>;
  latencies: number[];
  errors: number;
  waiter: { remaining: number; resolve: () => void } | null;
}

function track(bob: TestUser, alice: TestUser): Tracker {
  const t: Tracker = { sent: new Map(), latencies: [], errors: 0, waiter: null };
  bob.client.on('stanza', (el: Element) => {
    if (el.name !== 'message') return;
    const sentAt = t.sent.get(el.attrs.id as string);
    if (sentAt === undefined) return;
    t.sent.delete(el.attrs.id as string);
    t.latencies.push(Number(process.hrtime.bigint() - sentAt) / 1e6);
    if (t.waiter && --t.waiter.remaining === 0) t.waiter.resolve();
  });
  alice.client.on('stanza', (el: Element) => {
    if (el.name === 'message' && el.attrs.type === 'error' && t.sent.delete(el.attrs.id as string)) {
      t.errors++;
      if (t.waiter && --t.waiter.remaining === 0) t.waiter.resolve();
    }
  });
  return t;
}

let seq = 0;
/** Send `n` messages at once on `path`; resolves when all arrived (or bounced), or after 10 s. */
async function burst(alice: TestUser, t: Tracker, path: Path, n: number): Promise<number> {
  const done = new Promise<void>((resolve) => {
    t.waiter = { remaining: n, resolve };
  });
  const writes: Promise<void>[] = [];
  for (let i = 0; i < n; i++) {
    const id = `${path[0]}${++seq}`;
    t.sent.set(id, process.hrtime.bigint());
    writes.push(
      alice.client.write(
        `<message to="${TO[path]}" type="chat" id="${id}"><body>benchmark message ${seq}, a sentence of ordinary length.</body></message>`,
      ),
    );
  }
  await Promise.all(writes);
  await Promise.race([done, sleep(10_000)]);
  t.waiter = null;
  const lost = t.sent.size;
  t.sent.clear();
  if (lost === n && n > 1) throw new Error(`${path}: none of a burst of ${n} messages arrived within 10 s`);
  return lost;
}

const PROSODY_PID = Number(argOf('prosody-pid') ?? Number.NaN);

async function loaded(alice: TestUser, t: Tracker, path: Path, count: number) {
  t.latencies = [];
  t.errors = 0;
  let lost = 0;
  const cpu0 = {
    prosody: cpuSeconds(PROSODY_PID),
    parley: cpuSeconds(process.ppid),
    clients: cpuSeconds(process.pid),
  };
  const t0 = process.hrtime.bigint();
  for (let done = 0; done < count; done += BURST)
    lost += await burst(alice, t, path, Math.min(BURST, count - done));
  const secs = Number(process.hrtime.bigint() - t0) / 1e9;
  const lat = [...t.latencies].sort((a, b) => a - b);
  const perMsg = (now: number, before: number) => +(((now - before) * 1e6) / count).toFixed(1);
  return {
    msgsPerSec: Math.round(lat.length / secs),
    p50Ms: ms3(percentile(lat, 0.5)),
    p99Ms: ms3(percentile(lat, 0.99)),
    delivered: lat.length,
    errors: t.errors,
    lost,
    /** CPU µs per message in each process (where the time goes; the parent is Parley). */
    cpuUsPerMsg: {
      prosody: perMsg(cpuSeconds(PROSODY_PID), cpu0.prosody),
      parley: perMsg(cpuSeconds(process.ppid), cpu0.parley),
      clients: perMsg(cpuSeconds(process.pid), cpu0.clients),
    },
  };
}

async function clients(service: string): Promise<void> {
  const [alice, bob] = await Promise.all([
    login(service, 'corp.test', 'alice', 'pw-a', { resource: 'bench' }),
    login(service, 'partner.test', 'bob', 'pw-b', { resource: 'bench' }),
  ]);
  // login() keeps every stanza for tests; a benchmark does not need them.
  const drop = () => {
    alice.received.length = 0;
    bob.received.length = 0;
  };
  const t = track(bob, alice);
  // Warm-up (JIT, Prosody's and Parley's caches).
  for (const path of ['direct', 'gateway'] as const) await loaded(alice, t, path, Math.min(2_000, MESSAGES));
  drop();

  const rounds: Record<Path, Awaited<ReturnType<typeof loaded>>[]> = { direct: [], gateway: [] };
  for (let r = 0; r < ROUNDS; r++) {
    for (const path of ['direct', 'gateway'] as const) {
      const res = await loaded(alice, t, path, MESSAGES);
      rounds[path].push(res);
      console.log(
        JSON.stringify({
          bench: 'xmpp-loaded',
          round: r + 1,
          path,
          messages: MESSAGES,
          burst: BURST,
          ...res,
        }),
      );
      drop();
    }
  }
  const pick = (path: Path) => {
    const rs = rounds[path];
    const m = median(rs.map((x) => x.msgsPerSec));
    return rs.find((x) => x.msgsPerSec === m)!;
  };
  const direct = pick('direct');
  const gateway = pick('gateway');
  const ratio = +(gateway.msgsPerSec / direct.msgsPerSec).toFixed(2);
  console.log(
    JSON.stringify({
      bench: 'xmpp-throughput',
      messages: MESSAGES,
      burst: BURST,
      rounds: ROUNDS,
      directMsgsPerSec: direct.msgsPerSec,
      gatewayMsgsPerSec: gateway.msgsPerSec,
      directRounds: rounds.direct.map((x) => x.msgsPerSec),
      gatewayRounds: rounds.gateway.map((x) => x.msgsPerSec),
      ratioToDirect: ratio,
      targetRatio: 0.45,
      prosodyNagle: PROSODY_NAGLE,
      loadedLatency: {
        direct: { p50Ms: direct.p50Ms, p99Ms: direct.p99Ms },
        gateway: { p50Ms: gateway.p50Ms, p99Ms: gateway.p99Ms },
      },
      lostOrBounced: Object.values(rounds)
        .flat()
        .reduce((n, x) => n + x.lost + x.errors, 0),
    }),
  );

  // Unloaded: one message at a time, the two paths alternating.
  const probe: Record<Path, number[]> = { direct: [], gateway: [] };
  let probeLost = 0;
  for (let i = 0; i < PROBE; i++) {
    for (const path of ['direct', 'gateway'] as const) {
      t.latencies = [];
      probeLost += await burst(alice, t, path, 1);
      if (t.latencies[0] !== undefined) probe[path].push(t.latencies[0]);
    }
  }
  drop();
  const d = probe.direct.sort((a, b) => a - b);
  const g = probe.gateway.sort((a, b) => a - b);
  const added50 = percentile(g, 0.5) - percentile(d, 0.5);
  const added99 = percentile(g, 0.99) - percentile(d, 0.99);
  console.log(
    JSON.stringify({
      bench: 'xmpp-unloaded',
      messagesPerPath: PROBE,
      direct: { p50Ms: ms3(percentile(d, 0.5)), p99Ms: ms3(percentile(d, 0.99)) },
      gateway: { p50Ms: ms3(percentile(g, 0.5)), p99Ms: ms3(percentile(g, 0.99)) },
      addedP50Ms: ms3(added50),
      addedP99Ms: ms3(added99),
      targetAddedP50Ms: 0.5,
      targetAddedP99Ms: 5,
      lost: probeLost,
    }),
  );
  await Promise.all([alice.stop(), bob.stop()]);
}

// ---------------------------------------------------------- Prosody + Parley (parent) ---

async function main(): Promise<number> {
  let prosody: ProsodyHandle | null = null;
  let gw: Gateway | null = null;
  const dir = mkdtempSync(join(tmpdir(), 'parley-bench-xmpp-'));
  try {
    prosody = await startProsody({
      hosts: [
        { domain: 'corp.test', users: { alice: 'pw-a' } },
        { domain: 'partner.test', users: { bob: 'pw-b' } },
      ],
      components: [
        { domain: 'gw.corp.test', secret: 'corp-secret' },
        { domain: 'gw.partner.test', secret: 'partner-secret' },
      ],
      ...(PROSODY_NAGLE ? {} : { extraConfig: ['network_settings = { nagle = false }'] }),
    });
    writeFileSync(join(dir, 'policy.yaml'), POLICY);
    const text = `store: { memory: true }
http:
  listen: "127.0.0.1:0"
policy: { file: policy.yaml, watch: false }
audit: { content: full, failClosed: true }
adapters:
  corp:
    type: xmpp
    service: "${prosody.componentService}"
    component: gw.corp.test
    secret: corp-secret
    domains: [corp.test]
  partner:
    type: xmpp
    service: "${prosody.componentService}"
    component: gw.partner.test
    secret: partner-secret
    domains: [partner.test]
`;
    writeFileSync(join(dir, 'parley.yaml'), text);
    gw = await (await loadGateway()).startGateway(parseConfig(text, join(dir, 'parley.yaml')), {
      logger: silentLogger,
      watchPolicy: false,
    });
    const deadline = Date.now() + 15_000;
    for (;;) {
      const res = await fetch(`${gw.url}/readyz`);
      if (res.status === 200) break;
      if (Date.now() > deadline) throw new Error(`Parley not ready: ${await res.text()}`);
      await sleep(50);
    }

    const child = fork(
      fileURLToPath(import.meta.url),
      [
        '--role=clients',
        `--service=${prosody.c2sService}`,
        `--prosody-pid=${readFileSync(join(prosody.dir, 'prosody.pid'), 'utf8').trim()}`,
        ...process.argv.slice(2),
      ],
      {
        execArgv: process.execArgv,
        stdio: 'inherit',
      },
    );
    const code = await new Promise<number | null>((r) => child.once('exit', (c) => r(c)));
    if (code !== 0) throw new Error(`the client process exited with ${code}`);

    await gw.audit.flush();
    const records = await gw.store.audit.length();
    const verified = await verifyLog(gw.store.audit);
    console.log(JSON.stringify({ bench: 'xmpp-audit', records, ok: verified.ok }));
    return 0;
  } catch (err) {
    console.error(err);
    if (prosody) console.error(prosody.log().slice(-3000));
    return 1;
  } finally {
    await gw?.stop().catch(() => {});
    await prosody?.destroy().catch(() => {});
    rmSync(dir, { recursive: true, force: true });
  }
}

if (argOf('role') === 'clients') {
  const service = argOf('service');
  if (!service) throw new Error('--service= is required');
  await clients(service);
  process.exit(0);
} else {
  process.exit(await main());
}
