// Several `parley start` processes with one config, one real Redis and one real Prosody
// behave as one gateway: one replica holds each XMPP component link (a lease in Redis),
// the others stand by and are ready; an event that arrives at a standby reaches XMPP
// through the holder; the holder is SIGKILLed in the middle of a steady stream of messages
// and another replica takes the link over within seconds: every message is delivered or
// bounced back to its sender, none twice, except the few Prosody had written to the dead
// process's socket (XEP-0114 has no acknowledgements); a graceful stop hands over at once;
// and `parley audit verify` finds one intact chain written by all of them. Then, in this
// process on the same Redis: two replicas share one rate limit, a Matrix transaction
// replayed to the other replica is processed once, and the copies of a SIP request that
// land on two replicas are handled once.
import { type ChildProcess, spawn } from 'node:child_process';
import dgram from 'node:dgram';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import t from 'tap';
import { buildAppserviceApp } from '../../src/adapters/matrix/appservice.js';
import { buildSipAdapter } from '../../src/adapters/sip/index.js';
import { parseConfig } from '../../src/config.js';
import { AuditWriter } from '../../src/core/audit/writer.js';
import { namespacedState } from '../../src/core/delivery/state.js';
import { silentLogger } from '../../src/core/logger.js';
import { Pipeline } from '../../src/core/pipeline.js';
import { compilePolicySource } from '../../src/core/policy/index.js';
import { startGateway } from '../../src/gateway.js';
import { RedisStore } from '../../src/store/redis.js';
import { MemoryAdapter, message } from '../fixtures/memory-adapter.js';
import { login, POLICY, type TestUser, xmlParse } from '../fixtures/xmpp-setup.js';
import { track } from '../harness/processes.js';
import { type ProsodyHandle, startProsody } from '../harness/prosody.js';
import { type RedisHandle, startRedis } from '../harness/redis.js';

const root = resolve(import.meta.dirname, '../..');
const ENTRY = join(root, 'test/fixtures/cli-entry.ts');
const ENV = { CORP: 'corp-secret', PARTNER: 'partner-secret' };
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

let redis: RedisHandle;
let prosody: ProsodyHandle;
let store: RedisStore;
let dir: string;
let cfgFile: string;
let cfgText: string;

interface Replica {
  proc: ChildProcess;
  pid: number;
  url: string;
  /** The process's output so far (for failure messages). */
  log(): string;
  exited: Promise<void>;
}
const replicas: Replica[] = [];

