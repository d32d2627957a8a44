// Audit throughput: the writer into the memory store, into a real Redis and into a real
// PostgreSQL archive (each started on a free port by the test harness), with concurrent
// producers and with two writers sharing one chain (two replicas); then verify speed, and
// for PostgreSQL the speed of reading the archive in ranges (what each verify worker does).
// Run: node --import tsx bench/audit.ts [--records=N] [--stores=memory,redis,postgres]

import { readdirSync, readFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { join } from 'node:path';
import type { AuditEntry } from '../src/core/audit/record.js';
import { verifyLog } from '../src/core/audit/verify.js';
import { AuditWriter } from '../src/core/audit/writer.js';
import type { AuditLog } from '../src/core/store.js';
import { MemoryStore } from '../src/store/memory.js';
import { PostgresAuditLog } from '../src/store/postgres/log.js';
import { RedisStore } from '../src/store/redis.js';
import { startPostgres } from '../test/harness/postgres.js';
import { startRedis } from '../test/harness/redis.js';
import { cpuSeconds, median } from './common.js';

const arg = (name: string, dflt: number): number =>
  Number(process.argv.find((a) => a.startsWith(`--${name}=`))?.slice(name.length + 3) ?? dflt);
const RECORDS = arg('records', 200_000);
const REDIS_RECORDS = arg('redis-records', 100_000);
const PRODUCERS = arg('producers', 256);
const PG_RECORDS = arg('pg-records', 200_000);
const STORES = (
  process.argv.find((a) => a.startsWith('--stores='))?.slice(9) ?? 'memory,redis,postgres'
).split(',');
const load = () => +(loadavg()[0] ?? 0).toFixed(2);

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
async function writerRun(logs: AuditLog[], records: number, producers: number) {
  const writers = logs.map((l) => new AuditWriter(l, { maxBatch: 1000 }));
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

async function verifyRun(log: AuditLog) {
  const started = performance.now();
  const v = await verifyLog(log, { pageSize: 5000 });
  const seconds = (performance.now() - started) / 1000;
  if (!v.ok) throw new Error(`verify failed: ${JSON.stringify(v)}`);
  return {
    records: v.records,
    seconds: Number(seconds.toFixed(3)),
    recordsPerSecond: Math.round(v.records / seconds),
  };
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

// PostgreSQL (durable commits): one writer, verify (one thread), range reads, two replicas.
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
    emit({
      bench: 'audit.verify',
      store: 'postgres',
      threads: 1,
      ...(await verifyRun(a)),
      loadAverage: load(),
    });
    const rounds: number[] = [];
    for (let i = 0; i < 3; i++) rounds.push(await rangeRun(a, 5000));
    const rps = Math.round(median(rounds));
    emit({
      bench: 'audit.range',
      store: 'postgres',
      note: 'one thread reading and parsing ranges of 5,000 (a verify worker, without hashing)',
      records: PG_RECORDS,
      recordsPerSecond: rps,
      rounds: rounds.map(Math.round),
      targetRecordsPerSec: 250_000,
      ratioToTarget: +(rps / 250_000).toFixed(2),
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
