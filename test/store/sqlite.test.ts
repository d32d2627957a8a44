// The SQLite store: the store contract, and what only a file gives: everything survives a
// close and a reopen (the trail verifying with the same head), WAL mode, the schema version
// for later migrations, errors that name the file and what to do, restore, trim of the
// index, two stores on one file, and the reader other threads open for verify.
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import t from 'tap';
import { chainEntries } from '../../src/core/audit/chain.js';
import { verifyLog } from '../../src/core/audit/verify.js';
import type { AuditReader } from '../../src/core/store.js';
import { SqliteStoreError } from '../../src/store/sqlite/database.js';
import { SCHEMA_VERSION } from '../../src/store/sqlite/schema.js';
import { SqliteStore } from '../../src/store/sqlite/store.js';
import { entries } from '../core/audit/fixtures.js';
import { storeContract } from './contract.js';

const dirs: string[] = [];
t.teardown(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});
function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'parley-sqlite-'));
  dirs.push(dir);
  return dir;
}
const tempPath = (): string => join(tempDir(), 'parley.db');

await storeContract(t, 'sqlite', async () => {
  const store = new SqliteStore({ path: tempPath() });
  await store.ready();
  return { store, cleanup: () => store.close() };
});

t.test('state and the trail survive a close and a reopen', async (t) => {
  const path = tempPath();
  const a = new SqliteStore({ path });
  const recs = chainEntries(null, entries(40));
  t.same(await a.audit.append(recs.slice(0, 25)), { ok: true });
  t.same(await a.audit.append(recs.slice(25)), { ok: true });
  await a.set('plain', 'v');
  await a.set('ttl', 'gone soon', 50);
  await a.set('ttl-long', 'stays', 60_000);
  t.equal(await a.incrWindow('rate', 60_000), 1);
  t.equal(await a.incrWindow('rate', 60_000), 2);
  await a.hset('room', 'x', '1');
  await a.hset('room', 'y', '2');
  await a.hdel('room', 'x');
  t.equal(await a.enqueue('out', 'first', 10), true);
  t.equal(await a.enqueue('out', 'second', 10), true);
  t.equal(await a.acquireLease('link', 'me', 60_000), true);
  const head = await a.audit.head();
  // Closed right after the writes: what is written behind is written before the file closes.
  await a.close();

  await new Promise((r) => setTimeout(r, 80));
  const b = new SqliteStore({ path });
  t.teardown(() => b.close());
  t.same(await b.audit.head(), head, 'same head');
  t.equal(await b.audit.length(), 40);
  t.same(await b.audit.range(1, 100), recs, 'every record as written');
  t.same(await verifyLog(b.audit), { ok: true, records: 40, head });
  t.equal(await b.get('plain'), 'v');
  t.equal(await b.get('ttl'), null, 'an expired key stays expired');
  t.equal(await b.get('ttl-long'), 'stays');
  t.equal(await b.incrWindow('rate', 60_000), 3, 'the counter went on');
  t.same(await b.hgetall('room'), { y: '2' });
  t.same(await b.peek('out', 10), ['first', 'second'], 'queued items, in order');
  t.equal(await b.leaseOwner('link'), 'me');
  t.equal(await b.acquireLease('link', 'other', 1000), false, 'the lease still holds');

  const more = chainEntries(head, entries(3));
  t.same(await b.audit.append(more), { ok: true }, 'the chain continues after the reopen');
  t.equal((await verifyLog(b.audit)).ok, true);
});

t.test('the file is in WAL mode, has 16 KiB pages and records its schema version', async (t) => {
  const path = tempPath();
  const s = new SqliteStore({ path });
  await s.audit.append(chainEntries(null, entries(2)));
  const db = new Database(path, { readonly: true });
  t.teardown(() => db.close());
  t.equal(db.pragma('journal_mode', { simple: true }), 'wal');
  t.equal(db.pragma('page_size', { simple: true }), 16384, 'a new file gets 16 KiB pages');
  t.equal(db.prepare('SELECT version FROM schema_version').pluck().get(), SCHEMA_VERSION);
  t.equal(SCHEMA_VERSION >= 1, true);
  await s.close();
});

