// Matrix <-> XMPP through Parley next to Synapse's own Matrix-to-Matrix delivery, in the
// same run. A private Synapse (test harness, Parley as its appservice), a private Prosody
// (host corp.test, component gw.corp.test) and Parley (startGateway: one Matrix and one
// XMPP link, fail-closed audit, memory store or --store=redis) in this process; the users
// run in a child process (as they would on other machines): Matrix users ann and ben (plain
// HTTP, /sync long-poll), XMPP user xena (@xmpp/client). Three paths:
//   native: ann -> Synapse -> ben's /sync                                  (Synapse alone)
//   m2x:    ann -> Synapse -> Parley -> Prosody -> xena                    (Matrix to XMPP)
//   x2m:    xena -> Prosody -> Parley -> Synapse -> ann's /sync            (XMPP to Matrix)
// Unloaded: `--probe` events one at a time, paths alternating: end-to-end p50/p99, and
// Parley's own share — from the moment the event reaches Parley (the appservice transaction
// request, or the stanza on the component socket) to the moment Parley hands it on (the
// stanza written, or the PUT /send headers sent), timed in this process with
// diagnostics_channel and socket hooks on the same monotonic clock as the clients.
// Loaded: `--events` per path with `--window` in flight, `--rounds` times: events/s,
// latency and the CPU each process used (Parley: process.cpuUsage; Synapse, Prosody:
// /proc/<pid>/stat).
// Run: npm run bench:matrix [-- --probe=100 --events=600 --window=20 --rounds=3 --store=redis]
import { fork } from 'node:child_process';
import diagnostics from 'node:diagnostics_channel';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import type { IncomingMessage } from 'node:http';
import { Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Element } from '@xmpp/xml';
import { matrixCommand } from '../src/cli/matrix.js';
import { loadConfig } from '../src/config.js';
import { verifyLog } from '../src/core/audit/verify.js';
import { silentLogger } from '../src/core/logger.js';
import { type Gateway, startGateway } from '../src/gateway.js';
import { login } from '../test/fixtures/xmpp-setup.js';
import { type ProsodyHandle, startProsody } from '../test/harness/prosody.js';
import { freePort, type RedisHandle, startRedis } from '../test/harness/redis.js';
import { type SynapseHandle, startSynapse } from '../test/harness/synapse.js';
import { argOf, cpuSeconds, median, percentile, sleep } from './common.js';

const PROBE = Number(argOf('probe') ?? 100);
const EVENTS = Number(argOf('events') ?? 600);
const WINDOW = Number(argOf('window') ?? 20);
const ROUNDS = Number(argOf('rounds') ?? 3);
const STORE = argOf('store') ?? 'memory';

const POLICY = `apiVersion: parley/v1
kind: Policy
metadata: { name: bench-matrix, version: "1" }
zones:
  enterprise: { domains: [corp.test] }
  consumer: { domains: [hs.test] }
defaults: { decision: deny }
rules:
  - id: enterprise-consumer
    match: { between: [{ zone: enterprise }, { zone: consumer }] }
    effect: allow
`;
const XMPP_SECRET = 'bench-matrix-secret';
const GHOST_XENA = '@_parley_xena=40corp.test:hs.test';
const XMPP_ANN = 'ann%hs.test@gw.corp.test';

const ms3 = (x: number) => +x.toFixed(3);
const nowNs = (): bigint => process.hrtime.bigint();

type Path = 'native' | 'm2x' | 'x2m';
const PATHS: readonly Path[] = ['native', 'm2x', 'x2m'];

// ------------------------------------------------------------------- parent <-> child ---

interface Setup {
  hsUrl: string;
  ann: { userId: string; token: string };
  ben: { userId: string; token: string };
  c2s: string;
  synapsePid: number;
  prosodyPid: number;
}

type ToParent =
  | { type: 'cpu'; id: number }
  | { type: 'span'; id: number; path: 'm2x' | 'x2m'; from: string; to: string }
  | { type: 'reset' };
