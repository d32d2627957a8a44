// The core delivery queue and leases on Redis (a private redis-server on a free port).
import t from 'tap';
import { RedisStore } from '../../../src/store/redis.js';
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
