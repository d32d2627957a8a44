// The PostgreSQL archive against a real server (the harness starts one): the audit-log
// contract, partitions made by record time and dropped by retention, holds the database
// keeps, the minimum retention, the schema's version, the reader other threads open, and
// the store config that puts the audit trail in the archive.
import { readFileSync } from 'node:fs';
import t from 'tap';
import { chainEntries } from '../../src/core/audit/chain.js';
import { verifyLogParallel } from '../../src/core/audit/parallel-verify.js';
import type { AuditEntry, AuditRecord } from '../../src/core/audit/record.js';
import { verifyLog } from '../../src/core/audit/verify.js';
import { AuditWriter } from '../../src/core/audit/writer.js';
import { silentLogger } from '../../src/core/logger.js';
import type { AuditReader } from '../../src/core/store.js';
import { openStore } from '../../src/store/open.js';
import { ArchiveUnavailableError } from '../../src/store/postgres/connect.js';
import { schemaSql } from '../../src/store/postgres/ddl.js';
import { type PostgresArchiveOptions, PostgresAuditLog } from '../../src/store/postgres/log.js';
import { entries, entry } from '../core/audit/fixtures.js';
import { startPostgres } from '../harness/postgres.js';
import { auditLogChecks, auditLogContract } from './audit-contract.js';

const pg = await startPostgres({ fast: true });
t.teardown(() => pg.destroy());

let n = 0;
/** A log in a schema of its own (made at open). */
async function freshLog(o: Partial<PostgresArchiveOptions> = {}): Promise<PostgresAuditLog> {
  n += 1;
  const log = new PostgresAuditLog({ url: pg.url, schema: `t${n}`, ...o });
  t.equal(await log.open(), true, 'the archive answers');
  return log;
}

const ran: string[] = [];
await auditLogContract(t, 'postgres', async () => {
  const log = await freshLog();
  return {
    log,
    cleanup: async () => {
      ran.push(log.schema);
      await log.close();
    },
  };
});

t.test('every audit-log check ran against the archive', async (t) => {
  t.equal(ran.length, auditLogChecks.length, auditLogChecks.map(([title]) => title).join('; '));
});

const at = (time: string, over: Partial<AuditEntry> = {}): AuditEntry => entry({ time, ...over });

async function partitions(log: PostgresAuditLog): Promise<string[]> {
  const rows = await log.sql.unsafe<{ relname: string }[]>(
    `SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
     WHERE i.inhparent = '${log.schema}.audit_record'::regclass ORDER BY 1`,
  );
  return rows.map((r) => r.relname);
}