type ToChild = { type: 'cpu'; id: number; seconds: number } | { type: 'span'; id: number; ms: number | null };

// ----------------------------------------------------------------- the clients (child) ---

let rpcSeq = 0;
const rpcWaiters = new Map<number, (m: ToChild) => void>();
process.on('message', (m: ToChild) => {
  rpcWaiters.get(m.id)?.(m);
  rpcWaiters.delete(m.id);
});
type Ask = { type: 'cpu' } | { type: 'span'; path: 'm2x' | 'x2m'; from: string; to: string };
function rpc(msg: Ask): Promise<ToChild> {
  const id = ++rpcSeq;
  return new Promise((res) => {
    rpcWaiters.set(id, res);
    process.send?.({ ...msg, id });
  });
}

const SYNC_FILTER = JSON.stringify({
  presence: { not_types: ['*'] },
  account_data: { not_types: ['*'] },
  room: {
    timeline: { limit: 1000, types: ['m.room.message'] },
    state: { lazy_load_members: true, types: [] },
    ephemeral: { not_types: ['*'] },
    account_data: { not_types: ['*'] },
  },
});

/** A Matrix user as plain HTTP: sends, and a /sync long-poll loop reporting messages. */
class MatrixUser {
  #since = '';
  #running = false;
  #abort: AbortController | null = null;
  #loop: Promise<void> | null = null;
  onMessage: (roomId: string, sender: string, body: string) => void = () => {};

  constructor(
    readonly hs: string,
    readonly userId: string,
    readonly token: string,
  ) {}

  async call<T>(method: string, path: string, body?: unknown): Promise<T> {
    const res = await fetch(`${this.hs}/_matrix/client/v3${path}`, {
      method,
      headers: { authorization: `Bearer ${this.token}`, 'content-type': 'application/json' },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
    const json = (await res.json()) as T;
    if (!res.ok) throw new Error(`${method} ${path}: ${res.status} ${JSON.stringify(json)}`);
    return json;
  }

  async sendText(roomId: string, body: string, txn: string): Promise<void> {
    await this.call('PUT', `/rooms/${encodeURIComponent(roomId)}/send/m.room.message/${txn}`, {
      msgtype: 'm.text',
      body,
    });
  }

  async #sync(timeoutMs: number): Promise<void> {
    const q = new URLSearchParams({
      timeout: String(timeoutMs),
      set_presence: 'offline',
      filter: SYNC_FILTER,
    });
    if (this.#since) q.set('since', this.#since);
    this.#abort = new AbortController();
    const res = await fetch(`${this.hs}/_matrix/client/v3/sync?${q}`, {
      headers: { authorization: `Bearer ${this.token}` },
      signal: this.#abort.signal,
    });
    if (!res.ok) throw new Error(`sync: ${res.status} ${await res.text()}`);
    const json = (await res.json()) as {
      next_batch: string;
      rooms?: {
        join?: Record<
          string,
          { timeline?: { events?: { type: string; sender: string; content: { body?: unknown } }[] } }
        >;
      };
    };
    const first = this.#since === '';
    this.#since = json.next_batch;
    if (first) return; // history, not measured
    for (const [roomId, room] of Object.entries(json.rooms?.join ?? {})) {
      for (const e of room.timeline?.events ?? []) {
        if (e.type === 'm.room.message' && typeof e.content.body === 'string')
          this.onMessage(roomId, e.sender, e.content.body);
      }
    }
  }

  async start(): Promise<void> {
    await this.#sync(0);
    this.#running = true;
    this.#loop = (async () => {
      while (this.#running) {
        try {
          await this.#sync(30_000);
        } catch (err) {
          if (this.#running) {
            console.error(`${this.userId} sync failed: ${(err as Error).message}`);
            await sleep(200);
          }
        }
      }
    })();
  }

  async stop(): Promise<void> {
    this.#running = false;
    this.#abort?.abort();
    await this.#loop;
  }
}

interface Pending {
  at: bigint;
  done: (ms: number | null) => void;
}

