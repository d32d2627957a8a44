// The Store contract: every implementation (memory, Redis) passes this one suite.
import type { Test } from 'tap';
import { chainEntries } from '../../src/core/audit/chain.js';
import type { AuditRecord } from '../../src/core/audit/record.js';
import { verifyLog } from '../../src/core/audit/verify.js';
import type { Store } from '../../src/core/store.js';
import { entries } from '../core/audit/fixtures.js';

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

    await sub('audit log: append, conflict, head, ranges', async (s, t) => {
      const log = s.audit;
      t.equal(await log.head(), null);
      t.equal(await log.anchor(), null);
      t.equal(await log.length(), 0);
      t.same(await log.range(1, 10), []);
      t.same(await log.reverseRange(10, 10), []);
      t.same(await log.append([]), { ok: true });

      const first = chainEntries(null, entries(5));
      t.same(await log.append(first), { ok: true });
      const h5 = { seq: 5, hash: first[4]?.hash };
      t.same(await log.head(), h5);
      t.equal(await log.length(), 5);

      const stale = chainEntries(null, entries(2));
      t.same(await log.append(stale), { ok: false, head: h5 }, 'stale head: conflict with the current head');
      const wrongPrev = chainEntries({ seq: 5, hash: 'f'.repeat(64) }, entries(1));
      t.same(await log.append(wrongPrev), { ok: false, head: h5 }, 'right seq, wrong prev: conflict');
      t.equal(await log.length(), 5, 'nothing written on conflict');

      // Two replicas append after the same head at once: exactly one wins.
      const head = (await log.head()) ?? null;
      const a = chainEntries(head, entries(3));
      const b = chainEntries(head, entries(2));
      const [ra, rb] = await Promise.all([log.append(a), log.append(b)]);
      t.equal([ra, rb].filter((r) => r.ok).length, 1, 'one of two racing appends wins');
      const winner = ra.ok ? a : b;
      const loser = ra.ok ? rb : ra;
      const last = winner[winner.length - 1];
      t.same(loser, { ok: false, head: { seq: last?.seq, hash: last?.hash } });
      t.same(await log.head(), { seq: last?.seq, hash: last?.hash });

      const all = await log.range(1, 100);
      t.same(
        all.map((r) => r.seq),
        Array.from({ length: 5 + winner.length }, (_, i) => i + 1),
      );
      t.same(all.slice(0, 5), first, 'records come back as written');
      t.same(
        (await log.range(3, 2)).map((r) => r.seq),
        [3, 4],
      );
      t.same(
        (await log.reverseRange(4, 2)).map((r) => r.seq),
        [4, 3],
      );
      t.same(
        (await log.reverseRange(1000, 3)).map((r) => r.seq),
        [all.length, all.length - 1, all.length - 2],
      );
      t.same(await log.range(1000, 10), []);
      t.same(await log.reverseRange(0, 10), []);
      t.same((await verifyLog(log)).ok, true);
    });

    await sub(
      'audit log: trim keeps held records and an anchor; the chain stays verifiable',
      async (s, t) => {
        const log = s.audit;
        const recs = chainEntries(null, entries(10));
        t.same(await log.append(recs), { ok: true });
        t.equal(await log.trim(5, new Set([2])), 3, 'records 1, 3, 4 deleted; 2 held');
        t.same(
          (await log.range(1, 100)).map((r) => r.seq),
          [2, 5, 6, 7, 8, 9, 10],
        );
        t.same(await log.anchor(), { seq: 4, hash: recs[3]?.hash }, 'anchor: the record 5 follows');
        t.equal(await log.length(), 7);
        t.same(await log.head(), { seq: 10, hash: recs[9]?.hash });
        t.same(await verifyLog(log), { ok: true, records: 7, head: { seq: 10, hash: recs[9]?.hash } });
        t.same(
          (await log.reverseRange(6, 10)).map((r) => r.seq),
          [6, 5, 2],
        );

        t.equal(await log.trim(3), 1, 'an earlier cut: the hold lifted, record 2 goes');
        t.same(await log.anchor(), { seq: 4, hash: recs[3]?.hash }, 'anchor never moves back');

        t.equal(await log.trim(1000), 6, 'trim everything');
        t.equal(await log.length(), 0);
        t.same(await log.anchor(), { seq: 10, hash: recs[9]?.hash });
        t.same(await log.head(), { seq: 10, hash: recs[9]?.hash }, 'head is the anchor when all are trimmed');
        t.same(await verifyLog(log), { ok: true, records: 0, head: { seq: 10, hash: recs[9]?.hash } });

        const more = chainEntries(await log.head(), entries(2));
        t.same(await log.append(more), { ok: true }, 'the chain continues after a full trim');
        t.same(
          (await log.range(1, 10)).map((r) => r.seq),
          [11, 12],
        );
        t.equal((await verifyLog(log)).ok, true);
      },
    );

    await sub("audit restore: a trimmed source's anchor and holds, then the chain goes on", async (s, t) => {
      const log = s.audit;
      const recs = chainEntries(null, entries(10));
      const rec = (seq: number) => recs[seq - 1] as AuditRecord;
      const anchor = { seq: 8, hash: rec(8).hash };
      // Held below the anchor: 2 and 5, and 8 (the anchor's own record, held too).
      const held = [rec(2), rec(5), rec(8)];
      await log.restore(anchor, held);
      t.same(await log.head(), anchor, 'the head is the anchor');
      t.same(await log.anchor(), anchor);
      t.equal(await log.length(), 3);
      t.same(await log.range(1, 10), held, 'the held records as given');
      t.same(
        (await log.reverseRange(100, 10)).map((r) => r.seq),
        [8, 5, 2],
      );
      t.same(await verifyLog(log), { ok: true, records: 3, head: anchor }, 'verifies against the anchor');

      t.same(
        await log.append(chainEntries(null, entries(1))),
        { ok: false, head: anchor },
        'not from genesis',
      );
      t.same(await log.append(recs.slice(8)), { ok: true }, "the source's next records follow the anchor");
      const more = chainEntries(await log.head(), entries(2));
      t.same(await log.append(more), { ok: true }, 'and new ones after them');
      t.same(await verifyLog(log), { ok: true, records: 7, head: { seq: 12, hash: more[1]?.hash } });
      t.same(
        (await log.range(1, 100)).map((r) => r.seq),
        [2, 5, 8, 9, 10, 11, 12],
      );
      await t.rejects(log.restore(anchor, []), /not empty/, 'a second restore is refused');
      t.same(await log.head(), { seq: 12, hash: more[1]?.hash }, 'and changes nothing');
    });

    await sub('audit restore: refused into a log with records, and with bad held records', async (s, t) => {
      const log = s.audit;
      const recs = chainEntries(null, entries(6));
      const rec = (seq: number) => recs[seq - 1] as AuditRecord;
      const anchor = { seq: 4, hash: rec(4).hash };
      await t.rejects(log.restore(anchor, [rec(5)]), /held record 5 is above the anchor 4/);
      await t.rejects(log.restore(anchor, [rec(3), rec(1)]), /held record 1 is out of order/);
      await t.rejects(log.restore(anchor, [rec(2), rec(2)]), /held record 2 is out of order/);
      await t.rejects(log.restore({ seq: 0, hash: rec(1).hash }, []), /anchor seq 0/);
      await t.rejects(log.restore({ seq: 4, hash: 'not a hash' }, []), /anchor hash/);
      t.equal(await log.head(), null, 'nothing written');
      t.equal(await log.anchor(), null);
      t.equal(await log.length(), 0);

      t.same(await log.append(recs), { ok: true });
      await t.rejects(log.restore(anchor, [rec(2)]), /not empty/, 'a log with records');
      t.same(await log.head(), { seq: 6, hash: rec(6).hash }, 'unchanged');
      t.equal(await log.anchor(), null);
      t.equal(await log.length(), 6);
      t.equal((await verifyLog(log)).ok, true);
    });

    await sub('close', async (s, t) => {
      await s.close();
      t.equal(await s.ping(), false, 'closed store does not answer');
      await t.rejects(s.get('x'), 'operations on a closed store reject');
    });
  }) as unknown as Promise<void>;
}