t.test('partitions: made on demand by record time; retention drops whole partitions', async (t) => {
  const log = await freshLog();
  t.teardown(() => log.close());
  const recs = chainEntries(null, [
    at('2025-01-10T08:00:00.000Z'),
    at('2025-01-11T08:00:00.000Z', { from: 'xmpp:held@corp.example' }),
    at('2025-01-12T08:00:00.000Z'),
    at('2025-02-01T00:00:00.000Z'),
    at('2025-02-14T12:00:00.000Z'),
    at('2025-02-28T23:59:59.999Z'),
    at('2025-03-01T00:00:00.000Z'),
    at('2025-02-01T00:30:00.000+01:00'),
    at('2025-03-20T00:00:00.000Z'),
    at('not a time'),
    at('2025-03-21T00:00:00.000Z'),
    at('2025-03-22T00:00:00.000Z'),
  ]);
  t.same(await log.append(recs), { ok: true });
  const made = await partitions(log);
  for (const p of [
    'audit_record_2025_01',
    'audit_record_2025_02',
    'audit_record_2025_03',
    'audit_record_undated',
  ])
    t.ok(made.includes(p), `${p} made`);
  const where = await log.sql.unsafe<{ seq: string; part: string }[]>(
    `SELECT seq, tableoid::regclass::text AS part FROM ${log.schema}.audit_record ORDER BY seq`,
  );
  t.same(
    where.map((r) => r.part.replace(`${log.schema}.audit_record_`, '')),
    [
      '2025_01',
      '2025_01',
      '2025_01',
      '2025_02',
      '2025_02',
      '2025_02',
      '2025_03',
      '2025_01',
      '2025_03',
      'undated',
      '2025_03',
      '2025_03',
    ],
    'each record in the month of its time (UTC); an unreadable time in the undated partition',
  );

  t.equal(
    await log.trim(7, new Set([2])),
    5,
    'records 1, 3 deleted in January (2 is held); February dropped',
  );
  const after = await partitions(log);
  t.notOk(after.includes('audit_record_2025_02'), 'February, all below the cut and none held: dropped');
  t.ok(after.includes('audit_record_2025_01'), 'January keeps its held record');
  t.same(
    (await log.range(1, 100)).map((r) => r.seq),
    [2, 7, 8, 9, 10, 11, 12],
    'record 8 (in January: 23:30 UTC on the 31st) stays: it is above the cut',
  );
  t.same(await log.anchor(), { seq: 6, hash: recs[5]?.hash });
  t.equal(await log.length(), 7);
  t.match(await verifyLog(log), { ok: true, records: 7 });

  t.equal(await log.trim(13), 7, 'everything: the hold lifted');
  const last = await partitions(log);
  for (const p of ['audit_record_2025_01', 'audit_record_2025_02', 'audit_record_2025_03'])
    t.notOk(last.includes(p), `${p} dropped`);
  t.ok(last.includes('audit_record_undated'), 'the undated partition stays (emptied row by row)');
  t.equal(await log.length(), 0);
  t.same(await log.head(), { seq: 12, hash: recs[11]?.hash });
  t.match(await verifyLog(log), { ok: true, records: 0 });
  const more = chainEntries(await log.head(), [at('2025-01-05T00:00:00.000Z')]);
  t.same(await log.append(more), { ok: true }, 'a partition dropped earlier is made again when needed');
  t.match(await verifyLog(log), { ok: true, records: 1 });
});

t.test(
  'a partition that searches hold is not waited for: rows go one by one, ahead-of-time making gives up',
  async (t) => {
    const log = await freshLog();
    t.teardown(() => log.close());
    await log.append(
      chainEntries(null, [
        at('2024-01-01T00:00:00.000Z'),
        at('2024-01-02T00:00:00.000Z'),
        at('2024-02-01T00:00:00.000Z'),
      ]),
    );
    // A long read holds the January partition (and so the parent table) open.
    const reader = await log.sql.reserve();
    await reader.unsafe('BEGIN');
    await reader.unsafe(`SELECT count(*) FROM ${log.schema}.audit_record`);
    const made = await log.sql.unsafe<{ made: number }[]>(
      `SELECT ${log.schema}.parley_audit_partitions(ARRAY['2024-06-01T00:00:00Z'::timestamptz], true) AS made`,
    );
    t.equal(made[0]?.made, 0, 'made ahead: gives up while the table is held');
    t.equal(await log.trim(3), 2, 'the trim still removes what it must');
    t.ok(
      (await partitions(log)).includes('audit_record_2024_01'),
      'the held partition stays (emptied row by row)',
    );
    t.same(
      (await log.range(1, 10)).map((r) => r.seq),
      [3],
    );
    await reader.unsafe('COMMIT');
    reader.release();
    const later = await log.sql.unsafe<{ made: number }[]>(
      `SELECT ${log.schema}.parley_audit_partitions(ARRAY['2024-06-01T00:00:00Z'::timestamptz], true) AS made`,
    );
    t.equal(later[0]?.made, 1, 'and makes it once the table is free');
    t.match(await verifyLog(log), { ok: true, records: 1 });
  },
);