async function clients(setup: Setup): Promise<void> {
  const ann = new MatrixUser(setup.hsUrl, setup.ann.userId, setup.ann.token);
  const ben = new MatrixUser(setup.hsUrl, setup.ben.userId, setup.ben.token);
  const xena = await login(setup.c2s, 'corp.test', 'xena', 'pw-x', { resource: 'bench' });

  // Rooms: ann with ben (native); ann's direct room with xena's ghost (both bridged paths).
  const native = (await ann.call<{ room_id: string }>('POST', '/createRoom', { invite: [ben.userId] }))
    .room_id;
  await ben.call('POST', `/join/${encodeURIComponent(native)}`, {});
  const dm = (
    await ann.call<{ room_id: string }>('POST', '/createRoom', {
      invite: [GHOST_XENA],
      is_direct: true,
      preset: 'trusted_private_chat',
    })
  ).room_id;
  for (let i = 0; ; i++) {
    const m = await ann.call<{ joined: Record<string, unknown> }>(
      'GET',
      `/rooms/${encodeURIComponent(dm)}/joined_members`,
    );
    if (m.joined[GHOST_XENA]) break;
    if (i > 200) throw new Error('the ghost did not join the direct room');
    await sleep(50);
  }

  const pending = new Map<string, Pending>();
  const arrived = (body: string) => {
    const token = /^bench-(\d+)/.exec(body)?.[0];
    const p = token ? pending.get(token) : undefined;
    if (!p || !token) return;
    pending.delete(token);
    p.done(Number(nowNs() - p.at) / 1e6);
  };
  ben.onMessage = (roomId, sender, body) => {
    if (roomId === native && sender === ann.userId) arrived(body);
  };
  ann.onMessage = (roomId, sender, body) => {
    if (roomId === dm && sender === GHOST_XENA) arrived(body);
  };
  xena.client.on('stanza', (el: Element) => {
    if (el.name !== 'message') return;
    const body = el.getChildText('body');
    if (body) arrived(body);
  });
  const drop = () => {
    xena.received.length = 0;
  };
  await Promise.all([ann.start(), ben.start()]);

  let seq = 0;
  /** Send one event on `path`; resolves with its latency in ms, or null when it failed/was lost. */
  const sendOne = (path: Path): { sentAt: bigint; arrival: Promise<number | null> } => {
    const token = `bench-${++seq}`;
    const body = `${token} ${path}, a sentence of ordinary length for a chat message.`;
    const sentAt = nowNs();
    const arrival = new Promise<number | null>((res) => {
      const timer = setTimeout(() => {
        if (pending.delete(token)) res(null);
      }, 20_000);
      pending.set(token, {
        at: sentAt,
        done: (ms) => {
          clearTimeout(timer);
          res(ms);
        },
      });
    });
    const failed = () => {
      const p = pending.get(token);
      pending.delete(token);
      p?.done(null);
    };
    if (path === 'x2m') {
      xena.client
        .write(`<message to="${XMPP_ANN}" type="chat" id="${token}"><body>${body}</body></message>`)
        .catch(failed);
    } else {
      ann.sendText(path === 'native' ? native : dm, body, token).catch((err) => {
        console.error(`send ${token}: ${(err as Error).message}`);
        failed();
      });
    }
    return { sentAt, arrival };
  };

  const cpuNow = async () => ({
    parley: await rpc({ type: 'cpu' }).then((r) => (r.type === 'cpu' ? r.seconds : Number.NaN)),
    synapse: cpuSeconds(setup.synapsePid),
    prosody: cpuSeconds(setup.prosodyPid),
    clients: (() => {
      const u = process.cpuUsage();
      return (u.user + u.system) / 1e6;
    })(),
  });

  // Warm-up: every path flows (JIT, caches, the ghost's and the pair's first lookups).
  for (let i = 0; i < 10; i++) {
    for (const path of PATHS) {
      const lat = await sendOne(path).arrival;
      if (lat === null) throw new Error(`warm-up: a ${path} event did not arrive`);
    }
  }
  drop();

  // ---- unloaded: one at a time, paths alternating
  const e2e: Record<Path, number[]> = { native: [], m2x: [], x2m: [] };
  const own: Record<'m2x' | 'x2m', number[]> = { m2x: [], x2m: [] };
  const shares: Record<'m2x' | 'x2m', number[]> = { m2x: [], x2m: [] };
  let probeLost = 0;
  for (let i = 0; i < PROBE; i++) {
    for (const path of PATHS) {
      process.send?.({ type: 'reset' } satisfies ToParent);
      const { sentAt, arrival } = sendOne(path);
      const lat = await arrival;
      const end = nowNs();
      if (lat === null) {
        probeLost++;
        continue;
      }
      e2e[path].push(lat);
      if (path !== 'native') {
        const s = await rpc({ type: 'span', path, from: String(sentAt), to: String(end) });
        if (s.type === 'span' && s.ms !== null) {
          own[path].push(s.ms);
          shares[path].push(s.ms / lat);
        }
      }
      await sleep(5);
    }
  }
  drop();
  const q = (xs: number[], p: number) =>
    ms3(
      percentile(
        [...xs].sort((a, b) => a - b),
        p,
      ),
    );
  const unloaded: Record<string, unknown> = {};
  for (const path of PATHS) {
    const line = {
      bench: 'matrix-unloaded',
      path,
      events: e2e[path].length,
      p50Ms: q(e2e[path], 0.5),
      p99Ms: q(e2e[path], 0.99),
      ...(path === 'native'
        ? {}
        : {
            parleyP50Ms: q(own[path], 0.5),
            parleyP99Ms: q(own[path], 0.99),
            parleyShareP50: +percentile(
              [...shares[path]].sort((a, b) => a - b),
              0.5,
            ).toFixed(4),
            parleyShareOfP50: +(
              percentile(
                [...own[path]].sort((a, b) => a - b),
                0.5,
              ) /
              percentile(
                [...e2e[path]].sort((a, b) => a - b),
                0.5,
              )
            ).toFixed(4),
            timed: own[path].length,
          }),
    };
    unloaded[path] = line;
    console.log(JSON.stringify(line));
  }

  // ---- loaded: EVENTS per path with WINDOW in flight
  const loaded = async (path: Path, n: number) => {
    const lats: number[] = [];
    let lost = 0;
    const cpu0 = await cpuNow();
    const t0 = nowNs();
    await new Promise<void>((done) => {
      let sent = 0;
      let finished = 0;
      const kick = () => {
        while (sent < n && sent - finished < WINDOW) {
          sent++;
          void sendOne(path).arrival.then((lat) => {
            if (lat === null) lost++;
            else lats.push(lat);
            if (++finished === n) done();
            else kick();
          });
        }
      };
      kick();
    });
    const secs = Number(nowNs() - t0) / 1e9;
    const cpu1 = await cpuNow();
    drop();
    const sorted = lats.sort((a, b) => a - b);
    const use = (k: keyof typeof cpu0) => ({
      /** Share of one core over the phase. */
      corePct: +(((cpu1[k] - cpu0[k]) / secs) * 100).toFixed(1),
      usPerEvent: Math.round(((cpu1[k] - cpu0[k]) * 1e6) / n),
    });
    return {
      eventsPerSec: Math.round(lats.length / secs),
      p50Ms: ms3(percentile(sorted, 0.5)),
      p99Ms: ms3(percentile(sorted, 0.99)),
      delivered: lats.length,
      lost,
      cpu: {
        parley: use('parley'),
        synapse: use('synapse'),
        prosody: use('prosody'),
        clients: use('clients'),
      },
    };
  };
  const rounds: Record<Path, Awaited<ReturnType<typeof loaded>>[]> = { native: [], m2x: [], x2m: [] };
  for (let r = 0; r < ROUNDS; r++) {
    for (const path of PATHS) {
      const res = await loaded(path, EVENTS);
      rounds[path].push(res);
      console.log(
        JSON.stringify({
          bench: 'matrix-loaded',
          round: r + 1,
          path,
          events: EVENTS,
          window: WINDOW,
          ...res,
        }),
      );
    }
  }
  const pick = (path: Path) => {
    const rs = rounds[path];
    const m = median(rs.map((x) => x.eventsPerSec));
    return rs.find((x) => x.eventsPerSec === m) as (typeof rs)[number];
  };
  const summary = {
    bench: 'matrix-summary',
    store: STORE,
    probe: PROBE,
    events: EVENTS,
    window: WINDOW,
    rounds: ROUNDS,
    unloaded,
    loaded: Object.fromEntries(
      PATHS.map((p) => [
        p,
        {
          eventsPerSec: pick(p).eventsPerSec,
          rounds: rounds[p].map((x) => x.eventsPerSec),
          p50Ms: pick(p).p50Ms,
          p99Ms: pick(p).p99Ms,
          cpuCorePct: Object.fromEntries(Object.entries(pick(p).cpu).map(([k, v]) => [k, v.corePct])),
          cpuUsPerEvent: Object.fromEntries(Object.entries(pick(p).cpu).map(([k, v]) => [k, v.usPerEvent])),
        },
      ]),
    ),
    lostOrFailed:
      probeLost +
      Object.values(rounds)
        .flat()
        .reduce((n, x) => n + x.lost, 0),
    targetParleyShare: 0.1,
  };
  console.log(JSON.stringify(summary));
  const pct = (x: unknown) => `${(Number(x) * 100).toFixed(1)} %`;
  const u = unloaded as Record<
    Path,
    { p50Ms: number; p99Ms: number; parleyP50Ms: number; parleyShareP50: number }
  >;
  const text = [
    '',
    `Matrix bench (${STORE} store; ${PROBE} unloaded events per path; ${ROUNDS} rounds of ${EVENTS} events, ${WINDOW} in flight)`,
    `  unloaded p50/p99 ms: native ${u.native.p50Ms}/${u.native.p99Ms}, m2x ${u.m2x.p50Ms}/${u.m2x.p99Ms}, x2m ${u.x2m.p50Ms}/${u.x2m.p99Ms}`,
    `  Parley's own time p50: m2x ${u.m2x.parleyP50Ms} ms (${pct(u.m2x.parleyShareP50)} of end-to-end), x2m ${u.x2m.parleyP50Ms} ms (${pct(u.x2m.parleyShareP50)}); target <= 10 %`,
    `  bridged minus native p50: m2x ${ms3(u.m2x.p50Ms - u.native.p50Ms)} ms, x2m ${ms3(u.x2m.p50Ms - u.native.p50Ms)} ms (includes Prosody and the appservice push; noisy)`,
  ];
  for (const p of PATHS) {
    const x = pick(p);
    text.push(
      `  loaded ${p}: ${x.eventsPerSec} events/s (rounds ${rounds[p].map((r) => r.eventsPerSec).join(', ')}), p50 ${x.p50Ms} ms; CPU % of a core: Parley ${x.cpu.parley.corePct}, Synapse ${x.cpu.synapse.corePct}, Prosody ${x.cpu.prosody.corePct}, clients ${x.cpu.clients.corePct}`,
    );
  }
  console.log(text.join('\n'));
  await Promise.all([ann.stop(), ben.stop(), xena.stop()]);
}