function startReplica(): Promise<Replica> {
  const proc = spawn(process.execPath, ['--import', 'tsx', ENTRY, 'start', '-c', cfgFile], {
    cwd: root,
    env: { ...process.env, ...ENV },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  track(proc);
  let out = '';
  const keep = (d: Buffer) => {
    out = (out + d.toString()).slice(-40_000);
  };
  proc.stdout?.on('data', keep);
  proc.stderr?.on('data', keep);
  const exited = new Promise<void>((r) => proc.once('exit', () => r()));
  return new Promise((res, rej) => {
    const timer = setTimeout(() => rej(new Error(`replica did not start within 60 s:\n${out}`)), 60_000);
    const onData = () => {
      const m = /listening on (http:\/\/[^\s]+)/.exec(out);
      if (!m) return;
      clearTimeout(timer);
      proc.stderr?.off('data', onData);
      const r: Replica = { proc, pid: proc.pid!, url: m[1]!, log: () => out, exited };
      replicas.push(r);
      res(r);
    };
    proc.stderr?.on('data', onData);
    proc.once('exit', (code) => {
      clearTimeout(timer);
      rej(new Error(`replica exited (${code}) before listening:\n${out}`));
    });
  });
}

interface Ready {
  status: number;
  body: { ready: boolean; adapters: Record<string, { state: string; detail?: string }> };
}

async function readyz(url: string): Promise<Ready> {
  const res = await fetch(`${url}/readyz`);
  return { status: res.status, body: (await res.json()) as Ready['body'] };
}

async function until<T>(
  what: string,
  fn: () => Promise<T | null | undefined | false>,
  ms: number,
): Promise<T> {
  const deadline = Date.now() + ms;
  let last: unknown;
  for (;;) {
    try {
      const v = await fn();
      if (v) return v;
    } catch (err) {
      last = err;
    }
    if (Date.now() > deadline)
      throw new Error(`${what}: not within ${ms} ms${last ? ` (${String(last)})` : ''}`);
    await sleep(50);
  }
}

/** The pid in a replica id (`host:pid:nonce`). */
const pidOf = (id: string | null): number | null => (id ? Number(id.split(':').at(-2)) : null);
const holderOf = async (adapter: string) => pidOf(await store.leaseOwner(`xmpp:${adapter}:link`));
const live = () => replicas.filter((r) => r.proc.exitCode === null && r.proc.signalCode === null);

t.before(async () => {
  [redis, prosody] = await Promise.all([
    startRedis(),
    startProsody({
      hosts: [
        { domain: 'corp.test', users: { alice: 'pw-a' } },
        { domain: 'partner.test', users: { bob: 'pw-b' } },
      ],
      components: [
        { domain: 'gw.corp.test', secret: ENV.CORP },
        { domain: 'gw.partner.test', secret: ENV.PARTNER },
      ],
    }),
  ]);
  store = new RedisStore({ url: redis.url });
  await store.ready(5000);
  dir = mkdtempSync(join(tmpdir(), 'parley-replicas-'));
  writeFileSync(join(dir, 'policy.yaml'), POLICY);
  const link = (name: string, env: string) => `  ${name}:
    type: xmpp
    service: "${prosody.componentService}"
    component: gw.${name}.test
    secret: "\${${env}}"
    domains: [${name}.test]
    reconnect: { initialDelayMs: 200, maxDelayMs: 2000 }
`;
  cfgText = `store: { redis: "${redis.url}" }
http:
  listen: "127.0.0.1:0"
policy: { file: policy.yaml, watch: false }
adapters:
${link('corp', 'CORP')}${link('partner', 'PARTNER')}`;
  cfgFile = join(dir, 'parley.yaml');
  writeFileSync(cfgFile, cfgText);
});

t.teardown(async () => {
  await inProcess?.stop();
  for (const r of live()) r.proc.kill('SIGKILL');
  await Promise.all(replicas.map((r) => r.exited));
  await store?.close();
  await prosody?.destroy();
  await redis?.stop();
});

let alice: TestUser;
let bob: TestUser;
let hs: MemoryAdapter;
let inProcess: Awaited<ReturnType<typeof startGateway>> | null = null;

t.test('three replicas: one holds each link, the others stand by and are ready', async (t) => {
  // One at a time: the first takes both leases, so that the others start as standbys.
  await startReplica();
  await until(
    'the first replica is ready',
    async () => (await readyz(replicas[0]!.url)).status === 200,
    30_000,
  );
  await Promise.all([startReplica(), startReplica()]);
  const reports = await until(
    'every replica ready',
    async () => {
      const all = await Promise.all(replicas.map((r) => readyz(r.url)));
      return all.every((x) => x.status === 200) ? all : null;
    },
    30_000,
  );
  for (const name of ['corp', 'partner']) {
    const holder = await holderOf(name);
    t.equal(holder, replicas[0]!.pid, `${name}: the first replica holds the link`);
    t.equal(reports[0]!.body.adapters[name]?.state, 'up');
    for (const r of [reports[1]!, reports[2]!]) {
      t.equal(r.body.adapters[name]?.state, 'up', `${name}: a standby is ready`);
      t.match(
        r.body.adapters[name]?.detail,
        new RegExp(`^standby: the link is held by replica .*:${holder}:`),
      );
    }
  }
  [alice, bob] = await Promise.all([
    login(prosody.c2sService, 'corp.test', 'alice', 'pw-a'),
    login(prosody.c2sService, 'partner.test', 'bob', 'pw-b'),
  ]);
  await alice.send(
    xmlParse(
      '<message to="bob%partner.test@gw.corp.test" type="chat" id="hello-1"><body>hi</body></message>',
    ),
  );
  const got = await bob.next((el) => el.attrs.id === 'hello-1', 10_000);
  t.equal(got.attrs.from, 'alice%corp.test@gw.partner.test');
});

t.test('an event arriving at a standby replica reaches XMPP through the holder', async (t) => {
  // A fourth replica in this process, with the same config and an in-process network.
  // It stays up through the kill below, writing to the audit chain as the holder does.
  hs = new MemoryAdapter('hs', 'matrix', ['hs.test']);
  inProcess = await startGateway(parseConfig(cfgText, cfgFile, ENV), {
    logger: silentLogger,
    extraAdapters: [hs],
  });
  const gw = inProcess;
  const corp = await until(
    'the in-process replica stands by',
    async () => {
      const r = await readyz(gw.url!);
      const s = r.body.adapters.corp;
      return r.status === 200 && s?.detail?.startsWith('standby') ? s : null;
    },
    10_000,
  );
  t.equal(corp.state, 'up', 'ready while standing by');
  t.not(await holderOf('corp'), process.pid, 'the lease stays with its holder');
  const started = Date.now();
  const out = await hs.submit(
    message('matrix:u/carol:hs.test', 'xmpp:alice@corp.test', 'via a standby', { id: 'standby-1' }),
  );
  t.match(out, { status: 'queued' }, 'queued in the shared outbox');
  const got = await alice.next((el) => el.attrs.id === 'standby-1', 5000);
  t.equal(got.attrs.from, 'carol%hs.test@gw.corp.test');
  t.equal(got.getChildText('body'), 'via a standby');
  t.comment(`standby -> holder -> XMPP in ${Date.now() - started} ms`);
  // The holder acknowledges an item once it is sent: the outbox empties right after.
  await until('the outbox is drained', async () => (await store.queueLength('xmpp:corp:outbox')) === 0, 2000);
  // Chat states are not queued when the link is down anywhere, but from a standby they are.
  const typing = await hs.submit({
    kind: 'chatstate',
    id: 'standby-typing',
    time: new Date().toISOString(),
    from: 'matrix:u/carol:hs.test',
    to: 'xmpp:alice@corp.test',
    adapter: 'hs',
    traceId: 'standby-typing',
    state: 'composing',
  });
  t.match(typing, { status: 'queued' });
  const composing = await alice.next(
    (el) => el.attrs.from === 'carol%hs.test@gw.corp.test' && !!el.getChild('composing'),
    5000,
  );
  t.ok(composing, 'the chat state reached XMPP through the holder');
  // A refusal for an XMPP sender that this standby learns of (another network's queue gave
  // up on the event later, say) is told by the holder too, at the sender's resource.
  await alice.send(
    xmlParse('<message to="bob%partner.test@gw.corp.test" type="chat" id="late-1"><body>x</body></message>'),
  );
  await bob.next((el) => el.attrs.id === 'late-1', 5000);
  // (What the pipeline calls when the target bounces it: only the target may, so the test
  // tells the standby's XMPP adapter directly.)
  const standbyCorp = gw.adapters.find((a) => a.name === 'corp');
  if (!standbyCorp) throw new Error('the in-process replica has no corp adapter');
  await standbyCorp.refuse(
    message('xmpp:alice@corp.test', 'matrix:u/carol:hs.test', 'refused later', {
      id: 'late-1',
      adapter: 'corp',
    }),
    { code: 'delivery', rule: null, reason: 'The homeserver refused it.' },
  );
  const refused = await alice.next((el) => el.attrs.id === 'late-1', 5000);
  t.equal(refused.attrs.type, 'error', 'the sender gets an error for its message');
  t.equal(refused.attrs.from, 'carol%hs.test@gw.corp.test');
  t.equal(refused.attrs.to, 'alice@corp.test/test', 'at the resource it came from');
  t.match(refused.toString(), /The homeserver refused it/);
  // A notice for an XMPP sender (their event was delivered degraded elsewhere) that this
  // standby is asked to give is given by the holder, from the recipient's ghost.
  await standbyCorp.notice(
    message('xmpp:alice@corp.test', 'matrix:u/carol:hs.test', 'fixed typo', {
      id: 'notice-1',
      adapter: 'corp',
    }),
    { code: 'degraded', degradations: ['edit'], text: 'Your correction was delivered as a new message.' },
  );
  const told = await alice.next(
    (el) =>
      el.name === 'message' && (el.getChildText('body') ?? '').includes('Your correction was delivered'),
    5000,
  );
  t.equal(told.attrs.from, 'carol%hs.test@gw.corp.test', 'from the ghost of the recipient');
  t.equal(told.getChildText('body'), '[Parley] Your correction was delivered as a new message.');
  const metrics = await (await fetch(`${gw.url}/metrics`)).text();
  t.match(metrics, /^parley_link_up\{adapter="corp",network="xmpp"\} 1$/m, 'a standby reports the link up');
  t.match(metrics, /^parley_queue_depth\{adapter="corp"\} \d+$/m);
});

t.test(
  'the holder is killed mid-traffic: takeover within seconds, nothing doubled, only what was in flight lost',
  async (t) => {
    const victimPid = await holderOf('corp');
    const victim = replicas.find((r) => r.pid === victimPid);
    if (!victim) throw new Error(`no replica holds the corp link (holder pid ${victimPid})`);

    const sent = new Map<string, number>();
    const delivered = new Map<string, number>();
    const bounced = new Map<string, string>();
    bob.client.on('stanza', (el) => {
      const id = el.attrs.id;
      if (
        el.name === 'message' &&
        typeof id === 'string' &&
        id.startsWith('run-') &&
        el.attrs.type !== 'error'
      ) {
        delivered.set(id, (delivered.get(id) ?? 0) + 1);
      }
    });
    alice.client.on('stanza', (el) => {
      const id = el.attrs.id;
      if (
        el.name === 'message' &&
        typeof id === 'string' &&
        id.startsWith('run-') &&
        el.attrs.type === 'error'
      ) {
        const cond = el.getChild('error')?.children.find((c) => typeof c !== 'string');
        bounced.set(id, typeof cond === 'object' && cond ? cond.name : 'error');
      }
    });

    // Meanwhile the in-process standby sends carol's messages to alice through the outbox.
    const hsSent = new Set<string>();
    const hsGot = new Map<string, number>();
    const hsFirstAt = new Map<string, number>();
    alice.client.on('stanza', (el) => {
      const id = el.attrs.id;
      if (
        el.name === 'message' &&
        typeof id === 'string' &&
        id.startsWith('hs-') &&
        el.attrs.type !== 'error'
      ) {
        hsGot.set(id, (hsGot.get(id) ?? 0) + 1);
        if (!hsFirstAt.has(id)) hsFirstAt.set(id, Date.now());
      }
    });
    let sending = true;
    let n = 0;
    let m = 0;
    const hsSender = (async () => {
      while (sending) {
        const id = `hs-${String(++m).padStart(4, '0')}`;
        hsSent.add(id);
        const out = await hs.submit(message('matrix:u/carol:hs.test', 'xmpp:alice@corp.test', id, { id }));
        if (out.status !== 'queued' && out.status !== 'delivered')
          throw new Error(`${id}: ${JSON.stringify(out)}`);
        await sleep(100);
      }
    })();
    const PERIOD_MS = 50;
    const IN_FLIGHT_MS = 250;
    const sender = (async () => {
      while (sending) {
        const id = `run-${String(++n).padStart(4, '0')}`;
        sent.set(id, Date.now());
        await alice.send(
          xmlParse(
            `<message to="bob%partner.test@gw.corp.test" type="chat" id="${id}"><body>${id}</body></message>`,
          ),
        );
        await sleep(PERIOD_MS);
      }
    })();

    await sleep(2000);
    const beforeKill = delivered.size;
    t.ok(beforeKill > 10, `traffic flows before the kill (${beforeKill} delivered)`);
    const killedAt = Date.now();
    victim.proc.kill('SIGKILL');
    await victim.exited;

    const newHolder = await until(
      'another replica holds the corp link',
      async () => {
        const pid = await holderOf('corp');
        return pid && pid !== victim.pid ? pid : null;
      },
      15_000,
    );
    const leaseAt = Date.now();
    // The first message sent after the kill that reached bob: traffic flows again.
    const flowing = await until(
      'a message sent after the kill is delivered',
      async () => {
        const ids = [...delivered.keys()].filter((id) => sent.get(id)! > leaseAt);
        return ids.length > 0 ? Date.now() : null;
      },
      15_000,
    );
    await sleep(3000);
    sending = false;
    await sender;
    await hsSender;
    // Let the last ones arrive or bounce.
    await until(
      'every message accounted for',
      async () =>
        [...sent.keys()].every((id) => delivered.has(id) || bounced.has(id)) &&
        [...hsSent].every((id) => hsGot.has(id)),
      10_000,
    ).catch(() => {});

    const ids = [...sent.keys()];
    const doubled = ids.filter((id) => (delivered.get(id) ?? 0) > 1);
    const lost = ids.filter((id) => !delivered.has(id) && !bounced.has(id));
    const bothWays = ids.filter((id) => delivered.has(id) && bounced.has(id));
    const afterTakeover = ids.filter((id) => sent.get(id)! > flowing + 500);
    const figures = {
      sent: ids.length,
      delivered: delivered.size,
      bounced: bounced.size,
      bounceConditions: [...new Set(bounced.values())],
      lost: lost.length,
      lostSentMsBeforeKill: lost.map((id) => killedAt - sent.get(id)!),
      doubled: doubled.length,
      deliveredBeforeKill: beforeKill,
      takeoverMs: leaseAt - killedAt,
      flowingAgainMs: flowing - killedAt,
      holder: { killed: victim.pid, next: newHolder },
      viaStandby: {
        sent: hsSent.size,
        delivered: hsGot.size,
        doubled: [...hsGot.values()].filter((c) => c > 1).length,
      },
    };
    t.comment(`figures: ${JSON.stringify(figures)}`);
    t.ok(
      leaseAt - killedAt < 10_000,
      `another replica took the lease ${leaseAt - killedAt} ms after the kill`,
    );
    t.ok(flowing - killedAt < 12_000, `messages flow again ${flowing - killedAt} ms after the kill`);
    t.same(doubled, [], 'no message arrives twice');
    // XEP-0114 has no acknowledgements: what Prosody wrote to the holder's socket in the last
    // moments before the kernel closed it is gone with the process, and Prosody never knows.
    // That is the one loss allowed here: messages sent around the kill, at most a few.
    const inFlight = lost.filter((id) => Math.abs(sent.get(id)! - killedAt) <= IN_FLIGHT_MS);
    t.same(
      lost.filter((id) => !inFlight.includes(id)),
      [],
      `every message is delivered or bounced to its sender, but those in flight into the killed process (${inFlight.length})`,
    );
    t.ok(inFlight.length <= 3, `at most a few lost in flight (${inFlight.length})`);
    t.same(bothWays, [], 'none is both delivered and bounced');
    t.same(
      [...hsSent].filter((id) => !hsGot.has(id)),
      [],
      'every message queued at the standby reached XMPP, those waiting through the takeover too',
    );
    // The holder sends an outbox item, then acknowledges it in the store: killed between
    // the two, it leaves the item for its successor, which sends it again (at least once;
    // XEP-0114 cannot tell which stanzas the server got). That item, and only it, may
    // arrive twice: its first copy came from the killed holder, before the takeover.
    const repeated = [...hsGot].filter(([, c]) => c > 1).map(([id]) => id);
    const resentAfterKill = repeated.filter(
      (id) =>
        hsGot.get(id) === 2 && (hsFirstAt.get(id) ?? Number.POSITIVE_INFINITY) <= killedAt + IN_FLIGHT_MS,
    );
    t.same(
      repeated.filter((id) => !resentAfterKill.includes(id)),
      [],
      'none of them twice, but one the killed holder had sent and not yet acknowledged',
    );
    t.ok(resentAfterKill.length <= 1, `at most one resent across the takeover (${resentAfterKill.length})`);
    t.ok(afterTakeover.length > 20, `${afterTakeover.length} messages sent after the takeover`);
    t.same(
      afterTakeover.filter((id) => !delivered.has(id)),
      [],
      'every message sent after the takeover is delivered',
    );
    t.ok(
      bounced.size > 0,
      'messages sent while no replica held the link bounced (Prosody: component unavailable)',
    );
    const statuses = await Promise.all(live().map((r) => readyz(r.url)));
    t.ok(
      statuses.every((s) => s.status === 200),
      'the surviving replicas are ready',
    );
  },
);

t.test('a graceful stop hands the link over at once', async (t) => {
  // The in-process replica leaves first (it may hold the link since the kill).
  await inProcess?.stop();
  inProcess = null;
  const pid = await until(
    'a child process holds the link',
    async () => {
      const p = await holderOf('corp');
      return p && p !== process.pid ? p : null;
    },
    10_000,
  );
  const holder = replicas.find((r) => r.pid === pid);
  if (!holder) throw new Error(`no replica holds the corp link (holder pid ${pid})`);
  const stoppedAt = Date.now();
  holder.proc.kill('SIGTERM');
  await holder.exited;
  t.equal(holder.proc.exitCode, 0, 'exits 0');
  const next = await until(
    'another replica holds the link',
    async () => {
      const p = await holderOf('corp');
      return p && p !== holder.pid ? p : null;
    },
    10_000,
  );
  const took = Date.now() - stoppedAt;
  // On failure, the stopped holder's shutdown lines say what it waited for.
  const shutdownLog = holder
    .log()
    .split('\n')
    .filter((l) => /shutdown|stopp|lease|drain|in flight/i.test(l))
    .slice(-12)
    .join('\n');
  t.ok(took < 4000, `taken over ${took} ms after SIGTERM (the lease was released, not left to expire)`, {
    ...(took < 4000 ? {} : { diagnostic: true, holderLog: shutdownLog }),
  });
  const survivor = live()[0]!;
  t.equal(survivor.pid, next);
  await until('the last replica is ready', async () => (await readyz(survivor.url)).status === 200, 10_000);
  await alice.send(
    xmlParse(
      '<message to="bob%partner.test@gw.corp.test" type="chat" id="after-stop"><body>x</body></message>',
    ),
  );
  await bob.next((el) => el.attrs.id === 'after-stop', 10_000);
});

t.test('parley audit verify: one intact chain written by every replica', async (t) => {
  for (const r of live()) r.proc.kill('SIGTERM');
  await Promise.all(replicas.map((r) => r.exited));
  await Promise.all([alice?.stop(), bob?.stop()]);
  const p = spawn(process.execPath, ['--import', 'tsx', ENTRY, 'audit', 'verify', '-c', cfgFile], {
    cwd: root,
    env: { ...process.env, ...ENV },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  p.stdout?.on('data', (d) => {
    out += d;
  });
  p.stderr?.on('data', (d) => {
    out += d;
  });
  const code = await new Promise<number | null>((r) => p.on('close', r));
  t.equal(code, 0, out);
  const m = /audit chain intact: (\d+) records verified/.exec(out);
  t.ok(m, out);
  t.comment(out.trim());
  const records = await store.audit.range(1, 100_000);
  const writers = new Set(records.map((r) => r.sourceAdapter));
  t.ok(records.length > 50, `${records.length} records`);
  t.ok(writers.has('corp'), 'XMPP traffic is audited');
  t.ok(writers.has('hs'), 'so are the events that came in at the in-process standby');
  let switches = 0;
  for (let i = 1; i < records.length; i++) {
    if ((records[i]!.sourceAdapter === 'hs') !== (records[i - 1]!.sourceAdapter === 'hs')) switches++;
  }
  t.ok(
    switches > 10,
    `two processes appended to the one chain in turn (${switches} switches between writers)`,
  );
});

const RATE_POLICY = `
apiVersion: parley/v1
kind: Policy
metadata: { name: rate, version: "1" }
zones:
  enterprise: { domains: [corp.test] }
  partner: { domains: [partner.test] }
defaults: { decision: deny }
rules:
  - id: limited
    match: { between: [{ zone: enterprise }, { zone: partner }] }
    effect: allow
    obligations: { rateLimit: "3/min" }
`;

t.test('two replicas on Redis share one rate limit', async (t) => {
  const policy = compilePolicySource(RATE_POLICY, 'rate.yaml');
  const replica = async () => {
    const s = new RedisStore({ url: redis.url, prefix: 'rate-test:' });
    await s.ready(5000);
    const audit = new AuditWriter(s.audit, {});
    const pipeline = new Pipeline({ policy: () => policy, audit, store: s, logger: silentLogger });
    const corp = new MemoryAdapter('corp', 'xmpp', ['corp.test']);
    const partner = new MemoryAdapter('partner', 'xmpp', ['partner.test']);
    await corp.start(pipeline.register(corp));
    await partner.start(pipeline.register(partner));
    return { s, audit, corp, partner };
  };
  const [a, b] = await Promise.all([replica(), replica()]);
  t.teardown(async () => {
    for (const r of [a, b]) {
      await r.audit.close();
      await r.s.close();
    }
  });
  const outcomes: string[] = [];
  for (let i = 0; i < 6; i++) {
    const r = i % 2 === 0 ? a : b;
    const out = await r.corp.submit(
      message('xmpp:alice@corp.test', 'xmpp:bob@partner.test', `m${i}`, { id: `rl-${i}` }),
    );
    outcomes.push(out.status === 'denied' ? `denied: ${out.reason}` : out.status);
  }
  const limited = 'denied: Rate limit exceeded (3 per 60 s).';
  t.same(outcomes, ['delivered', 'delivered', 'delivered', limited, limited, limited]);
  t.equal(
    a.partner.delivered.length + b.partner.delivered.length,
    3,
    '3 per minute in all, not 3 per replica',
  );
  t.ok(a.partner.delivered.length > 0 && b.partner.delivered.length > 0, 'both replicas delivered some');
});

t.test('a Matrix transaction replayed to another replica is processed once', async (t) => {
  const seen: string[] = [];
  const HS = 'hs-token-0123456789abcdef';
  const stores: RedisStore[] = [];
  const replica = (name: string, slowMs = 0) => {
    const s = new RedisStore({ url: redis.url, prefix: 'txn-test:' });
    stores.push(s);
    return buildAppserviceApp({
      hsToken: HS,
      state: namespacedState(s, 'matrix:hs:'),
      bodyLimit: 65536,
      logger: silentLogger,
      claimWaitMs: 2000,
      handlers: {
        onTransaction: async (txn) => {
          if (slowMs) await sleep(slowMs);
          seen.push(`${name}:${txn.txnId}`);
        },
        onUserQuery: async () => false,
      },
    });
  };
  const a = replica('a', 200);
  const b = replica('b');
  await Promise.all(stores.map((s) => s.ready(5000)));
  t.teardown(async () => {
    await Promise.all([a.close(), b.close()]);
    for (const s of stores) await s.close();
  });
  const put = (app: typeof a, txnId: string) =>
    app.inject({
      method: 'PUT',
      url: `/_matrix/app/v1/transactions/${txnId}`,
      headers: { authorization: `Bearer ${HS}` },
      payload: { events: [{ type: 'm.room.message', event_id: `$${txnId}` }] },
    });
  t.equal((await put(a, 't1')).statusCode, 200);
  t.equal((await put(b, 't1')).statusCode, 200, 'the replay to the other replica is acknowledged');
  // Sent to both at once (a retry while the first is still being processed).
  const [x, y] = await Promise.all([put(a, 't2'), sleep(20).then(() => put(b, 't2'))]);
  t.same([x.statusCode, y.statusCode], [200, 200]);
  t.same(seen.sort(), ['a:t1', 'a:t2'], 'each transaction processed once, by the replica that got it first');
});

t.test('SIP over UDP: copies of one request on two replicas (Redis) are handled once', async (t) => {
  const policy = compilePolicySource(
    RATE_POLICY.replace('obligations: { rateLimit: "3/min" }', ''),
    'p.yaml',
  );
  const replica = async () => {
    const s = new RedisStore({ url: redis.url, prefix: 'sip-test:' });
    await s.ready(5000);
    const audit = new AuditWriter(s.audit, {});
    const pipeline = new Pipeline({ policy: () => policy, audit, store: s, logger: silentLogger });
    const corp = new MemoryAdapter('corp', 'xmpp', ['corp.test']);
    const sip = buildSipAdapter(
      'sip',
      {
        type: 'sip',
        listen: ['udp://127.0.0.1:0'],
        domains: ['partner.test'],
        route: 'sip:127.0.0.1:9',
        peers: ['127.0.0.1/32'],
      },
      { logger: silentLogger, configDir: '.' },
    );
    await corp.start(pipeline.register(corp));
    await sip.start(pipeline.register(sip));
    return { s, audit, corp, sip, port: sip.transport.local('udp')!.port };
  };
  const [a, b] = await Promise.all([replica(), replica()]);
  const sock = dgram.createSocket('udp4');
  await new Promise<void>((r) => sock.bind(0, '127.0.0.1', () => r()));
  t.teardown(async () => {
    sock.close();
    for (const r of [a, b]) {
      await r.sip.stop();
      await r.audit.close();
      await r.s.close();
    }
  });
  const answers: { from: number; status: string }[] = [];
  sock.on('message', (m, rinfo) =>
    answers.push({ from: rinfo.port, status: m.toString().split('\r\n')[0]! }),
  );
  const me = sock.address().port;
  const branch = `z9hG4bK-replicas-${Date.now()}`;
  const body = 'one MESSAGE, two replicas';
  const req = Buffer.from(
    [
      'MESSAGE sip:alice@corp.test SIP/2.0',
      `Via: SIP/2.0/UDP 127.0.0.1:${me};branch=${branch};rport`,
      'From: <sip:bob@partner.test>;tag=f1',
      'To: <sip:alice@corp.test>',
      `Call-ID: ${branch}`,
      'CSeq: 1 MESSAGE',
      'Max-Forwards: 70',
      'Content-Type: text/plain',
      `Content-Length: ${Buffer.byteLength(body)}`,
      '',
      body,
    ].join('\r\n'),
  );
  // The first copy and two retransmissions, the Service sending each to another pod.
  for (const port of [a.port, b.port, a.port, b.port]) {
    sock.send(req, port, '127.0.0.1');
    await sleep(150);
  }
  t.equal(a.corp.delivered.length + b.corp.delivered.length, 1, 'delivered once');
  t.same(
    answers.filter((x) => x.from === b.port),
    [],
    'the replica without the transaction absorbs its copies',
  );
  t.ok(
    answers.filter((x) => x.from === a.port && x.status === 'SIP/2.0 200 OK').length >= 2,
    'the holder repeats its 200',
  );
});
