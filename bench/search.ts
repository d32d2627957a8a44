// Audit search at archive scale: load N records (default 10,000,000) into a store, then
// time the two searches a compliance officer runs - one person over a month, and words in
// the content - as first pages of 50, p50/p95 over many different values each (target:
// p95 <= 200 ms), and report the archive's bytes per record on disk and the load rate.
//
// Run: npm run bench:search -- [--store=sqlite:<path>|postgres://…|memory] [--records=N]
//        [--queries=N] [--batch=N] [--reuse] [--schema=parley]
//   --store    where: a SQLite file (default sqlite:tmp/bench-search.db), a PostgreSQL
//              archive (state in memory), or memory (small N only: everything in RAM)
//   --reuse    search what an earlier run loaded (a partial load is completed); without it
//              a store that already holds records is refused
// Prints one JSON line per measurement.
import '../src/networks.js';
import { existsSync, statSync } from 'node:fs';
import { loadavg } from 'node:os';
import { chainEntries } from '../src/core/audit/chain.js';
import { queryLog } from '../src/core/audit/query.js';
import type { AuditEntry } from '../src/core/audit/record.js';
import type { AuditFilter } from '../src/core/audit/types.js';
import { silentLogger } from '../src/core/logger.js';
import type { AuditHead, Store } from '../src/core/store.js';
import type { StoreConfig } from '../src/store/config.js';
import { openStore } from '../src/store/open.js';
import { argOf, percentile } from './common.js';
import { entryAt, type Person, type TrailModel, trailModel, zipfRank } from './search-data.js';

const TARGET_P95_MS = 200;
const PAGE = 50;

const num = (name: string, dflt: number): number => {
  const v = argOf(name);
  const n = v === undefined ? dflt : Number(v.replace(/_/g, ''));
  if (!Number.isSafeInteger(n) || n < 1) {
    process.stderr.write(`--${name}=${v}: give a positive whole number\n`);
    process.exit(2);
  }
  return n;
};

const RECORDS = num('records', 10_000_000);
const QUERIES = num('queries', 100);
const BATCH = num('batch', 5000);
const REUSE = process.argv.includes('--reuse');
const STORE = argOf('store') ?? 'sqlite:tmp/bench-search.db';
const SCHEMA = argOf('schema') ?? 'parley';

const emit = (o: Record<string, unknown>) =>
  process.stdout.write(`${JSON.stringify({ bench: 'search', store: kindOf(STORE), ...o })}\n`);
const fail = (message: string): never => {
  process.stderr.write(`bench:search: ${message}\n`);
  process.exit(2);
};
const round = (x: number, digits = 2) => Number(x.toFixed(digits));