t.test('partition width day: one partition per UTC day', async (t) => {
  const log = await freshLog({ partition: 'day' });
  t.teardown(() => log.close());
  await log.append(
    chainEntries(null, [
      at('2025-05-01T23:59:59.999Z'),
      at('2025-05-02T00:00:00.000Z'),
      at('2025-05-02T01:00:00.000+02:00'),
    ]),
  );
  const made = await partitions(log);
  t.ok(made.includes('audit_record_2025_05_01'));
  t.ok(made.includes('audit_record_2025_05_02'));
  t.equal(made.filter((p) => p.startsWith('audit_record_2025_')).length, 2, 'the third is in May 1st (UTC)');
  const [setting] = await log.sql.unsafe<{ value: string }[]>(
    `SELECT value FROM ${log.schema}.audit_setting WHERE name = 'partition'`,
  );
  t.equal(setting?.value, 'day', 'the width is the archive’s setting');
});

t.test('holds kept in the database keep records whatever the gateway passes', async (t) => {
  const log = await freshLog();
  t.teardown(() => log.close());
  const recs = chainEntries(null, [
    at('2025-01-01T00:00:00.000Z', { from: 'xmpp:Dana@Corp.example', to: 'sip:x@partner.example' }),
    at('2025-01-02T00:00:00.000Z'),
    at('2025-02-01T00:00:00.000Z', { to: 'matrix:u/eve:legal.example' }),
    at('2025-02-02T00:00:00.000Z'),
    at('2025-03-01T00:00:00.000Z'),
  ]);
  await log.append(recs);
  await log.sql.unsafe(
    `INSERT INTO ${log.schema}.audit_hold (person, reason) VALUES ('dana@corp.example', 'matter 1');
     INSERT INTO ${log.schema}.audit_hold (domain, from_at, reason) VALUES ('legal.example', '2025-01-15', 'matter 2')`,
  );
  t.equal(await log.trim(5), 2, 'only the records no hold covers');
  t.same(
    (await log.range(1, 10)).map((r) => r.seq),
    [1, 3, 5],
  );
  t.ok((await partitions(log)).includes('audit_record_2025_02'), 'a partition with a held record stays');
  t.match(await verifyLog(log), { ok: true, records: 3 });
});

t.test('minimum retention: trim refuses to cut records younger than it', async (t) => {
  const log = await freshLog();
  t.teardown(() => log.close());
  const now = new Date().toISOString();
  const recs = chainEntries(null, [at('2020-01-01T00:00:00.000Z'), at('2020-01-02T00:00:00.000Z'), at(now)]);
  await log.append(recs);
  await log.sql.unsafe(
    `UPDATE ${log.schema}.audit_setting SET value = '30' WHERE name = 'min_retention_days'`,
  );
  await t.rejects(log.trim(4), /record 3 is younger than the minimum retention of 30 days/);
  t.equal(await log.length(), 3, 'nothing deleted by a refused trim');
  t.equal(await log.anchor(), null, 'and the anchor did not move');
  t.equal(await log.trim(4, new Set([3])), 2, 'a held young record does not stop the trim');
  t.equal(await log.trim(3), 0, 'old records are gone; the young one was never below this cut');
  t.match(await verifyLog(log), { ok: true, records: 1 });
});

t.test('schema: versioned; a newer archive is refused with what to do', async (t) => {
  const log = await freshLog();
  const [v] = await log.sql.unsafe<{ version: number }[]>(
    `SELECT max(version) AS version FROM ${log.schema}.schema_version`,
  );
  t.equal(v?.version, 1);
  await log.sql.unsafe(`INSERT INTO ${log.schema}.schema_version (version) VALUES (99)`);
  await log.close();
  const again = new PostgresAuditLog({ url: pg.url, schema: log.schema });
  await t.rejects(again.open(), /at version 99, newer than this Parley knows \(1\): upgrade Parley/);
  await again.close();
  const text = readFileSync(new URL('../../src/store/postgres/schema.sql', import.meta.url), 'utf8');
  t.equal(text, schemaSql(), 'schema.sql is the DDL the archive runs (regenerate: parley archive sql)');
});

