// The core delivery queue and leases on the SQLite store (a file in a temporary folder).
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { StoreQueue } from '../../src/core/delivery/store-queue.js';
import { SqliteStore } from '../../src/store/sqlite/store.js';
import { leaseContract } from '../core/delivery/lease-contract.js';
import { queueContract } from '../core/delivery/queue-contract.js';
import { message } from '../fixtures/memory-adapter.js';

const make = async () => {
  const dir = mkdtempSync(join(tmpdir(), 'parley-delivery-'));
  const store = new SqliteStore({ path: join(dir, 'parley.db') });
  // The writer thread up first (as openStore does): the contract's timings start after it.
  await store.ready();
  return {
    store,
    cleanup: async () => {
      await store.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
};
await queueContract(t, 'sqlite', make);
await leaseContract(t, 'sqlite', make);

t.test('sqlite: a queue lives in the file under its key and survives a reopen, in order', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'parley-delivery-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const path = join(dir, 'parley.db');
  const a = message('xmpp:alice@corp.test', 'sip:bob@partner.test', 'first');
  const b = message('xmpp:alice@corp.test', 'sip:bob@partner.test', 'second');
  const first = new SqliteStore({ path });
  await first.ready();
  const q1 = new StoreQueue({ store: first, key: 'xmpp:corp:outbox', maxLength: 10 });
  t.ok(await q1.push(a));
  t.ok(await q1.push(b));
  t.equal(await first.queueLength('xmpp:corp:outbox'), 2, 'both wait under the queue key');
  await first.close();
  const second = new SqliteStore({ path });
  await second.ready();
  t.teardown(() => second.close());
  const q2 = new StoreQueue({ store: second, key: 'xmpp:corp:outbox', maxLength: 10 });
  t.same(
    (await q2.takeAll()).map((i) => i.event.id),
    [a.id, b.id],
    'still there after the reopen, in order',
  );
});
