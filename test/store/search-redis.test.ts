// The search contract against a real redis-server: the Redis log has no index, so every
// page is a scan of the stream, newest first.
import t from 'tap';
import { RedisStore } from '../../src/store/redis.js';
import { startRedis } from '../harness/redis.js';
import { CONTRACT_RECORDS, searchContract } from './search-contract.js';
import { GENERATED_FILTERS } from './search-records.js';

const redis = await startRedis();
t.teardown(() => redis.stop());

let n = 0;
const report = await searchContract(t, 'redis', async () => {
  n += 1;
  const store = new RedisStore({ url: redis.url, prefix: `search${n}:` });
  await store.ready();
  return { log: store.audit, cleanup: () => store.close() };
});

t.test('the contract ran in full against Redis', async (t) => {
  t.same(
    report.filters,
    GENERATED_FILTERS.map(([label]) => label),
    'every generated filter, in order',
  );
  t.ok(report.filters.includes('user: an escaped XMPP ghost'));
  t.ok(report.filters.includes('q: Cyrillic, any case'));
  t.equal(report.fixed.length, 48, 'every hand-written expectation');
  t.equal(report.records, CONTRACT_RECORDS);
  t.same(report.modes, ['scan'], 'Redis keeps the scan');
  t.same(report.failures, []);
  t.equal(n, 2, 'a fresh log for the hand-written records and one for the generated trail');
});