t.test('a file written by a newer release is refused, naming the file and what to do', async (t) => {
  const path = tempPath();
  await new SqliteStore({ path }).close();
  const db = new Database(path);
  db.prepare('UPDATE schema_version SET version = ?').run(SCHEMA_VERSION + 1);
  db.close();
  t.throws(() => new SqliteStore({ path }), {
    name: 'SqliteStoreError',
    message: new RegExp(
      `store\\.sqlite: ${path}: it was written by a newer Parley \\(schema ${SCHEMA_VERSION + 1}`,
    ),
  });
});

t.test('a file that is not a database: a clear error, the file left alone', async (t) => {
  const path = tempPath();
  writeFileSync(
    path,
    'this is not a database, just some text that is long enough to have a header\n'.repeat(20),
  );
  const err = t.throws(() => new SqliteStore({ path })) as Error;
  t.ok(err instanceof SqliteStoreError);
  t.match(err.message, path);
  t.match(err.message, /is not a SQLite database/);
  t.match(err.message, /move it away .* or point store\.sqlite at the right file/);
  t.notMatch(err.message, /\n\s+at /, 'no stack trace in the message');
});

t.test('a SQLite file of something else is not taken over', async (t) => {
  const path = tempPath();
  const db = new Database(path);
  db.exec('CREATE TABLE customers (id INTEGER PRIMARY KEY)');
  db.close();
  t.throws(() => new SqliteStore({ path }), { message: /holds tables of something else \("customers"\)/ });
});

t.test('a path that cannot be created: the error names it and what to do', async (t) => {
  const dir = tempDir();
  const blocker = join(dir, 'not-a-folder');
  writeFileSync(blocker, 'x');
  const path = join(blocker, 'parley.db');
  const err = t.throws(() => new SqliteStore({ path })) as Error;
  t.ok(err instanceof SqliteStoreError);
  t.match(err.message, `store.sqlite: ${path}`);
  t.match(err.message, /cannot be opened .*check that its folder exists, is a folder and is writable/);
});

t.test('the folder of the file is created', async (t) => {
  const path = join(tempDir(), 'deep', 'er', 'parley.db');
  const s = new SqliteStore({ path });
  await s.set('k', 'v');
  await s.close();
  const again = new SqliteStore({ path });
  t.equal(await again.get('k'), 'v');
  await again.close();
});

t.test('restore: into an empty log under a trimmed source’s anchor, then the chain goes on', async (t) => {
  const source = new SqliteStore({ path: tempPath() });
  const recs = chainEntries(null, entries(12));
  await source.audit.append(recs);
  await source.audit.trim(8, new Set([3]));
  const anchor = await source.audit.anchor();
  t.same(anchor, { seq: 7, hash: recs[6]?.hash });
  const held = (await source.audit.range(1, 100)).filter((r) => r.seq <= 7);
  t.same(
    held.map((r) => r.seq),
    [3],
  );

  const target = new SqliteStore({ path: tempPath() });
  t.teardown(async () => {
    await source.close();
    await target.close();
  });
  await t.rejects(
    target.audit.restore({ seq: 0, hash: 'x' }, []),
    /audit restore rejected: anchor seq 0/,
    'a bad anchor is refused',
  );
  await target.audit.restore(anchor as { seq: number; hash: string }, held);
  t.same(await target.audit.head(), anchor, 'the head is the anchor');
  t.same(await target.audit.anchor(), anchor);
  t.equal(await target.audit.length(), 1);
  const rest = (await source.audit.range(8, 100)).map((r) => ({ ...r }));
  t.same(await target.audit.append(rest), { ok: true }, 'the source’s records above the anchor follow');
  t.same(await target.audit.head(), await source.audit.head());
  t.same(
    await verifyLog(target.audit),
    await verifyLog(source.audit),
    'the copy verifies as the source does',
  );
  await t.rejects(target.audit.restore(anchor as { seq: number; hash: string }, []), /the log is not empty/);
});

