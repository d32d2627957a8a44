// openStore: the SQLite file by default (data/parley.db under the working directory), the
// path and sync mode a config gives, memory or Redis when asked for, one of them only, and
// errors that name the store setting and what to do.
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { createLogger } from '../../src/log.js';
import { openStore, StoreConfigError, sqliteOptions } from '../../src/store/open.js';

const dirs: string[] = [];
t.teardown(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});
function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'parley-open-'));
  dirs.push(dir);
  return dir;
}

function capture() {
  const lines: Record<string, unknown>[] = [];
  const logger = createLogger({
    level: 'info',
    destination: {
      write: (s: string) => {
        for (const l of s.split('\n').filter(Boolean)) lines.push(JSON.parse(l) as Record<string, unknown>);
        return true;
      },
    } as unknown as NodeJS.WritableStream,
  });
  return { logger, lines };
}

t.test(
  'no store section: SQLite at data/parley.db under the working directory, folder created',
  async (t) => {
    const cwd = tempDir();
    const { logger, lines } = capture();
    const store = await openStore(undefined, logger, { cwd });
    t.teardown(() => store.close());
    t.equal(store.kind, 'sqlite');
    t.equal(store.audit.kind, 'sqlite');
    const path = join(cwd, 'data', 'parley.db');
    t.ok(existsSync(path), 'the file and its folder exist');
    t.match(
      lines.find((l) => l.store === 'sqlite'),
      { path, synchronous: 'full' },
      'the absolute path is logged at start',
    );
    const empty = await openStore({}, logger, { cwd });
    t.equal(empty.kind, 'sqlite', 'an empty store section too');
    await empty.close();
  },
);

t.test('store.sqlite: a path (relative to the working directory) or {path, synchronous}', async (t) => {
  const cwd = tempDir();
  t.same(sqliteOptions({ sqlite: 'x/y.db' }, cwd), { path: join(cwd, 'x/y.db'), synchronous: 'full' });
  t.same(sqliteOptions({ sqlite: { path: '/abs/z.db', synchronous: 'normal' } }, cwd), {
    path: '/abs/z.db',
    synchronous: 'normal',
  });
  t.same(sqliteOptions(undefined, cwd), { path: join(cwd, 'data/parley.db'), synchronous: 'full' });
  const store = await openStore(
    { sqlite: { path: 'own.db', synchronous: 'normal' } },
    createLogger({ level: 'silent' }),
    {
      cwd,
    },
  );
  t.equal(store.kind, 'sqlite');
  t.ok(existsSync(join(cwd, 'own.db')));
  await store.close();
});

t.test('memory: true gives the memory store', async (t) => {
  const store = await openStore({ memory: true }, createLogger({ level: 'silent' }));
  t.equal(store.kind, 'memory');
  await store.close();
});

t.test('more than one of sqlite, redis and memory: refused, naming store and what to do', async (t) => {
  const logger = createLogger({ level: 'silent' });
  await t.rejects(openStore({ memory: true, sqlite: 'a.db' }, logger), {
    name: 'StoreConfigError',
    message: 'store: sqlite, memory are set together; keep only one of sqlite (the default), redis or memory',
  });
  await t.rejects(
    openStore({ memory: true, redis: 'redis://127.0.0.1:1', sqlite: 'a.db' }, logger),
    /store: sqlite, redis, memory are set together/,
  );
});

t.test('a file that cannot be the store: a StoreConfigError naming it and what to do', async (t) => {
  const cwd = tempDir();
  writeFileSync(join(cwd, 'junk.db'), 'not a database at all, certainly not one of ours\n'.repeat(30));
  const err = await openStore({ sqlite: 'junk.db' }, createLogger({ level: 'silent' }), { cwd }).catch(
    (e: unknown) => e,
  );
  t.ok(err instanceof StoreConfigError);
  t.match((err as Error).message, `store.sqlite: ${join(cwd, 'junk.db')} is not a SQLite database`);
});