// ------------------------------------------------------ Synapse + Prosody + Parley (parent) ---

/** Parley's edges, timed in this process: when an event comes in and when it goes out. */
class EdgeTimer {
  /** Appservice transactions (PUT /_matrix/app/v1/transactions/...) arriving. */
  readonly txnIn: bigint[] = [];
  /** Stanzas with a <message> arriving on / written to the component socket. */
  readonly stanzaIn: bigint[] = [];
  readonly stanzaOut: bigint[] = [];
  /** PUT .../send/m.room.message/... headers sent to Synapse. */
  readonly sendOut: bigint[] = [];

  constructor(componentPort: number) {
    diagnostics.subscribe('http.server.request.start', (m) => {
      const req = (m as { request: IncomingMessage }).request;
      if (req.method === 'PUT' && req.url?.startsWith('/_matrix/app/v1/transactions/'))
        this.txnIn.push(nowNs());
    });
    diagnostics.subscribe('undici:client:sendHeaders', (m) => {
      const r = (m as { request: { method: string; path: string } }).request;
      if (r.method === 'PUT' && r.path.includes('/send/m.room.message/')) this.sendOut.push(nowNs());
    });
    // @xmpp/component makes `new Socket()` and connects it (no net.client.socket message):
    // hook every socket's connect in this process and time the one to the component port.
    const connect = Socket.prototype.connect;
    const hook = (socket: Socket) => {
      if (socket.remotePort !== componentPort) return;
      socket.on('data', (d: Buffer) => {
        if (d.includes('<message')) this.stanzaIn.push(nowNs());
      });
      const write = socket.write;
      const out = this.stanzaOut;
      socket.write = function (this: Socket, chunk: unknown, ...rest: unknown[]) {
        if (String(chunk).includes('<message')) out.push(nowNs());
        return (write as (...a: unknown[]) => boolean).call(this, chunk, ...rest);
      } as Socket['write'];
    };
    Socket.prototype.connect = function (this: Socket, ...args: unknown[]) {
      this.once('connect', () => hook(this));
      return (connect as (...a: unknown[]) => Socket).apply(this, args);
    } as Socket['connect'];
  }

