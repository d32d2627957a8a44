// The core delivery queue and leases on Redis (a private redis-server on a free port).
import t from 'tap';
import { StoreQueue } from '../../../src/core/delivery/store-queue.js';
import { RedisStore } from '../../../src/store/redis.js';
import { message } from '../../fixtures/memory-adapter.js';
import { startRedis } from '../../harness/redis.js';
import { leaseContract } from './lease-contract.js';
import { queueContract } from './queue-contract.js';

const redis = await startRedis();
t.teardown(() => redis.stop());

let n = 0;
const make = async () => {
  n += 1;
  const store = new RedisStore({ url: redis.url, prefix: `d${n}:` });
  await store.ready();
  return { store, cleanup: () => store.close() };
};
await queueContract(t, 'redis', make);
await leaseContract(t, 'redis', make);

t.test('redis: two replicas share one queue: what one pushes the other takes, in order', async (t) => {
  // Both stores under the same prefix, as two replicas of one gateway are.
  const shared = new RedisStore({ url: redis.url, prefix: 'shared:' });
  const other = new RedisStore({ url: redis.url, prefix: 'shared:' });
  await shared.ready();
  await other.ready();
  t.teardown(async () => {
    await shared.close();
    await other.close();
  });
  const pusher = new StoreQueue({ store: shared, key: 'matrix:hs:outq', maxLength: 10 });
  const taker = new StoreQueue({ store: other, key: 'matrix:hs:outq', maxLength: 10 });
  const a = message('xmpp:alice@corp.test', 'matrix:u/bob:hs.test', 'first');
  const b = message('xmpp:alice@corp.test', 'matrix:u/bob:hs.test', 'second');
  t.ok(await pusher.push(a));
  t.ok(await pusher.push(b));
  t.equal(await other.queueLength('matrix:hs:outq'), 2, 'the other replica sees both waiting');
  t.same(
    (await taker.takeAll()).map((i) => i.event.id),
    [a.id, b.id],
    'and takes them in order',
  );
  t.equal(await shared.queueLength('matrix:hs:outq'), 0, 'gone for both');
});
