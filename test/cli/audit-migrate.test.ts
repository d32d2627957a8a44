// `parley audit migrate`: a trimmed trail with legal holds copied memory -> Redis -> JSONL
// -> Redis -> memory through a real redis-server; each copy verifies with the same head,
// keeps the anchor and the held records; a destination that is not empty is refused.
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { auditCommand } from '../../src/cli/audit.js';
import type { CliIO } from '../../src/cli/io.js';
import { parseStoreSpec } from '../../src/cli/store-spec.js';
import { chainEntries, recordJson } from '../../src/core/audit/chain.js';
import { MigrateError, migrateLog } from '../../src/core/audit/migrate.js';
import type { AuditRecord } from '../../src/core/audit/record.js';
import { verifyLog } from '../../src/core/audit/verify.js';
import type { AuditLog, Store } from '../../src/core/store.js';
import { JsonlAuditLog } from '../../src/store/jsonl.js';
import { MemoryStore } from '../../src/store/memory.js';
import { RedisStore } from '../../src/store/redis.js';
import { entries } from '../core/audit/fixtures.js';
import { tempDir } from '../fixtures/file-log.js';
import { startRedis } from '../harness/redis.js';

const redis = await startRedis();
t.teardown(() => redis.stop());
const dir = tempDir(t, 'parley-migrate-');

function io() {
  const out: string[] = [];
  const err: string[] = [];
  const cli: CliIO = { stdout: (s) => out.push(s), stderr: (s) => err.push(s), cwd: dir, env: {} };
  return { cli, out: () => out.join(''), err: () => err.join('') };
}

const noStore = async (): Promise<Store> => {
  throw new Error('migrate opens its own stores');
};
const migrate = async (...args: string[]) => {
  const x = io();
  const code = await auditCommand(['migrate', ...args], x.cli, noStore);
  return { code, out: x.out(), err: x.err() };
};

const all = (log: AuditLog) => log.range(1, 1_000_000);

/** 2,500 records trimmed before 1,001 with records 7, 500 and 998 (or `holds`) held. */
async function trimmedMemory(holds = [7, 500, 998]) {
  const store = new MemoryStore();
  const recs = chainEntries(null, entries(2500));
  await store.audit.append(recs);
  await store.audit.trim(1001, new Set(holds));
  return { store, recs };
}

const redisStore = async (db: number) => {
  const s = new RedisStore({ url: `${redis.url}/${db}` });
  await s.ready();
  return s;
};

