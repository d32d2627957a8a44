// Audit throughput: the writer into the memory store, into a real Redis and into a real
// PostgreSQL archive (each started on a free port by the test harness), with concurrent
// producers and with two writers sharing one chain (two replicas); verify speed over what
// they wrote (on every core where the store has a source; for PostgreSQL also on one
// thread, and the speed of reading it in ranges); then verify on one thread and on every core over a JSONL file of
// --verify-records records (default 1,000,000), back to back, --runs times (default 3).
// --dist: the JSONL verify runs the compiled code (dist/, `npm run build` first), whose
// workers start in tens of milliseconds (from source, tsx starts in each: some 300 ms).
// --stores=memory,sqlite,redis,postgres,jsonl picks the parts (default all).
// Run: node --import tsx bench/audit.ts [--records=N] [--only=verify] [--dist]   (one JSON line per measurement)
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { availableParallelism, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { chainEntries } from '../src/core/audit/chain.js';
import * as parallelSource from '../src/core/audit/parallel-verify.js';
import type { AuditEntry } from '../src/core/audit/record.js';
import { verifyLog } from '../src/core/audit/verify.js';
import { AuditWriter } from '../src/core/audit/writer.js';
import type { AuditLog, AuditReader } from '../src/core/store.js';
import * as jsonlSource from '../src/store/jsonl.js';
import { MemoryStore } from '../src/store/memory.js';
import * as pgSource from '../src/store/postgres/log.js';
import { RedisStore } from '../src/store/redis.js';
import { SqliteStore } from '../src/store/sqlite/store.js';
import { startPostgres } from '../test/harness/postgres.js';
import { startRedis } from '../test/harness/redis.js';
import { cpuSeconds } from './common.js';

const arg = (name: string, dflt: number): number =>
  Number(process.argv.find((a) => a.startsWith(`--${name}=`))?.slice(name.length + 3) ?? dflt);
const RECORDS = arg('records', 200_000);
const REDIS_RECORDS = arg('redis-records', 100_000);
const PRODUCERS = arg('producers', 256);
const PG_RECORDS = arg('pg-records', 200_000);
const STORES = (
  process.argv.find((a) => a.startsWith('--stores='))?.slice(9) ?? 'memory,sqlite,redis,postgres,jsonl'
).split(',');
const VERIFY_RECORDS = arg('verify-records', 1_000_000);
const RUNS = arg('runs', 3);
const ONLY = process.argv.find((a) => a.startsWith('--only='))?.slice('--only='.length);
const DIST = process.argv.includes('--dist');
const dist = (path: string): Promise<unknown> => import(new URL(`../dist/${path}`, import.meta.url).href);
const { verifyLogParallel } = DIST
  ? ((await dist('core/audit/parallel-verify.js')) as typeof parallelSource)
  : parallelSource;
const { JsonlAuditLog } = DIST ? ((await dist('store/jsonl.js')) as typeof jsonlSource) : jsonlSource;
// --dist: the archive's reader (its source module) is the compiled one too.
const { PostgresAuditLog } = DIST ? ((await dist('store/postgres/log.js')) as typeof pgSource) : pgSource;
/** Records per second a parallel verify should reach on 2 cores (decision 0010, issue 17). */
const TARGETS: Record<string, number> = { sqlite: 500_000, postgres: 250_000 };

let n = 0;
function entry(): AuditEntry {
  n += 1;
  return {
    category: 'decision',
    time: new Date().toISOString(),
    traceId: `trace-${n}`,
    eventId: `ev-${n}`,
    kind: 'message',
    from: 'xmpp:alice@corp.example',
    to: 'matrix:u/bob:partner.example',
    fromNetwork: 'xmpp',
    toNetwork: 'matrix',
    direction: 'outbound',
    decision: 'allow',
    rule: 'partners-talk',
    reason: null,
    policyVersion: '2026-11-25.1',
    content: {
      mode: 'full',
      body: `Hello Bob, message number ${n}: the quarterly numbers are in the shared folder.`,
    },
    sourceAdapter: 'corp',
    targetAdapter: 'partner',
  };
}

const emit = (o: Record<string, unknown>) => process.stdout.write(`${JSON.stringify(o)}\n`);

/** `producers` concurrent loops, each awaiting its write before the next, across `writers`. */
async function writerRun(logs: AuditLog[], records: number, producers: number, maxInFlight = 1) {
  const writers = logs.map((l) => new AuditWriter(l, { maxBatch: 1000, maxInFlight }));
  let left = records;
  const latencies: number[] = [];
  const started = performance.now();
  await Promise.all(
    Array.from({ length: producers }, async (_, i) => {
      const w = writers[i % writers.length] as AuditWriter;
      while (left > 0) {
        left -= 1;
        const t0 = performance.now();
        await w.write(entry());
        if (latencies.length < 100_000) latencies.push(performance.now() - t0);
      }
    }),
  );
  const seconds = (performance.now() - started) / 1000;
  for (const w of writers) await w.close();
  latencies.sort((a, b) => a - b);
  const pct = (p: number) => Number((latencies[Math.floor(latencies.length * p)] ?? 0).toFixed(3));
  return {
    records,
    seconds: Number(seconds.toFixed(3)),
    recordsPerSecond: Math.round(records / seconds),
    p50ms: pct(0.5),
    p99ms: pct(0.99),
  };
}

/** Verify `log`: on every core when it has a source (workers: how many ran), else on this thread. */
async function verifyRun(log: AuditLog, parallel = log.source !== undefined) {
  let workers = 0;
  const cpu0 = process.cpuUsage();
  const started = performance.now();
  const v = parallel
    ? await verifyLogParallel(log, { onPlan: (p) => (workers = p.workers) })
    : await verifyLog(log, { pageSize: 5000 });
  const seconds = (performance.now() - started) / 1000;
  const cpu = process.cpuUsage(cpu0);
  if (!v.ok) throw new Error(`verify failed: ${JSON.stringify(v)}`);
  const recordsPerSecond = Math.round(v.records / seconds);
  return {
    records: v.records,
    workers,
    seconds: Number(seconds.toFixed(3)),
    recordsPerSecond,
    ...(workers > 0 ? { recordsPerSecondPerWorker: Math.round(recordsPerSecond / workers) } : {}),
    // CPU of every thread of the process: the figure a shared machine disturbs least.
    cpuUsPerRecord: Number(((cpu.user + cpu.system) / v.records).toFixed(2)),
    ...(parallel && TARGETS[log.kind]
      ? {
          target: TARGETS[log.kind],
          ratio: Number((recordsPerSecond / (TARGETS[log.kind] as number)).toFixed(2)),
        }
      : {}),
  };
}

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] as number;