t.test('the reader other threads open: same records, one connection', async (t) => {
  const log = await freshLog();
  t.teardown(() => log.close());
  await log.append(chainEntries(null, entries(30)));
  const source = log.source;
  t.match(source, { module: /reader\.(ts|js)$/, options: { url: pg.url, schema: log.schema } });
  const mod = (await import(source.module)) as {
    openAuditReader(o: Record<string, unknown>): Promise<AuditReader>;
  };
  const reader = await mod.openAuditReader(source.options);
  t.same(await reader.range(11, 5), await log.range(11, 5));
  t.same(
    (await reader.range(1, 1000)).map((r: AuditRecord) => r.seq),
    Array.from({ length: 30 }, (_, i) => i + 1),
  );
  t.same(
    (await reader.rangeText?.(11, 5))?.map((text) => JSON.parse(text)),
    await log.range(11, 5),
    'the texts the archive keeps, for verify to hash as they are',
  );
  await reader.close();
  await t.rejects(mod.openAuditReader({ url: 'redis://x' }), /postgres:\/\/ URL/);
});

t.test('parallel verify reads the archive on worker threads; a changed record is found', async (t) => {
  const log = await freshLog();
  t.teardown(() => log.close());
  const recs = chainEntries(null, entries(3000));
  for (let i = 0; i < recs.length; i += 500) await log.append(recs.slice(i, i + 500));
  await log.trim(200, new Set([50]));
  const plans: { workers: number; ranges: number }[] = [];
  const opts = {
    workers: 2,
    rangeSize: 700,
    minRecords: 0,
    onPlan: (p: (typeof plans)[number]) => plans.push(p),
  };
  const ok = await verifyLogParallel(log, opts);
  t.same(ok, await verifyLog(log), 'the same result as on one thread');
  t.match(ok, { ok: true, records: 2802 });
  t.match(plans[0], { workers: 2 }, 'on two workers');
  // Only with the trigger off (a superuser replicating) can a row change: verify sees it.
  await log.sql.unsafe(
    `SET session_replication_role = replica;
     UPDATE ${log.schema}.audit_record SET record = replace(record, '"decision":"allow"', '"decision":"deny"') WHERE seq = 2222;
     SET session_replication_role = origin`,
  );
  t.match(await verifyLogParallel(log, opts), { ok: false, firstBad: 2222, problem: /hash mismatch/ });
});

t.test('store.archive: the state where it was, the audit trail in PostgreSQL', async (t) => {
  const store = await openStore({ memory: true, archive: { url: pg.url, schema: 'viacfg' } }, silentLogger);
  t.equal(store.kind, 'memory', 'state in the configured store');
  t.equal(store.audit.kind, 'postgres');
  t.equal(await store.ping(), true, 'both answer');
  await store.set('k', 'v');
  t.equal(await store.get('k'), 'v');
  const w = new AuditWriter(store.audit);
  await Promise.all(entries(5).map((e) => w.write(e)));
  t.equal(await store.audit.length(), 5);
  await store.close();
  t.equal(await store.ping(), false, 'closed: neither answers');
  const byUrl = await openStore({ archive: pg.url }, silentLogger);
  t.equal(byUrl.audit.kind, 'postgres', 'the URL form');
  t.equal((byUrl.audit as PostgresAuditLog).schema, 'parley', 'default schema');
  await byUrl.close();
});

t.test('an archive that does not answer at open: not fatal; operations reject until it does', async (t) => {
  const log = new PostgresAuditLog({ url: 'postgres://parley@127.0.0.1:1/parley', schema: 'nowhere' });
  t.equal(await log.open(2000), false);
  await t.rejects(log.append(chainEntries(null, entries(1))), ArchiveUnavailableError);
  await t.rejects(
    log.head(),
    /postgres archive \(postgres:\/\/parley@127\.0\.0\.1:1\/parley\): audit head failed/,
  );
  t.equal(await log.ping(), false);
  await log.close();
});
