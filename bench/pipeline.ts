// Events per second and added latency through the whole pipeline (policy + audit +
// routing + delivery to an in-process adapter), with the memory store, the SQLite store (a
// file in a temporary folder) and a real Redis (started on a free port), fail-closed audit;
// then audit verify speed, and for SQLite the bytes per record on disk; and the memory
// store with a real PostgreSQL archive (store.archive, durable commits).
// Run: npm run bench:pipeline [-- --stores=memory,sqlite,redis,postgres --events=N --concurrency=256]
//   (prints one JSON line per measurement)
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { verifyLog } from '../src/core/audit/verify.js';
import { AuditWriter } from '../src/core/audit/writer.js';
import { silentLogger } from '../src/core/logger.js';
import type { CanonicalEvent } from '../src/core/model.js';
import { Pipeline } from '../src/core/pipeline.js';
import { compilePolicySource } from '../src/core/policy/index.js';
// Registers the networks this build speaks (address schemes, the policy's network names).
import '../src/networks.js';
import type { Store } from '../src/core/store.js';
import { auditPipelineDepth, openStore } from '../src/store/open.js';
import { MemoryAdapter } from '../test/fixtures/memory-adapter.js';
import { startPostgres } from '../test/harness/postgres.js';
import { startRedis } from '../test/harness/redis.js';
import { median, percentile } from './common.js';

const policy = compilePolicySource(
  readFileSync(new URL('../policies/default.yaml', import.meta.url), 'utf8'),
  'default.yaml',
);
const argCount = Number(process.argv.find((a) => a.startsWith('--events='))?.slice(9) ?? 100_000);
/** Events in flight in the closed loop (a store with more latency per append needs more to stay busy). */
const concurrency = Number(process.argv.find((a) => a.startsWith('--concurrency='))?.slice(14) ?? 256);
const stores = (
  process.argv.find((a) => a.startsWith('--stores='))?.slice(9) ?? 'memory,sqlite,redis,postgres'
).split(',');

async function makePipeline(store: Store) {
  // As the gateway does it; INFLIGHT=n overrides, to compare.
  const maxInFlight = process.env.INFLIGHT ? Number(process.env.INFLIGHT) : auditPipelineDepth(store);
  const writer = new AuditWriter(store.audit, { maxInFlight });
  const pipeline = new Pipeline({
    policy: () => policy,
    audit: writer,
    store,
    logger: silentLogger,
    failClosed: true,
  });
  const corp = new MemoryAdapter('corp', 'xmpp', ['corp.test'], undefined, false);
  const partner = new MemoryAdapter('partner', 'matrix', ['partner.test'], undefined, false);
  for (const a of [corp, partner]) await a.start(pipeline.register(a));
  return { writer, pipeline, corp, partner };
}

let seq = 0;
function event(): CanonicalEvent {
  seq++;
  // A mix: mostly allowed partner messages, some denied (consumer calls), some presence.
  const r = seq % 10;
  const base = {
    id: `e${seq}`,
    time: new Date().toISOString(),
    adapter: 'corp',
    traceId: `t${seq}`,
    from: `xmpp:user${seq % 500}@corp.test`,
  };
  if (r === 9)
    return {
      ...base,
      kind: 'presence',
      to: `matrix:u/p${seq % 300}:partner.test`,
      show: 'away',
      status: 'lunch',
    };
  return { ...base, kind: 'message', to: `matrix:u/p${seq % 300}:partner.test`, body: `hello number ${seq}` };
}

/**
 * Closed loop: keep `concurrency` events in flight; events per second, and the process's
 * CPU time per event (µs: user + system, the collector's threads included), which other
 * processes' load changes far less than the rate.
 */