/**
 * Verify over a JSONL file (the store with a source that exists in every build): one thread,
 * then every core, back to back, RUNS times; each run's figures and the medians.
 */
async function verifyFileBench() {
  const path = join(tmpdir(), `parley-bench-verify-${process.pid}.jsonl`);
  const file = JsonlAuditLog.open(path, { create: true });
  try {
    let head = null;
    for (let done = 0; done < VERIFY_RECORDS; done += 10_000) {
      const batch = chainEntries(
        head,
        Array.from({ length: Math.min(10_000, VERIFY_RECORDS - done) }, entry),
      );
      await file.append(batch);
      head = await file.head();
    }
    const one: Record<string, number>[] = [];
    const all: Record<string, number>[] = [];
    for (let run = 1; run <= RUNS; run++) {
      const load = loadavg()[0]?.toFixed(2);
      const a = await verifyRun(file, false);
      emit({ bench: 'audit.verify', store: 'jsonl', run, threads: 'one', load, ...a });
      const b = await verifyRun(file, true);
      emit({ bench: 'audit.verify', store: 'jsonl', run, threads: 'all', load, ...b });
      one.push(a);
      all.push(b);
    }
    const m = (rows: Record<string, number>[], k: string) => median(rows.map((r) => r[k] as number));
    emit({
      bench: 'audit.verify.median',
      store: 'jsonl',
      code: DIST ? 'dist' : 'source',
      runs: RUNS,
      records: VERIFY_RECORDS,
      cores: availableParallelism(),
      oneThreadRecordsPerSecond: m(one, 'recordsPerSecond'),
      workers: m(all, 'workers'),
      parallelRecordsPerSecond: m(all, 'recordsPerSecond'),
      parallelRecordsPerSecondPerWorker: m(all, 'recordsPerSecondPerWorker'),
      speedup: Number((m(all, 'recordsPerSecond') / m(one, 'recordsPerSecond')).toFixed(2)),
      oneThreadCpuUsPerRecord: m(one, 'cpuUsPerRecord'),
      parallelCpuUsPerRecord: m(all, 'cpuUsPerRecord'),
      load: loadavg()[0]?.toFixed(2),
    });
  } finally {
    file.close();
    rmSync(path, { force: true });
  }
}

