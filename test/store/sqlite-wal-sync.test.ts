// WalSync: an answer goes out only after a sync of the WAL that began after its commit;
// commits made during a sync wait for the next one, which covers them all; a replaced file
// is opened again; a failed sync fails its answers.
import { mkdtempSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t, { type Test } from 'tap';
import { WalSync } from '../../src/store/sqlite/wal-sync.js';

function setup(t: Test) {
  const dir = mkdtempSync(join(tmpdir(), 'parley-walsync-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const wal = join(dir, 'parley.db-wal');
  writeFileSync(wal, 'frames');
  const released: string[][] = [];
  const failed: [string[], string][] = [];
  const sync = new WalSync<string>(
    wal,
    (a) => released.push(a),
    (a, err) => failed.push([a, err.message]),
  );
  t.teardown(() => sync.close());
  return { dir, wal, sync, released, failed };
}

t.test('answers wait for a sync; those committed meanwhile go with the next one', async (t) => {
  const { sync, released } = setup(t);
  sync.committed(['a', 'b']);
  t.same(released, [], 'nothing before the sync is done');
  sync.committed(['c']);
  sync.committed(['d']);
  await sync.settled();
  t.same(
    released,
    [
      ['a', 'b'],
      ['c', 'd'],
    ],
    'two syncs: the second covers both later commits',
  );
  sync.committed([]);
  await sync.settled();
  t.equal(released.length, 2, 'a commit with no answers needs no sync');
});

t.test('a WAL file replaced under the same name is opened again', async (t) => {
  const { dir, wal, sync, released, failed } = setup(t);
  sync.committed(['first']);
  await sync.settled();
  renameSync(wal, join(dir, 'old-wal'));
  writeFileSync(wal, 'new frames');
  sync.committed(['second']);
  await sync.settled();
  t.same(released, [['first'], ['second']]);
  t.same(failed, []);
});

t.test('a WAL that cannot be opened fails the answers', async (t) => {
  const { wal, sync, released, failed } = setup(t);
  rmSync(wal);
  sync.committed(['lost']);
  await sync.settled();
  t.same(released, []);
  t.equal(failed.length, 1);
  t.same(failed[0]?.[0], ['lost']);
  t.match(failed[0]?.[1], /ENOENT/);
});