async function throughput(
  corp: MemoryAdapter,
  count: number,
  concurrency: number,
): Promise<{ eps: number; cpuUs: number }> {
  let next = 0;
  const c0 = process.cpuUsage();
  const t0 = process.hrtime.bigint();
  const worker = async () => {
    while (next < count) {
      next++;
      await corp.submit(event());
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
  const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
  const cpu = process.cpuUsage(c0);
  return { eps: count / seconds, cpuUs: (cpu.user + cpu.system) / count };
}

/** Open loop at `rate` events/s for `seconds`: added latency percentiles in ms. */
async function latency(corp: MemoryAdapter, rate: number, seconds: number) {
  const lat: number[] = [];
  const pending: Promise<void>[] = [];
  const total = rate * seconds;
  const start = process.hrtime.bigint();
  const tickNs = 1e9 / rate;
  for (let i = 0; i < total; i++) {
    const due = start + BigInt(Math.round(i * tickNs));
    while (process.hrtime.bigint() < due) {
      if (due - process.hrtime.bigint() > 2_000_000n) await new Promise((r) => setTimeout(r, 1));
      else await new Promise((r) => setImmediate(r));
    }
    const t = process.hrtime.bigint();
    pending.push(
      corp.submit(event()).then(() => {
        lat.push(Number(process.hrtime.bigint() - t) / 1e6);
      }),
    );
  }
  await Promise.all(pending);
  lat.sort((a, b) => a - b);
  const q = (p: number) => percentile(lat, p);
  return {
    p50Ms: +q(0.5).toFixed(3),
    p99Ms: +q(0.99).toFixed(3),
    achievedRate: Math.round(lat.length / seconds),
  };
}

async function run(name: string, store: Store, target: number) {
  const { corp, writer } = await makePipeline(store);
  await throughput(corp, 5_000, 64); // warm-up
  const rounds: number[] = [];
  const cpu: number[] = [];
  for (let i = 0; i < 3; i++) {
    const r = await throughput(corp, argCount, concurrency);
    rounds.push(r.eps);
    cpu.push(r.cpuUs);
  }
  const lat = await latency(corp, 5_000, 3);
  await writer.flush();
  const eps = Math.round(median(rounds));
  console.log(
    JSON.stringify({
      bench: 'pipeline',
      store: name,
      failClosed: true,
      concurrency,
      eventsPerSec: eps,
      rounds: rounds.map(Math.round),
      cpuUsPerEvent: +median(cpu).toFixed(1),
      targetEventsPerSec: target,
      ratioToTarget: +(eps / target).toFixed(2),
      at5000PerSec: lat,
      targetP99Ms: 1,
    }),
  );
  return writer;
}

async function verifySpeed(name: string, store: Store, target?: number) {
  const records = await store.audit.length();
  const v0 = process.hrtime.bigint();
  const verified = await verifyLog(store.audit);
  const vs = Number(process.hrtime.bigint() - v0) / 1e9;
  console.log(
    JSON.stringify({
      bench: 'audit-verify',
      store: name,
      records,
      ok: verified.ok,
      recordsPerSec: Math.round(records / vs),
      ...(target ? { targetRecordsPerSec: target, ratioToTarget: +(records / vs / target).toFixed(2) } : {}),
    }),
  );
  return records;
}

if (stores.includes('memory')) {
  const mem = await openStore({ memory: true }, silentLogger);
  await run('memory', mem, 50_000);
  await verifySpeed('memory', mem, 200_000);
  await mem.close();
}

// `sqlite`: the default (synchronous full); `sqlite-normal`: synchronous normal (no sync
// to disk before an answer: a power cut may lose the last batches).
for (const name of ['sqlite', 'sqlite-normal'] as const) {
  if (!stores.includes(name)) continue;
  const dir = mkdtempSync(join(tmpdir(), 'parley-bench-'));
  const path = join(dir, 'parley.db');
  try {
    const synchronous = name === 'sqlite' ? 'full' : 'normal';
    const store = await openStore({ sqlite: { path, synchronous } }, silentLogger);
    await run(name, store, 50_000);
    const records = await verifySpeed(name, store);
    await store.close();
    // After close the WAL is checkpointed into the file: its size is what the trail costs.
    const bytes = statSync(path).size;
    console.log(
      JSON.stringify({
        bench: 'sqlite-disk',
        store: name,
        records,
        bytes,
        bytesPerRecord: Math.round(bytes / records),
      }),
    );
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

if (stores.includes('redis')) {
  const redis = await startRedis();
  try {
    const rstore = await openStore({ redis: redis.url }, silentLogger);
    await run('redis', rstore, 20_000);
    await verifySpeed('redis', rstore);
    await rstore.close();
  } finally {
    await redis.stop();
  }
}

if (stores.includes('postgres')) {
  // Durable settings (fsync, synchronous commit): what an archive of record runs with.
  const pg = await startPostgres();
  try {
    const pstore = await openStore({ memory: true, archive: pg.url }, silentLogger);
    await run('postgres', pstore, 25_000);
    await verifySpeed('postgres', pstore, 250_000);
    await pstore.close();
  } finally {
    await pg.destroy();
  }
}