function kindOf(spec: string): 'sqlite' | 'postgres' | 'memory' {
  if (spec === 'memory') return 'memory';
  if (spec.startsWith('sqlite:')) return 'sqlite';
  if (/^postgres(ql)?:\/\//.test(spec)) return 'postgres';
  return fail(`--store=${spec}: give sqlite:<path>, postgres://… or memory`);
}

function storeConfig(spec: string): StoreConfig {
  switch (kindOf(spec)) {
    case 'memory':
      return { memory: true };
    case 'sqlite':
      return { sqlite: spec.slice('sqlite:'.length) };
    case 'postgres':
      return { memory: true, archive: { url: spec, schema: SCHEMA } };
  }
}

/** Append records `from`..RECORDS-1 of the trail in batches; the load rate. */
async function load(store: Store, model: TrailModel, from: number) {
  const log = store.audit;
  let head: AuditHead | null = await log.head();
  const started = performance.now();
  let chainMs = 0;
  let lastReport = started;
  const entries: AuditEntry[] = new Array(BATCH);
  for (let i = from; i < RECORDS; ) {
    const n = Math.min(BATCH, RECORDS - i);
    entries.length = n;
    const t0 = performance.now();
    for (let k = 0; k < n; k++) entries[k] = entryAt(model, RECORDS, i + k);
    const records = chainEntries(head, entries);
    chainMs += performance.now() - t0;
    const r = await log.append(records);
    if (!r.ok) fail(`append at seq ${records[0]?.seq} conflicted: is another process writing to this store?`);
    const last = records[records.length - 1];
    head = last ? { seq: last.seq, hash: last.hash } : head;
    i += n;
    if (performance.now() - lastReport > 10_000) {
      lastReport = performance.now();
      const rate = (i - from) / ((lastReport - started) / 1000);
      process.stderr.write(
        `loaded ${i.toLocaleString('en-US')} of ${RECORDS.toLocaleString('en-US')} (${Math.round(rate)}/s)\n`,
      );
    }
  }
  const seconds = (performance.now() - started) / 1000;
  const loaded = RECORDS - from;
  return {
    loaded,
    seconds: round(seconds, 1),
    recordsPerSecond: Math.round(loaded / seconds),
    chainAndGenerateSeconds: round(chainMs / 1000, 1),
    appendRecordsPerSecond: Math.round(loaded / ((seconds * 1000 - chainMs) / 1000)),
  };
}

interface Run {
  ms: number[];
  found: number[];
  modes: Set<string>;
}

async function timeQueries(store: Store, filters: AuditFilter[]): Promise<Run> {
  const run: Run = { ms: [], found: [], modes: new Set() };
  for (const f of filters) {
    const t0 = performance.now();
    const page = await queryLog(store.audit, f, null, PAGE);
    run.ms.push(performance.now() - t0);
    run.found.push(page.records.length);
    run.modes.add(page.search.mode);
  }
  return run;
}

function summary(name: string, run: Run, example: AuditFilter, coldMs = Number.NaN) {
  const sorted = [...run.ms].sort((a, b) => a - b);
  const p95 = percentile(sorted, 0.95);
  emit({
    step: 'query',
    query: name,
    queries: run.ms.length,
    limit: PAGE,
    coldMs: round(coldMs),
    p50ms: round(percentile(sorted, 0.5)),
    p95ms: round(p95),
    maxMs: round(sorted[sorted.length - 1] ?? Number.NaN),
    targetP95ms: TARGET_P95_MS,
    p95ToTarget: round(p95 / TARGET_P95_MS, 3),
    fullPages: run.found.filter((n) => n === PAGE).length,
    emptyPages: run.found.filter((n) => n === 0).length,
    modes: [...run.modes],
    example,
    load: loadavg().map((x) => round(x)),
  });
}

/** Bytes on disk per record: the SQLite file and its WAL after a checkpoint, or the archive's relations. */
async function size(records: number): Promise<Record<string, unknown>> {
  const kind = kindOf(STORE);
  if (kind === 'memory') return { bytes: null, how: 'memory: nothing on disk' };
  if (kind === 'sqlite') {
    const path = STORE.slice('sqlite:'.length);
    const { default: Database } = await import('better-sqlite3');
    const db = new Database(path);
    db.pragma('wal_checkpoint(TRUNCATE)');
    db.close();
    const file = statSync(path).size;
    const wal = existsSync(`${path}-wal`) ? statSync(`${path}-wal`).size : 0;
    return {
      bytes: file + wal,
      fileBytes: file,
      walBytes: wal,
      bytesPerRecord: round((file + wal) / records, 1),
      how: 'file + WAL after wal_checkpoint(TRUNCATE)',
    };
  }
  const { default: postgres } = await import('postgres');
  const sql = postgres(STORE, { max: 1, onnotice: () => {} });
  try {
    const rows = await sql<{ bytes: string; relations: string }[]>`
      select coalesce(sum(pg_total_relation_size(c.oid)), 0)::text as bytes, count(*)::text as relations
      from pg_class c join pg_namespace n on n.oid = c.relnamespace
      where n.nspname = ${SCHEMA} and c.relkind in ('r', 'm')`;
    const bytes = Number(rows[0]?.bytes ?? 0);
    return {
      bytes,
      relations: Number(rows[0]?.relations ?? 0),
      bytesPerRecord: round(bytes / records, 1),
      how: `sum of pg_total_relation_size (tables, their indexes and TOAST) in schema ${SCHEMA}`,
    };
  } finally {
    await sql.end();
  }
}

async function main() {
  const cfg = storeConfig(STORE);
  const store = await openStore(cfg, silentLogger);
  const want = kindOf(STORE);
  if (store.audit.kind !== want) {
    await store.close();
    fail(
      `--store=${STORE} opened a ${store.audit.kind} audit log, not ${want}: this build has no ${want} store yet`,
    );
  }
  const model = trailModel();
  const have = await store.audit.length();
  if (have > 0 && !REUSE) {
    await store.close();
    fail(
      `the store already holds ${have.toLocaleString('en-US')} records: pass --reuse to search them, or name a new store`,
    );
  }
  if (have < RECORDS) {
    const l = await load(store, model, have);
    emit({ step: 'load', records: RECORDS, resumedAt: have, ...l, load: loadavg().map((x) => round(x)) });
  } else {
    emit({ step: 'load', records: have, loaded: 0, reused: true });
  }
  const total = await store.audit.length();
  const head = (await store.audit.head())?.seq ?? 0;
  // The span of the trail, from its records (a reused store may be of another size).
  const [first] = await store.audit.range(1, 1);
  const [last] = await store.audit.reverseRange(head, 1);
  const t0 = Date.parse(first?.time ?? '');
  const t1 = Date.parse(last?.time ?? '');
  if (Number.isNaN(t0) || Number.isNaN(t1)) fail('the store holds no records to search');

  // Different values every query: a person (in the bare form, all networks) over 30 days,
  // and words drawn from the body vocabulary past its commonest words.
  let k = 0;
  const u = () => {
    k += 1;
    const x = Math.sin(k * 12.9898) * 43758.5453;
    return x - Math.floor(x);
  };
  const month = 30 * 86_400_000;
  const party: AuditFilter[] = Array.from({ length: QUERIES }, () => {
    const p = model.people[Math.floor(u() * model.people.length)] as Person;
    const from = t0 + u() * Math.max(0, t1 - t0 - month);
    return {
      user: `${p.user}@${p.domain}`,
      from: new Date(from).toISOString(),
      to: new Date(from + month).toISOString(),
    };
  });
  const text: AuditFilter[] = Array.from({ length: QUERIES }, (_, i) => {
    const word = (): string => {
      for (;;) {
        const rank = zipfRank(model, u());
        if (rank >= 30) return model.words[rank] as string;
      }
    };
    if (i % 5 === 3) return { q: `${word()} ${word()}` };
    if (i % 5 === 4) return { q: `${word().slice(0, 4)}*` };
    return { q: word() };
  });
  // Two queries first, not counted (the first touches of the indexes, and the JIT); their
  // times are reported as the cold ones.
  const cold = await timeQueries(store, [party[0] ?? {}, text[0] ?? {}]);
  summary('party+month', await timeQueries(store, party), party[0] ?? {}, cold.ms[0]);
  summary('full-text', await timeQueries(store, text), text[0] ?? {}, cold.ms[1]);
  await store.close();
  emit({ step: 'size', records: total, ...(await size(total)) });
}

main().catch((e: unknown) => {
  process.stderr.write(`bench:search failed: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
  process.exit(1);
});
