// The Store contract: every implementation (memory, Redis) passes this one suite.
import type { Test } from 'tap';
import type { Store } from '../../src/core/store.js';
import { auditLogChecks } from './audit-contract.js';

export interface StoreUnderTest {
  store: Store;
  cleanup(): Promise<void>;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export function storeContract(
  t: Test,
  name: string,
  makeStore: () => Promise<StoreUnderTest>,
): Promise<void> {
  return t.test(`${name} store contract`, async (t) => {
    const sub = (title: string, fn: (s: Store, t: Test) => Promise<void>) =>
      t.test(title, async (t) => {
        const { store, cleanup } = await makeStore();
        try {
          await fn(store, t);
        } finally {
          await cleanup();
        }
      });

    await sub('key/value with TTL expiry', async (s, t) => {
      t.equal(await s.ping(), true);
      t.equal(await s.get('a'), null);
      await s.set('a', '1');
      t.equal(await s.get('a'), '1');
      await s.set('a', '2');
      t.equal(await s.get('a'), '2');
      await s.del('a');
      t.equal(await s.get('a'), null);
      await s.del('never-set');
      await s.set('short', 'x', 60);
      await s.set('long', 'y', 10_000);
      t.equal(await s.get('short'), 'x');
      await sleep(150);
      t.equal(await s.get('short'), null, 'expired');
      t.equal(await s.get('long'), 'y');
    });

    await sub('setIfAbsent: exactly one of concurrent callers wins; TTL frees it', async (s, t) => {
      const results = await Promise.all(
        Array.from({ length: 20 }, (_, i) => s.setIfAbsent('dedupe', `v${i}`, 80)),
      );
      t.equal(results.filter(Boolean).length, 1, 'one winner');
      const winner = results.indexOf(true);
      t.equal(await s.get('dedupe'), `v${winner}`);
      t.equal(await s.setIfAbsent('dedupe', 'again'), false);
      await sleep(160);
      t.equal(await s.setIfAbsent('dedupe', 'after'), true, 'free again after expiry');
      t.equal(await s.get('dedupe'), 'after');
      t.equal(await s.setIfAbsent('forever', 'x'), true);
      t.equal(await s.setIfAbsent('forever', 'y'), false);
    });

    await sub('incrWindow counts within the window and restarts after it', async (s, t) => {
      t.equal(await s.incrWindow('rate', 120), 1);
      t.equal(await s.incrWindow('rate', 120), 2);
      const many = await Promise.all(Array.from({ length: 10 }, () => s.incrWindow('rate', 120)));
      t.same(
        many.sort((a, b) => a - b),
        [3, 4, 5, 6, 7, 8, 9, 10, 11, 12],
        'concurrent increments are atomic',
      );
      await sleep(200);
      t.equal(await s.incrWindow('rate', 120), 1, 'window reset');
      t.equal(await s.incrWindow('other', 120), 1, 'counters are per key');
    });

    await sub('hashes', async (s, t) => {
      t.same(await s.hgetall('h'), {});
      t.equal(await s.hget('h', 'f'), null);
      await s.hset('h', 'f', '1');
      await s.hset('h', 'g', '2');
      await s.hset('h', 'f', '3');
      t.equal(await s.hget('h', 'f'), '3');
      t.same(await s.hgetall('h'), { f: '3', g: '2' });
      await s.hdel('h', 'f');
      t.same(await s.hgetall('h'), { g: '2' });
      await s.hdel('h', 'g');
      await s.hdel('h', 'missing');
      t.same(await s.hgetall('h'), {});
    });

    await sub('bounded FIFO queues', async (s, t) => {
      t.equal(await s.queueLength('q'), 0);
      t.same(await s.dequeue('q', 5), []);
      for (let i = 0; i < 3; i++) t.equal(await s.enqueue('q', `m${i}`, 3), true);
      t.equal(await s.enqueue('q', 'overflow', 3), false, 'full: refused');
      t.equal(await s.queueLength('q'), 3, 'nothing written when full');
      t.same(await s.dequeue('q', 2), ['m0', 'm1'], 'FIFO');
      t.equal(await s.enqueue('q', 'm3', 3), true, 'room again');
      t.same(await s.dequeue('q', 10), ['m2', 'm3']);
      t.equal(await s.queueLength('q'), 0);
      const raced = await Promise.all(Array.from({ length: 10 }, (_, i) => s.enqueue('r', `x${i}`, 4)));
      t.equal(raced.filter(Boolean).length, 4, 'bound holds under concurrency');
      t.equal(await s.queueLength('r'), 4);
      t.equal(await s.queueLength('q'), 0, 'queues are independent');
    });

    await sub('peek then ack: items leave the queue only when acknowledged', async (s, t) => {
      t.same(await s.peek('q', 3), [], 'empty queue');
      t.equal(await s.ack('q', ['nothing']), 0, 'ack on an empty queue removes nothing');
      for (const m of ['a', 'b', 'c']) await s.enqueue('q', m, 10);
      t.same(await s.peek('q', 2), ['a', 'b'], 'head first');
      t.same(await s.peek('q', 0), []);
      t.same(await s.peek('q', 2), ['a', 'b'], 'peek leaves them in place');
      t.equal(await s.queueLength('q'), 3);
      t.equal(await s.ack('q', ['a']), 1);
      t.same(await s.peek('q', 5), ['b', 'c']);
      t.equal(await s.ack('q', ['b', 'x', 'c']), 1, 'stops at the first item that differs');
      t.equal(await s.ack('q', ['b']), 0, 'an item already acknowledged is not removed again');
      t.same(await s.peek('q', 5), ['c']);
      const twice = await Promise.all([s.ack('q', ['c']), s.ack('q', ['c'])]);
      t.same(twice.sort(), [0, 1], 'two consumers acknowledging the same item remove it once');
      t.equal(await s.queueLength('q'), 0);
      await s.enqueue('q', 'same', 10);
      await s.enqueue('q', 'same', 10);
      t.equal(await s.ack('q', ['same']), 1, 'equal payloads: one ack removes one');
      t.equal(await s.queueLength('q'), 1);
      t.equal(await s.enqueue('q', 'after', 2), true, 'acknowledged items free the bound');
      t.same(await s.dequeue('q', 5), ['same', 'after'], 'dequeue still works beside peek');
    });

    await sub(
      'leases: exclusive, renewable by the owner, expire, release only by the owner',
      async (s, t) => {
        t.equal(await s.leaseOwner('link'), null);
        const race = await Promise.all([
          s.acquireLease('link', 'a', 150),
          s.acquireLease('link', 'b', 150),
          s.acquireLease('link', 'c', 150),
        ]);
        t.equal(race.filter(Boolean).length, 1, 'one holder');
        const holder = ['a', 'b', 'c'][race.indexOf(true)] as string;
        const other = holder === 'a' ? 'b' : 'a';
        t.equal(await s.leaseOwner('link'), holder);
        t.equal(await s.acquireLease('link', other, 150), false, 'exclusive');
        await sleep(90);
        t.equal(await s.acquireLease('link', holder, 150), true, 'owner renews');
        await sleep(90);
        t.equal(await s.leaseOwner('link'), holder, 'renewal extended it');
        t.equal(await s.acquireLease('link', other, 150), false);
        await s.releaseLease('link', other);
        t.equal(await s.leaseOwner('link'), holder, 'release by a non-owner does nothing');
        await sleep(220);
        t.equal(await s.leaseOwner('link'), null, 'expired');
        t.equal(await s.acquireLease('link', other, 1000), true, 'taken over after expiry');
        t.equal(await s.leaseOwner('link'), other);
        await s.releaseLease('link', holder);
        t.equal(await s.leaseOwner('link'), other);
        await s.releaseLease('link', other);
        t.equal(await s.leaseOwner('link'), null, 'released by its owner');
        t.equal(await s.acquireLease('link', holder, 1000), true);
      },
    );

    // The audit log's own contract (audit-contract.ts), on the store's log.
    for (const [title, check] of auditLogChecks) await sub(title, (s, t) => check(s.audit, t));

    await sub('close', async (s, t) => {
      await s.close();
      t.equal(await s.ping(), false, 'closed store does not answer');
      await t.rejects(s.get('x'), 'operations on a closed store reject');
    });
  }) as unknown as Promise<void>;
}
