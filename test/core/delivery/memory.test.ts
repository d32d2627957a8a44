// The core delivery queue and leases on the memory store.
import t from 'tap';
import { StoreQueue } from '../../../src/core/delivery/store-queue.js';
import { MemoryStore } from '../../../src/store/memory.js';
import { message } from '../../fixtures/memory-adapter.js';
import { leaseContract } from './lease-contract.js';
import { queueContract } from './queue-contract.js';

const make = async () => {
  const store = new MemoryStore({ sweepMs: 50 });
  return { store, cleanup: () => store.close() };
};
await queueContract(t, 'memory', make);
await leaseContract(t, 'memory', make);

t.test('memory: a queue is a list in the store under its key, emptied by takeAll', async (t) => {
  const store = new MemoryStore();
  t.teardown(() => store.close());
  const q = new StoreQueue({ store, key: 'xmpp:corp:outbox', maxLength: 10 });
  const a = message('xmpp:alice@corp.test', 'sip:bob@partner.test', 'first');
  const b = message('xmpp:alice@corp.test', 'sip:bob@partner.test', 'second');
  t.ok(await q.push(a));
  t.ok(await q.push(b));
  t.equal(await store.queueLength('xmpp:corp:outbox'), 2, 'both wait under the queue key');
  t.same(
    (await q.takeAll()).map((i) => i.event.id),
    [a.id, b.id],
    'taken in order',
  );
  t.equal(await store.queueLength('xmpp:corp:outbox'), 0, 'and gone from the store');
});