if (ONLY === 'verify') {
  await verifyFileBench();
  process.exit(0);
}

// Memory: one writer, then two writers sharing the log.
if (STORES.includes('memory')) {
  const store = new MemoryStore();
  emit({
    bench: 'audit.writer',
    store: 'memory',
    writers: 1,
    producers: PRODUCERS,
    ...(await writerRun([store.audit], RECORDS, PRODUCERS)),
  });
  emit({ bench: 'audit.verify', store: 'memory', ...(await verifyRun(store.audit)) });
  await store.close();
  const shared = new MemoryStore();
  emit({
    bench: 'audit.writer',
    store: 'memory',
    writers: 2,
    producers: PRODUCERS,
    ...(await writerRun([shared.audit, shared.audit], RECORDS, PRODUCERS)),
  });
  await shared.close();
}

// SQLite: one writer (4 appends in flight, as the gateway), every index; the file's size;
// verify through the log, then the reader other threads open (AuditLog.source).
if (STORES.includes('sqlite')) {
  const dir = mkdtempSync(join(tmpdir(), 'parley-bench-audit-'));
  const path = join(dir, 'parley.db');
  try {
    const store = new SqliteStore({ path });
    emit({
      bench: 'audit.writer',
      store: 'sqlite',
      writers: 1,
      producers: PRODUCERS,
      maxInFlight: 4,
      ...(await writerRun([store.audit], RECORDS, PRODUCERS, 4)),
    });
    emit({ bench: 'audit.verify', store: 'sqlite', ...(await verifyRun(store.audit)) });
    const source = store.audit.source;
    const mod = (await import(source.module)) as {
      openAuditReader(o: Record<string, unknown>): Promise<AuditReader>;
    };
    const reader = await mod.openAuditReader(source.options);
    const started = performance.now();
    let read = 0;
    for (let from = 1; ; ) {
      const page = await reader.range(from, 5000);
      read += page.length;
      if (page.length < 5000) break;
      from = (page[page.length - 1]?.seq ?? from) + 1;
    }
    const seconds = (performance.now() - started) / 1000;
    await reader.close();
    emit({
      bench: 'audit.reader.range',
      store: 'sqlite',
      records: read,
      recordsPerSecond: Math.round(read / seconds),
    });
    const records = await store.audit.length();
    await store.close();
    const bytes = statSync(path).size;
    emit({
      bench: 'audit.disk',
      store: 'sqlite',
      records,
      bytes,
      bytesPerRecord: Math.round(bytes / records),
    });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

// Redis: one writer, then two replicas (two connections, two writers) on one chain.
if (STORES.includes('redis')) {
  const redis = await startRedis();
  try {
    const a = new RedisStore({ url: redis.url, prefix: 'bench1:' });
    await a.ready();
    emit({
      bench: 'audit.writer',
      store: 'redis',
      writers: 1,
      producers: PRODUCERS,
      ...(await writerRun([a.audit], REDIS_RECORDS, PRODUCERS)),
    });
    emit({ bench: 'audit.verify', store: 'redis', ...(await verifyRun(a.audit)) });
    const r1 = new RedisStore({ url: redis.url, prefix: 'bench2:' });
    const r2 = new RedisStore({ url: redis.url, prefix: 'bench2:' });
    await Promise.all([r1.ready(), r2.ready()]);
    emit({
      bench: 'audit.writer',
      store: 'redis',
      writers: 2,
      producers: PRODUCERS,
      ...(await writerRun([r1.audit, r2.audit], REDIS_RECORDS, PRODUCERS)),
    });
    const v = await verifyLog(r1.audit);
    emit({ bench: 'audit.replicas.chain', store: 'redis', ok: v.ok, records: v.records });
    await Promise.all([a.close(), r1.close(), r2.close()]);
  } finally {
    await redis.stop();
  }
}

const load = () => +(loadavg()[0] ?? 0).toFixed(2);

/** CPU seconds the PostgreSQL server (its postmaster and every child) has used so far. */
function serverCpuSeconds(dataDir: string): number {
  const pm = Number(readFileSync(join(dataDir, 'postmaster.pid'), 'utf8').split('\n')[0]);
  let total = cpuSeconds(pm);
  for (const d of readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    try {
      const stat = readFileSync(`/proc/${d}/stat`, 'utf8');
      if (Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]) === pm) total += cpuSeconds(Number(d));
    } catch {
      // gone meanwhile
    }
  }
  return total;
}