  reset(): void {
    for (const xs of [this.txnIn, this.stanzaIn, this.stanzaOut, this.sendOut]) xs.length = 0;
  }

  /** Parley's own time for the one event sent in [from, to], in ms; null when not seen. */
  span(path: 'm2x' | 'x2m', from: bigint, to: bigint): number | null {
    const [ins, outs] = path === 'm2x' ? [this.txnIn, this.stanzaOut] : [this.stanzaIn, this.sendOut];
    const i = ins.find((t) => t >= from && t <= to);
    if (i === undefined) return null;
    const o = outs.find((t) => t >= i && t <= to);
    return o === undefined ? null : Number(o - i) / 1e6;
  }
}

function synapsePid(hs: SynapseHandle): number {
  const pidFile = join(hs.dir, 'homeserver.pid');
  if (existsSync(pidFile)) return Number(readFileSync(pidFile, 'utf8').trim());
  // Not written in the foreground on some versions: find the process by its config path.
  for (const d of readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    try {
      if (readFileSync(`/proc/${d}/cmdline`, 'utf8').includes(join(hs.dir, 'homeserver.yaml')))
        return Number(d);
    } catch {
      // gone
    }
  }
  return Number.NaN;
}

async function main(): Promise<number> {
  let prosody: ProsodyHandle | null = null;
  let synapse: SynapseHandle | null = null;
  let redis: RedisHandle | null = null;
  let gw: Gateway | null = null;
  const dir = mkdtempSync(join(tmpdir(), 'parley-bench-matrix-'));
  try {
    if (STORE === 'redis') redis = await startRedis();
    else if (STORE !== 'memory') throw new Error(`--store must be memory or redis, not ${STORE}`);
    prosody = await startProsody({
      hosts: [{ domain: 'corp.test', users: { xena: 'pw-x' } }],
      components: [{ domain: 'gw.corp.test', secret: XMPP_SECRET }],
    });
    const [hsPort, asPort] = [await freePort(), await freePort()];
    writeFileSync(join(dir, 'policy.yaml'), POLICY);
    writeFileSync(
      join(dir, 'parley.yaml'),
      `store: ${redis ? `{ redis: "${redis.url}/0" }` : '{ memory: true }'}
http: { listen: "127.0.0.1:0" }
log: { level: silent }
policy: { file: policy.yaml, watch: false }
audit: { content: full, failClosed: true }
adapters:
  corp:
    type: xmpp
    service: "${prosody.componentService}"
    component: gw.corp.test
    secret: "${XMPP_SECRET}"
    domains: [corp.test]
  hs:
    type: matrix
    homeserver: "http://127.0.0.1:${hsPort}"
    serverName: hs.test
    registration: matrix-registration.yaml
    listen: "127.0.0.1:${asPort}"
    domains: [hs.test]
`,
    );
    let out = '';
    const code = await matrixCommand(
      ['registration', '-c', 'parley.yaml'],
      { stdout: (s) => (out += s), stderr: (s) => (out += s), cwd: dir, env: {} },
      (file) => loadConfig(resolve(dir, file ?? 'parley.yaml'), {}),
    );
    if (code !== 0) throw new Error(`parley matrix registration failed: ${out}`);
    synapse = await startSynapse({ appservices: [join(dir, 'matrix-registration.yaml')], port: hsPort });
    const edges = new EdgeTimer(Number(new URL(prosody.componentService).port));
    gw = await startGateway(loadConfig(join(dir, 'parley.yaml'), {}), {
      logger: silentLogger,
      watchPolicy: false,
    });
    const deadline = Date.now() + 30_000;
    for (;;) {
      const res = await fetch(`${gw.url}/readyz`);
      if (res.status === 200) break;
      if (Date.now() > deadline) throw new Error(`Parley not ready: ${await res.text()}`);
      await sleep(100);
    }
    const [ann, ben] = [await synapse.registerUser('ann'), await synapse.registerUser('ben')];
    const setup: Setup = {
      hsUrl: synapse.url,
      ann: { userId: ann.userId, token: ann.accessToken },
      ben: { userId: ben.userId, token: ben.accessToken },
      c2s: prosody.c2sService,
      synapsePid: synapsePid(synapse),
      prosodyPid: Number(readFileSync(join(prosody.dir, 'prosody.pid'), 'utf8').trim()),
    };
    const child = fork(
      fileURLToPath(import.meta.url),
      [
        '--role=clients',
        `--setup=${Buffer.from(JSON.stringify(setup)).toString('base64url')}`,
        ...process.argv.slice(2),
      ],
      {
        execArgv: process.execArgv.filter((a) => !a.startsWith('--cpu-prof')),
        stdio: ['inherit', 'inherit', 'inherit', 'ipc'],
      },
    );
    child.on('message', (m: ToParent) => {
      if (m.type === 'reset') edges.reset();
      else if (m.type === 'cpu') {
        const u = process.cpuUsage();
        child.send({ type: 'cpu', id: m.id, seconds: (u.user + u.system) / 1e6 } satisfies ToChild);
      } else if (m.type === 'span') {
        child.send({
          type: 'span',
          id: m.id,
          ms: edges.span(m.path, BigInt(m.from), BigInt(m.to)),
        } satisfies ToChild);
      }
    });
    const exit = await new Promise<number | null>((r) => child.once('exit', (c) => r(c)));
    if (exit !== 0) throw new Error(`the client process exited with ${exit}`);
    await gw.audit.flush();
    const verified = await verifyLog(gw.store.audit);
    console.log(
      JSON.stringify({ bench: 'matrix-audit', records: await gw.store.audit.length(), ok: verified.ok }),
    );
    return 0;
  } catch (err) {
    console.error(err);
    if (synapse) console.error(synapse.logTail(30));
    return 1;
  } finally {
    await gw?.stop().catch(() => {});
    await synapse?.destroy().catch(() => {});
    await prosody?.destroy().catch(() => {});
    await redis?.stop().catch(() => {});
    rmSync(dir, { recursive: true, force: true });
  }
}

if (argOf('role') === 'clients') {
  const raw = argOf('setup');
  if (!raw) throw new Error('--setup= is required');
  await clients(JSON.parse(Buffer.from(raw, 'base64url').toString('utf8')) as Setup);
  process.exit(0);
} else {
  process.exit(await main());
}
