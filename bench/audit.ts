// Audit throughput: the writer into the memory store, into the SQLite store (a file in a
// temporary folder: the insert rate with every index, bytes per record on disk, the
// reader other threads use for verify) and into a real Redis (started on a free port by
// the test harness), with concurrent producers and with two writers sharing one chain
// (two replicas); then verify speed over 200,000 records.
// Run: node --import tsx bench/audit.ts [--records=N] [--stores=memory,sqlite,redis]
//   (one JSON line per measurement)
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { AuditEntry } from '../src/core/audit/record.js';
import { verifyLog } from '../src/core/audit/verify.js';
import { AuditWriter } from '../src/core/audit/writer.js';
import type { AuditLog, AuditReader } from '../src/core/store.js';
import { MemoryStore } from '../src/store/memory.js';
import { RedisStore } from '../src/store/redis.js';
import { SqliteStore } from '../src/store/sqlite/store.js';
import { startRedis } from '../test/harness/redis.js';

const arg = (name: string, dflt: number): number =>
  Number(process.argv.find((a) => a.startsWith(`--${name}=`))?.slice(name.length + 3) ?? dflt);
const RECORDS = arg('records', 200_000);
const REDIS_RECORDS = arg('redis-records', 100_000);
const PRODUCERS = arg('producers', 256);
const STORES = (process.argv.find((a) => a.startsWith('--stores='))?.slice(9) ?? 'memory,sqlite,redis').split(
  ',',
);

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