t.test('memory -> redis -> jsonl -> redis -> memory: the same trail each time', async (t) => {
  const { store: source, recs } = await trimmedMemory();
  t.teardown(() => source.close());
  const head = { seq: 2500, hash: (recs[2499] as AuditRecord).hash };
  const anchor = { seq: 1000, hash: (recs[999] as AuditRecord).hash };
  t.same(await verifyLog(source.audit), { ok: true, records: 1503, head });

  // memory -> redis db 0 (a memory trail goes through the library: it is not a URL).
  const r0 = await redisStore(0);
  t.teardown(() => r0.close());
  let largest = 0;
  const counting = Object.create(r0.audit, {
    append: {
      value: (records: readonly AuditRecord[]) => {
        largest = Math.max(largest, records.length);
        return r0.audit.append(records);
      },
    },
  }) as AuditLog;
  t.same(await migrateLog(source.audit, counting, { pageSize: 200 }), {
    head,
    anchor,
    held: 3,
    copied: 1500,
  });
  t.ok(largest <= 200, `pages of at most 200 records (largest ${largest})`);
  t.same(await r0.audit.anchor(), anchor);
  t.same(await all(r0.audit), await all(source.audit), 'the same records');

  // redis -> jsonl (the CLI).
  const file = join(dir, 'trail.jsonl');
  const toFile = await migrate('--from', `${redis.url}/0`, '--to', `jsonl:${file}`, '--page', '333');
  t.equal(toFile.code, 0, toFile.err);
  t.match(toFile.out, `source ${redis.url}/0: head 2500 ${head.hash}, trim anchor 1000`);
  t.match(toFile.out, `copied 1500 records and 3 held below the anchor to jsonl:${file}`);
  t.match(toFile.out, `source head: 2500 ${head.hash}\ncopy head:   2500 ${head.hash}\n`);
  t.match(toFile.out, /the copy verifies \(1503 records\) with the source's head/);
  const lines = readFileSync(file, 'utf8').trim().split('\n');
  t.equal(lines.length, 1503);
  t.same(JSON.parse(lines[0] as string), recs[6], 'the first line is held record 7');
  const fileLog = JsonlAuditLog.open(file);
  t.same(
    [await fileLog.head(), await fileLog.anchor()],
    [head, anchor],
    'the file gives the same head and anchor',
  );
  fileLog.close();

  // jsonl -> redis db 1 (the CLI).
  const back = await migrate('--from', `jsonl:${file}`, '--to', `${redis.url}/1`);
  t.equal(back.code, 0, back.err);
  t.match(back.out, `copy head:   2500 ${head.hash}`);
  const r1 = await redisStore(1);
  t.teardown(() => r1.close());
  t.same(await r1.audit.anchor(), anchor);
  t.same(await all(r1.audit), await all(source.audit));

  // redis db 1 -> memory, and the chain goes on there.
  const mem = new MemoryStore();
  t.teardown(() => mem.close());
  t.same(await migrateLog(r1.audit, mem.audit), { head, anchor, held: 3, copied: 1500 });
  t.same(await verifyLog(mem.audit), { ok: true, records: 1503, head });
  t.same(await all(mem.audit), await all(source.audit));
  const more = chainEntries(await mem.audit.head(), entries(2));
  t.same(await mem.audit.append(more), { ok: true }, 'new records follow the copied head');
  t.equal((await verifyLog(mem.audit)).ok, true);
});

t.test('a Redis store under another key prefix (?prefix=)', async (t) => {
  const file = join(dir, 'prefixed.jsonl');
  const recs = chainEntries(null, entries(7));
  writeFileSync(file, `${recs.map(recordJson).join('\n')}\n`);
  const r = await migrate('--from', `jsonl:${file}`, '--to', `${redis.url}/10?prefix=acme:`);
  t.equal(r.code, 0, r.err);
  t.match(r.out, `to ${redis.url}/10?prefix=acme%3A`);
  const acme = new RedisStore({ url: `${redis.url}/10`, prefix: 'acme:' });
  await acme.ready();
  t.teardown(() => acme.close());
  t.same(await all(acme.audit), recs);
  const plain = await redisStore(10);
  t.teardown(() => plain.close());
  t.equal(await plain.audit.head(), null, 'not under the default prefix');
});

t.test('a destination that is not empty is refused (exit 2) and left as it was', async (t) => {
  const file = join(dir, 'small.jsonl');
  writeFileSync(file, `${chainEntries(null, entries(5)).map(recordJson).join('\n')}\n`);
  const first = await migrate('--from', `jsonl:${file}`, '--to', `${redis.url}/2`);
  t.equal(first.code, 0, first.err);
  const r2 = await redisStore(2);
  t.teardown(() => r2.close());
  const before = await all(r2.audit);
  const again = await migrate('--from', `jsonl:${file}`, '--to', `${redis.url}/2`);
  t.equal(again.code, 2);
  t.match(again.err, `--to ${redis.url}/2: it is not empty (5 records, head 5); migrate into an empty store`);
  t.notMatch(again.out, /copied/);
  t.same(await all(r2.audit), before, 'nothing written');

  const toFile = await migrate('--from', `${redis.url}/2`, '--to', `jsonl:${file}`);
  t.equal(toFile.code, 2, 'a JSONL file with records is not empty either');
  t.match(toFile.err, /not empty \(5 records, head 5\)/);
  t.equal(readFileSync(file, 'utf8').trim().split('\n').length, 5);

  const mem = new MemoryStore();
  t.teardown(() => mem.close());
  await mem.audit.append(chainEntries(null, entries(1)));
  await t.rejects(migrateLog(r2.audit, mem.audit), MigrateError);
});

t.test('bad input: clear errors, exit 2', async (t) => {
  const none = await migrate('--from', `${redis.url}/0`);
  t.equal(none.code, 2);
  t.match(none.err, /both --from and --to are needed/);
  const bad = await migrate('--from', 'ftp://x', '--to', `jsonl:${join(dir, 'x.jsonl')}`);
  t.equal(bad.code, 2);
  t.match(bad.err, /--from "ftp:\/\/x" names no store; give one of:\n {2}redis:\/\/HOST:PORT\/DB/);
  const missing = await migrate('--from', `jsonl:${join(dir, 'missing.jsonl')}`, '--to', `${redis.url}/3`);
  t.equal(missing.code, 2);
  t.match(missing.err, /--from: .*missing\.jsonl: no such file/);
  const same = await migrate('--from', `${redis.url}/3`, '--to', `${redis.url}/3`);
  t.equal(same.code, 2);
  t.match(same.err, /name the same store/);
  const page = await migrate('--from', `${redis.url}/3`, '--to', `${redis.url}/4`, '--page', '0');
  t.equal(page.code, 2);
  t.match(page.err, /--page must be/);
  const help = await migrate('--help');
  t.equal(help.code, 0);
  t.match(help.out, /^Usage: parley audit migrate --from STORE --to STORE/);
  t.same(parseStoreSpec('redis://r:6379/2?prefix=acme:', '--to', '/srv'), {
    kind: 'redis',
    url: 'redis://r:6379/2',
    prefix: 'acme:',
  });
  t.throws(() => parseStoreSpec('redis://r:6379/2?db=3', '--to', '/srv'), /only query .* \?prefix=P/);
  t.same(parseStoreSpec('archive.db', '--to', '/srv'), { kind: 'sqlite', path: '/srv/archive.db' });
  t.same(parseStoreSpec('sqlite:data/p.db', '--to', '/srv'), { kind: 'sqlite', path: '/srv/data/p.db' });
  t.same(parseStoreSpec('postgresql://u@db/p', '--to', '/srv'), {
    kind: 'postgres',
    url: 'postgresql://u@db/p',
  });
});

t.test('a tampered source: the copy does not verify (exit 1) and says where', async (t) => {
  const recs = chainEntries(null, entries(50));
  const edited = recs.map((r) => (r.seq === 20 ? { ...r, decision: 'deny' as const } : r));
  const file = join(dir, 'edited.jsonl');
  writeFileSync(file, `${edited.map((r) => JSON.stringify(r)).join('\n')}\n`);
  const r = await migrate('--from', `jsonl:${file}`, '--to', `${redis.url}/5`);
  t.equal(r.code, 1);
  t.match(r.out, /the copy does not verify: broken at record 20: hash mismatch/);

  // A JSONL file keeps no anchor apart from its records: a gap reads as a trim (31..50
  // under an anchor at 30, 1..29 held), and the output says so.
  const gap = join(dir, 'gap.jsonl');
  writeFileSync(
    gap,
    `${recs
      .filter((r) => r.seq !== 30)
      .map(recordJson)
      .join('\n')}\n`,
  );
  const g = await migrate('--from', `jsonl:${gap}`, '--to', `${redis.url}/6`);
  t.equal(g.code, 0, g.err);
  t.match(g.out, /head 50 [0-9a-f]{64}, trim anchor 30\n/);
  t.match(g.out, /copied 20 records and 29 held below the anchor/);

  const forged = join(dir, 'forged.jsonl');
  const f = recs.map((r) => (r.seq === 40 ? { ...r, prev: 'a'.repeat(64) } : r));
  writeFileSync(forged, `${f.map((r) => JSON.stringify(r)).join('\n')}\n`);
  const x = await migrate('--from', `jsonl:${forged}`, '--to', `${redis.url}/7`);
  t.equal(x.code, 1);
  t.match(x.err, /--from jsonl:.*forged\.jsonl: its chain is broken: .*record 40 prev/);
});

t.test('the anchor record itself held: in a JSONL file the chain starts at it', async (t) => {
  const { store, recs } = await trimmedMemory([7, 1000]);
  t.teardown(() => store.close());
  const r9 = await redisStore(9);
  t.teardown(() => r9.close());
  t.match(await migrateLog(store.audit, r9.audit), { held: 2, copied: 1500 });
  const file = join(dir, 'anchor-held.jsonl');
  const r = await migrate('--from', `${redis.url}/9`, '--to', `jsonl:${file}`);
  t.equal(r.code, 0, r.err);
  // 1000 and 1001 are consecutive: read back, the run starts at 1000, under an anchor at 999.
  const log = JsonlAuditLog.open(file);
  t.teardown(() => log.close());
  t.same(await log.anchor(), { seq: 999, hash: (recs[999] as AuditRecord).prev });
  t.same(await all(log), await all(store.audit), 'the same records');
  t.same(await verifyLog(log), await verifyLog(store.audit), 'the same verify result and head');
});

t.test('a trail trimmed to its anchor: into a store yes, into a JSONL file no', async (t) => {
  const { store } = await trimmedMemory();
  t.teardown(() => store.close());
  await store.audit.trim(5000, new Set([7]));
  const r8 = await redisStore(8);
  t.teardown(() => r8.close());
  const head = await store.audit.head();
  t.same(await migrateLog(store.audit, r8.audit), { head, anchor: head, held: 1, copied: 0 });
  t.same(await verifyLog(r8.audit), { ok: true, records: 1, head });
  const r = await migrate('--from', `${redis.url}/8`, '--to', `jsonl:${join(dir, 'anchor-only.jsonl')}`);
  t.equal(r.code, 2);
  t.match(r.err, /a JSONL file keeps no anchor apart from the records/);
});