/** writerRun, with the CPU time per record of this process and of the server. */
async function measuredWriterRun(logs: AuditLog[], records: number, dataDir: string) {
  const c0 = process.cpuUsage();
  const s0 = serverCpuSeconds(dataDir);
  const r = await writerRun(logs, records, PRODUCERS);
  const c = process.cpuUsage(c0);
  return {
    ...r,
    nodeCpuUsPerRecord: +((c.user + c.system) / records).toFixed(1),
    serverCpuUsPerRecord: +(((serverCpuSeconds(dataDir) - s0) * 1e6) / records).toFixed(1),
  };
}

/** Read the whole log in ranges of `page`, parsing each record (a verify worker's reading). */
async function rangeRun(log: AuditLog, page: number) {
  const started = performance.now();
  let records = 0;
  let next = 1;
  for (;;) {
    const rows = await log.range(next, page);
    records += rows.length;
    const last = rows[rows.length - 1];
    if (!last || rows.length < page) break;
    next = last.seq + 1;
  }
  return records / ((performance.now() - started) / 1000);
}

// PostgreSQL (durable commits): one writer, verify (one thread, every core), range reads,
// two replicas.
if (STORES.includes('postgres')) {
  const pg = await startPostgres();
  try {
    const a = new PostgresAuditLog({ url: pg.url, schema: 'bench1' });
    await a.open();
    emit({
      bench: 'audit.writer',
      store: 'postgres',
      writers: 1,
      producers: PRODUCERS,
      ...(await measuredWriterRun([a], PG_RECORDS, join(pg.dir, 'pg'))),
      loadAverage: load(),
    });
    for (const parallel of [false, true]) {
      emit({
        bench: 'audit.verify',
        store: 'postgres',
        threads: parallel ? 'all' : 'one',
        ...(await verifyRun(a, parallel)),
        loadAverage: load(),
      });
    }
    const rounds: number[] = [];
    for (let i = 0; i < 3; i++) rounds.push(await rangeRun(a, 5000));
    const rps = Math.round(median(rounds));
    emit({
      bench: 'audit.range',
      store: 'postgres',
      note: 'one thread reading and parsing ranges of 5,000 (what a verify worker reads, without hashing)',
      records: PG_RECORDS,
      recordsPerSecond: rps,
      rounds: rounds.map(Math.round),
      loadAverage: load(),
    });
    const r1 = new PostgresAuditLog({ url: pg.url, schema: 'bench2' });
    const r2 = new PostgresAuditLog({ url: pg.url, schema: 'bench2' });
    await r1.open();
    await r2.open();
    emit({
      bench: 'audit.writer',
      store: 'postgres',
      writers: 2,
      producers: PRODUCERS,
      ...(await measuredWriterRun([r1, r2], PG_RECORDS / 2, join(pg.dir, 'pg'))),
      loadAverage: load(),
    });
    const v = await verifyLog(r1);
    emit({ bench: 'audit.replicas.chain', store: 'postgres', ok: v.ok, records: v.records });
    await Promise.all([a.close(), r1.close(), r2.close()]);
  } finally {
    await pg.destroy();
  }
}

if (STORES.includes('jsonl')) await verifyFileBench();
