// The archive is non-rewriteable: the owner sets it up (`parley archive init`), the gateway's
// role may read and append, never change or delete a record itself; UPDATE is refused by a
// trigger for every role; deletes happen only through parley_audit_trim, which keeps the
// minimum retention and the database's holds. Real PostgreSQL, real roles.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import postgres from 'postgres';
import t from 'tap';
import { archiveCommand } from '../../src/cli/archive.js';
import type { CliIO } from '../../src/cli/io.js';
import { loadConfig } from '../../src/config.js';
import { chainEntries } from '../../src/core/audit/chain.js';
import { verifyLog } from '../../src/core/audit/verify.js';
import { initArchive } from '../../src/store/postgres/init.js';
import { PostgresAuditLog } from '../../src/store/postgres/log.js';
import { entry } from '../core/audit/fixtures.js';
import { startPostgres } from '../harness/postgres.js';

const pg = await startPostgres({ fast: true });
t.teardown(() => pg.destroy());
const admin = postgres(pg.url, { max: 1, onnotice: () => {} });
t.teardown(() => admin.end({ timeout: 5 }));
await admin.unsafe(`CREATE ROLE parley_owner LOGIN;
  CREATE ROLE parley_gateway LOGIN;
  CREATE ROLE stranger LOGIN;
  GRANT CREATE ON DATABASE parley TO parley_owner`);

const dir = mkdtempSync(join(tmpdir(), 'parley-archive-perm-'));
t.teardown(() => rmSync(dir, { recursive: true, force: true }));
writeFileSync(
  join(dir, 'parley.yaml'),
  `store: { memory: true, archive: "${pg.urlFor('parley_gateway')}" }\npolicy: { file: policy.yaml }\n`,
);

async function cli(argv: string[]) {
  let out = '';
  let err = '';
  const io: CliIO = { stdout: (s) => (out += s), stderr: (s) => (err += s), cwd: dir, env: {} };
  const code = await archiveCommand(argv, io, (file) => loadConfig(resolve(dir, file ?? 'parley.yaml'), {}));
  return { code, out, err };
}

/** Run `text` as `role`; resolves to the error message, or 'ok'. */
async function as(role: string, text: string): Promise<string> {
  const sql = postgres(pg.urlFor(role), { max: 1, onnotice: () => {} });
  try {
    await sql.unsafe(text);
    return 'ok';
  } catch (err) {
    return (err as Error).message;
  } finally {
    await sql.end({ timeout: 5 });
  }
}

const gatewayLog = () => new PostgresAuditLog({ url: pg.urlFor('parley_gateway') });

t.test('before the owner sets it up, the gateway cannot create the schema: it says what to do', async (t) => {
  const log = gatewayLog();
  await t.rejects(
    log.open(),
    /cannot create or migrate archive schema "parley" .*permission denied.*Run `parley archive init` as the archive owner/s,
  );
  await log.close();
});

const now = new Date().toISOString();
const recs = chainEntries(null, [
  entry({ time: '2020-01-01T00:00:00.000Z' }),
  entry({ time: '2020-01-02T00:00:00.000Z', from: 'xmpp:kept@corp.example' }),
  entry({ time: '2020-01-03T00:00:00.000Z' }),
  entry({ time: now }),
  entry({ time: now }),
]);

t.test(
  'parley archive init: as the owner, grants the gateway role, sets the minimum retention',
  async (t) => {
    const r = await cli(['init', '--owner-url', pg.urlFor('parley_owner'), '--min-retention-days', '30']);
    t.equal(r.code, 0, r.err);
    t.match(r.out, /archive schema "parley" at version 1 \(partitions by month\), owned by parley_owner/);
    t.match(r.out, /granted parley_gateway: read, append and trim through the functions/);
    t.match(r.out, /minimum retention: 30 days/);
    const again = await cli(['init', '--owner-url', pg.urlFor('parley_owner')]);
    t.equal(again.code, 0, 'idempotent');
    t.match(again.out, /minimum retention: 30 days/, 'the minimum stays unless given');
    const [owner] = await admin.unsafe<{ o: string }[]>(
      `SELECT pg_get_userbyid(relowner) AS o FROM pg_class WHERE oid = 'parley.audit_record'::regclass`,
    );
    t.equal(owner?.o, 'parley_owner');
    const bad = await cli([
      'init',
      '--owner-url',
      pg.urlFor('parley_owner'),
      '--gateway-role',
      'nobody_here',
    ]);
    t.equal(bad.code, 1);
    t.match(bad.err, /role "nobody_here" does not exist/);
    t.match((await cli(['init', '--min-retention-days', 'soon'])).code, 2);
  },
);