t.test('trim removes the index of what it deletes and keeps what holds keep', async (t) => {
  const path = tempPath();
  const s = new SqliteStore({ path });
  t.teardown(() => s.close());
  // Two appends of 20: chunks [1,17) [17,21) [21,37) [37,41).
  const recs = chainEntries(null, entries(40));
  await s.audit.append(recs.slice(0, 20));
  await s.audit.append(recs.slice(20));
  const db = new Database(path, { readonly: true });
  t.teardown(() => db.close());
  const chunks = () => db.prepare('SELECT start FROM audit_chunks ORDER BY start').pluck().all();
  const docs = () => db.prepare('SELECT count(*) FROM audit_terms').pluck().get();
  t.same(chunks(), [1, 17, 21, 37]);
  t.equal(docs(), 4);
  t.equal(await s.audit.trim(30, new Set([5])), 28, 'records 1-29 but the held 5');
  t.same(chunks(), [1, 21, 37], 'the chunk of a held record and the one the cut goes through stay');
  t.equal(docs(), 3, 'the terms of the chunk that went are gone');
  const all = await s.audit.search({}, null, 100);
  t.same(
    all.records.map((r) => r.seq),
    [40, 39, 38, 37, 36, 35, 34, 33, 32, 31, 30, 5],
  );
  const byEvent = await s.audit.search({ eventId: recs[9]?.eventId as string }, null, 10);
  t.same(byEvent.records, [], 'a trimmed record is not found through the index');
  const held = await s.audit.search({ eventId: recs[4]?.eventId as string }, null, 10);
  t.same(
    held.records.map((r) => r.seq),
    [5],
    'the held record still is',
  );
  t.equal(await s.audit.trim(1000), 12);
  t.same(chunks(), [], 'a full trim leaves no chunk');
  t.equal(docs(), 0);
  t.same(await verifyLog(s.audit), { ok: true, records: 0, head: { seq: 40, hash: recs[39]?.hash } });
});

t.test('two stores on one file: one chain, a racing append loses with the head', async (t) => {
  const path = tempPath();
  const a = new SqliteStore({ path });
  const b = new SqliteStore({ path });
  t.teardown(async () => {
    await a.close();
    await b.close();
  });
  const first = chainEntries(null, entries(3));
  t.same(await a.audit.append(first), { ok: true });
  t.same(await b.audit.head(), { seq: 3, hash: first[2]?.hash }, 'the other store sees it');
  const x = chainEntries(await a.audit.head(), entries(2));
  const y = chainEntries(await b.audit.head(), entries(4));
  const [rx, ry] = await Promise.all([a.audit.append(x), b.audit.append(y)]);
  t.equal([rx, ry].filter((r) => r.ok).length, 1, 'exactly one wins');
  t.equal((await verifyLog(a.audit)).ok, true);
});

t.test('the reader other threads open (AuditLog.source) reads what the log holds', async (t) => {
  const path = tempPath();
  const s = new SqliteStore({ path });
  t.teardown(() => s.close());
  const recs = chainEntries(null, entries(30));
  await s.audit.append(recs);
  const source = s.audit.source;
  t.same(source.options, { path });
  t.match(source.module, /^file:.*\/reader\.(ts|js)$/);
  const mod = (await import(source.module)) as {
    openAuditReader(o: Record<string, unknown>): Promise<AuditReader>;
  };
  const reader = await mod.openAuditReader(source.options);
  t.same(await reader.range(1, 10), recs.slice(0, 10));
  t.same(await reader.range(25, 100), recs.slice(24));
  t.same(await reader.range(31, 10), []);
  t.same(await reader.range(1, 0), []);
  await reader.close();
  await t.rejects(
    mod.openAuditReader({ path: join(tempDir(), 'missing.db') }),
    /store\.sqlite: .*missing\.db cannot be opened/,
  );
  await t.rejects(mod.openAuditReader({}), /options\.path must be the database file/);
});