t.test('the gateway appends and reads through its role', async (t) => {
  const log = gatewayLog();
  t.teardown(() => log.close());
  t.equal(await log.open(), true);
  t.same(await log.append(recs), { ok: true });
  t.equal(await log.length(), 5);
  t.same((await log.search({ user: 'kept@corp.example' }, null, 10)).records, [recs[1]]);
  t.match(await verifyLog(log), { ok: true, records: 5 });
});

t.test('the gateway role cannot change or delete records, or the marks and settings', async (t) => {
  const denied = /permission denied/;
  for (const statement of [
    'UPDATE parley.audit_record SET record = record',
    'DELETE FROM parley.audit_record',
    'TRUNCATE parley.audit_record',
    `TRUNCATE parley.audit_record_2020_01`,
    `INSERT INTO parley.audit_record (seq, category, kind, decision, from_network, to_network, terms, record)
       VALUES (99, 'decision', 'message', 'allow', 'x', 'y', '', '{}')`,
    'UPDATE parley.audit_state SET head_seq = 1',
    `UPDATE parley.audit_setting SET value = '0' WHERE name = 'min_retention_days'`,
    `INSERT INTO parley.audit_hold (person, reason) VALUES ('x@y', 'r')`,
    'DELETE FROM parley.audit_hold',
  ]) {
    t.match(await as('parley_gateway', statement), denied, statement.split('\n')[0] as string);
  }
  t.match(await as('parley_gateway', 'DROP TABLE parley.audit_record_2020_01'), /must be owner/);
  t.match(
    await as('stranger', `SELECT parley.parley_audit_trim(100)`),
    /permission denied for (schema parley|function parley_audit_trim)/,
    'a role that was not granted cannot even call the functions',
  );
});

t.test('UPDATE is refused by a trigger for every role, the owner and a superuser included', async (t) => {
  for (const role of ['parley_owner', 'parley']) {
    t.match(
      await as(role, `UPDATE parley.audit_record SET record = '{}' WHERE seq = 1`),
      /audit records cannot be changed \(parley\.audit_record_2020_01, seq 1\)/,
      role,
    );
  }
  const [row] = await admin.unsafe<{ record: string }[]>(
    'SELECT record FROM parley.audit_record WHERE seq = 1',
  );
  t.equal(row?.record, JSON.stringify(recs[0]), 'the record is unchanged');
});

t.test('trim through the function: the minimum retention and the database’s holds hold', async (t) => {
  const log = gatewayLog();
  t.teardown(() => log.close());
  await log.open();
  await t.rejects(log.trim(5), /record 4 is younger than the minimum retention of 30 days/);
  t.equal(await log.length(), 5, 'nothing deleted');
  t.match(
    await as(
      'parley_owner',
      `INSERT INTO parley.audit_hold (person, reason) VALUES ('kept@corp.example', 'case 7')`,
    ),
    'ok',
  );
  t.equal(await log.trim(4), 2, 'the old records go, but not the one the hold covers');
  t.same(
    (await log.range(1, 10)).map((r) => r.seq),
    [2, 4, 5],
  );
  t.same(await log.anchor(), { seq: 3, hash: recs[2]?.hash });
  t.match(await verifyLog(log), { ok: true, records: 3 });
  t.match(
    await as('parley_gateway', `SELECT parley.parley_audit_trim(5)`),
    /younger than the minimum retention/,
    'called by hand, the function refuses the same',
  );
});

t.test('init as a NOLOGIN owner role through a login that is a member of it (SET ROLE)', async (t) => {
  await admin.unsafe(`CREATE ROLE archive_owner NOLOGIN;
    GRANT CREATE ON DATABASE parley TO archive_owner;
    CREATE ROLE dba LOGIN IN ROLE archive_owner`);
  const r = await initArchive({
    ownerUrl: pg.urlFor('dba'),
    ownerRole: 'archive_owner',
    schema: 'other',
    gatewayRole: 'parley_gateway',
  });
  t.match(r, { schema: 'other', owner: 'archive_owner', granted: 'parley_gateway' });
  const [owner] = await admin.unsafe<{ o: string }[]>(
    `SELECT pg_get_userbyid(relowner) AS o FROM pg_class WHERE oid = 'other.audit_record'::regclass`,
  );
  t.equal(owner?.o, 'archive_owner', 'the objects belong to the owner role, not to the login');
  const log = new PostgresAuditLog({ url: pg.urlFor('parley_gateway'), schema: 'other' });
  t.teardown(() => log.close());
  t.equal(await log.open(), true);
  t.same(await log.append(chainEntries(null, [entry()])), { ok: true }, 'the gateway appends');
});