t.test('a damaged record comes back as one that fails verification at its seq', async (t) => {
  const path = tempPath();
  const s = new SqliteStore({ path });
  t.teardown(() => s.close());
  await s.audit.append(chainEntries(null, entries(5)));
  const db = new Database(path);
  db.prepare('UPDATE audit_records SET json = ? WHERE seq = 3').run('{not json');
  db.close();
  const v = await verifyLog(s.audit);
  t.match(v, { ok: false, firstBad: 3 });
});

t.test('after close every operation rejects and ping is false', async (t) => {
  const s = new SqliteStore({ path: tempPath() });
  await s.audit.append(chainEntries(null, entries(1)));
  await s.close();
  t.equal(await s.ping(), false);
  await t.rejects(s.audit.head());
  await t.rejects(s.audit.append(chainEntries(null, entries(1))));
  await t.rejects(s.enqueue('q', 'x', 1));
  await t.rejects(s.set('k', 'v'));
  await s.close();
});

t.test('a folder as the path', async (t) => {
  const dir = tempDir();
  mkdirSync(join(dir, 'a-folder'));
  t.throws(() => new SqliteStore({ path: join(dir, 'a-folder') }), {
    name: 'SqliteStoreError',
    message: /a-folder/,
  });
});

t.test('a request that fails in a transaction with others fails alone', async (t) => {
  const path = tempPath();
  const s = new SqliteStore({ path });
  t.teardown(() => s.close());
  const recs = chainEntries(null, entries(5));
  await s.audit.append(recs);
  // Roll the head back by hand: records 4 and 5 are there, the head says 3.
  const db = new Database(path);
  db.prepare('UPDATE audit_marks SET head_seq = 3, head_hash = ?').run(recs[2]?.hash);
  db.close();
  const again = chainEntries({ seq: 3, hash: recs[2]?.hash as string }, entries(2));
  // Sent in the same turn of the event loop: the writer takes them in one transaction.
  const [append, enqueued] = await Promise.allSettled([s.audit.append(again), s.enqueue('q', 'kept', 5)]);
  t.match(
    append,
    { status: 'rejected', reason: { message: /UNIQUE constraint failed/ } },
    'the append that collides fails',
  );
  t.same(enqueued, { status: 'fulfilled', value: true }, 'the queue item beside it is written');
  t.same(await s.peek('q', 5), ['kept']);
  t.same(await s.audit.head(), { seq: 3, hash: recs[2]?.hash }, 'nothing of the failed append stays');
});

t.test('records come back exactly, in any script, stored as text', async (t) => {
  const path = tempPath();
  const s = new SqliteStore({ path });
  t.teardown(() => s.close());
  const bodies = [
    'Grüße aus Köln',
    '東京で会いましょう',
    'emoji 😀👍🏽',
    'line\nbreak\u2028sep "quoted" \\ back',
    'ÿ'.repeat(3000),
  ];
  const recs = chainEntries(
    null,
    bodies.map(
      (body, i) =>
        ({
          ...entries(1)[0],
          eventId: `ü-${i}`,
          from: 'xmpp:jürgen@corp.example',
          content: { mode: 'full' as const, body },
        }) as never,
    ),
  );
  t.same(await s.audit.append(recs), { ok: true });
  t.same(await s.audit.range(1, 10), recs);
  t.equal((await verifyLog(s.audit)).ok, true);
  const db = new Database(path, { readonly: true });
  t.teardown(() => db.close());
  t.same(db.prepare('SELECT DISTINCT typeof(json) FROM audit_records').pluck().all(), ['text']);
  t.equal(
    db.prepare("SELECT json_extract(json, '$.content.body') FROM audit_records WHERE seq = 2").pluck().get(),
    '東京で会いましょう',
    'SQLite reads the text as JSON',
  );
});
