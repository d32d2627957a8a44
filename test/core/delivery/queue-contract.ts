// The core delivery queue on a store: the same suite runs on the memory store and on Redis
// (memory.test.ts, redis.test.ts). StoreQueue is the FIFO itself (bounded, peek/ack,
// expiry); DeliveryQueue adds who drains it and when (consumer, readiness, backoff, poll).
import type { Test } from 'tap';
import type { Refusal } from '../../../src/core/adapter.js';
import { adapterServices } from '../../../src/core/delivery/services.js';
import { type QueuedItem, StoreQueue } from '../../../src/core/delivery/store-queue.js';
import { silentLogger } from '../../../src/core/logger.js';
import type { CanonicalEvent } from '../../../src/core/model.js';
import type { Store } from '../../../src/core/store.js';
import { message } from '../../fixtures/memory-adapter.js';

export interface StoreUnderTest {
  store: Store;
  cleanup(): Promise<void>;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const ev = (id: string): CanonicalEvent => message('matrix:u/b:hs.test', 'xmpp:a@corp.test', id, { id });
const sendAll = (sent: string[]) => async (i: { event: CanonicalEvent }) => {
  sent.push(i.event.id);
  return true;
};
const nothing = async () => {};

async function until(cond: () => boolean, ms: number): Promise<boolean> {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    if (cond()) return true;
    await sleep(5);
  }
  return cond();
}

/** The services of adapter xmpp/corp on `store`, with the bounces they ask for recorded. */
function services(store: Store, replica = 'r1') {
  const bounced: { id: string; refusal: Refusal; outcome: string }[] = [];
  const s = adapterServices(
    store,
    { network: 'xmpp', name: 'corp' },
    replica,
    silentLogger,
    async (e, r, o) => {
      bounced.push({ id: e.id, refusal: r, outcome: o });
      return true;
    },
  );
  return { s, bounced };
}

export function queueContract(t: Test, name: string, make: () => Promise<StoreUnderTest>): Promise<unknown> {
  return t.test(`${name}: delivery queue`, async (t) => {
    const sub = (title: string, fn: (s: Store, t: Test) => Promise<void>) =>
      t.test(title, async (t) => {
        const { store, cleanup } = await make();
        try {
          await fn(store, t);
        } finally {
          await cleanup();
        }
      });

    await sub('bounded, ordered, flushed until a send fails', async (store, t) => {
      let now = 1000;
      const q = new StoreQueue({ store, key: 'q', maxLength: 3, maxAgeMs: 100, now: () => now });
      t.ok(await q.push(ev('1')));
      t.ok(await q.push(ev('2')));
      t.ok(await q.push(ev('3')));
      t.notOk(await q.push(ev('4')), 'full');
      t.equal(q.size, 3);
      const sent: string[] = [];
      // The link drops after the first send: the rest stays queued, in order.
      let up = 1;
      const n = await q.flush(
        async (i) => {
          if (up-- <= 0) return false;
          sent.push(i.event.id);
          return true;
        },
        async () => {
          t.fail('nothing expired');
        },
      );
      t.equal(n, 1);
      t.same(sent, ['1']);
      t.equal(q.size, 2);
      t.equal(await store.queueLength('q'), 2);
      await q.flush(sendAll(sent), nothing);
      t.same(sent, ['1', '2', '3']);
      t.equal(q.size, 0);
      now += 1;
    });

    await sub('expired items are taken out by the sweep, the others keep their order', async (store, t) => {
      let now = 0;
      const q = new StoreQueue({ store, key: 'q', maxLength: 10, maxAgeMs: 100, now: () => now });
      await q.push(ev('old'));
      now = 60;
      await q.push(ev('new'));
      t.equal(
        await q.sweep(async () => {
          t.fail('too early');
        }),
        0,
      );
      now = 120;
      const expired: string[] = [];
      t.equal(await q.sweep(async (i) => void expired.push(i.event.id)), 1);
      t.same(expired, ['old']);
      t.equal(q.size, 1);
      t.equal(q.nextExpiry, 160);
      // A second queue on the same store (a restart) sees what was left.
      const again = new StoreQueue({ store, key: 'q', maxLength: 10, maxAgeMs: 100, now: () => now });
      await again.sync();
      t.equal(again.size, 1);
      await store.enqueue('q', 'not json', 10);
      const corrupt: string[] = [];
      const third = new StoreQueue({
        store,
        key: 'q',
        maxLength: 10,
        maxAgeMs: 100,
        now: () => now,
        onCorrupt: (p) => corrupt.push(p),
      });
      await third.sync();
      t.equal(third.size, 2);
      t.same(
        (await third.takeAll()).map((i) => i.event.id),
        ['new'],
      );
      t.same(corrupt, ['not json'], 'an unreadable item is reported when it is taken out');
    });

    await sub('without an age limit nothing expires', async (store, t) => {
      let now = 0;
      const q = new StoreQueue({ store, key: 'q', maxLength: 10, now: () => now });
      await q.push(ev('a'));
      now = 1e12;
      t.equal(q.nextExpiry, null);
      t.equal(await q.sweep(async () => void t.fail('no age limit')), 0);
      const sent: string[] = [];
      await q.flush(sendAll(sent), async () => void t.fail('no age limit'));
      t.same(sent, ['a']);
    });

    await sub(
      'a bare event (the Matrix queue before the core one) is read as queued now',
      async (store, t) => {
        const now = 5000;
        await store.enqueue('q', JSON.stringify(ev('legacy')), 10);
        const q = new StoreQueue({ store, key: 'q', maxLength: 10, maxAgeMs: 1000, now: () => now });
        await q.push(ev('new'));
        await store.enqueue('q', JSON.stringify({ not: 'an event' }), 10);
        await q.sync();
        t.equal(q.size, 3);
        t.equal(q.nextExpiry, 6000, 'the bare head counts as queued now');
        const sent: QueuedItem[] = [];
        const corrupt: string[] = [];
        const reader = new StoreQueue({
          store,
          key: 'q',
          maxLength: 10,
          now: () => now,
          onCorrupt: (p) => corrupt.push(p),
        });
        await reader.flush(async (i) => {
          sent.push(i);
          return true;
        }, nothing);
        t.same(
          sent.map((i) => [i.event.id, i.at]),
          [
            ['legacy', 5000],
            ['new', 5000],
          ],
          'sent in order, the bare one first',
        );
        t.match(sent[0]?.event, { kind: 'message', body: 'legacy' });
        t.same(corrupt, ['{"not":"an event"}'], 'JSON that is no event is still unreadable');
        t.equal(await store.queueLength('q'), 0);
      },
    );

    await sub("an item keeps the adapter's own fields", async (store, t) => {
      const q = new StoreQueue<{ note?: string }>({ store, key: 'q', maxLength: 10 });
      await q.push(ev('a'), { note: 'tell the sender' });
      await q.push(ev('b'));
      const all = await q.takeAll();
      t.match(all, [{ note: 'tell the sender', event: { id: 'a' } }, { event: { id: 'b' } }]);
      t.notOk('note' in all[1]!);
    });

    await sub('replicas share one queue: any may push, the consumer sends in order', async (store, t) => {
      const standby = new StoreQueue({ store, key: 'q', maxLength: 10, maxAgeMs: 1000 });
      const holder = new StoreQueue({ store, key: 'q', maxLength: 10, maxAgeMs: 1000 });
      await standby.push(ev('s1'));
      await standby.push(ev('s2'));
      t.equal(holder.size, 0, 'the holder does not know yet');
      await holder.sync();
      t.equal(holder.size, 2, 'until it looks');
      t.ok(holder.nextExpiry !== null, 'and learns when the oldest expires');
      const sent: string[] = [];
      await holder.flush(sendAll(sent), nothing);
      t.same(sent, ['s1', 's2']);
      t.equal(await store.queueLength('q'), 0);
    });

    await sub('a consumer that dies while sending leaves the item for the next one', async (store, t) => {
      const first = new StoreQueue({ store, key: 'q', maxLength: 10, maxAgeMs: 1000 });
      await first.push(ev('a'));
      await first.push(ev('b'));
      // The process dies inside `send` (before the item is acknowledged).
      await t.rejects(
        first.flush(async () => {
          throw new Error('killed');
        }, nothing),
      );
      t.equal(await store.queueLength('q'), 2, 'nothing was taken out');
      const next = new StoreQueue({ store, key: 'q', maxLength: 10, maxAgeMs: 1000 });
      await next.sync();
      const sent: string[] = [];
      await next.flush(sendAll(sent), nothing);
      t.same(sent, ['a', 'b'], 'the next consumer sends both, in order');
    });

    await sub('ctx.queue: kept under the adapter prefix, drained in order when ready', async (store, t) => {
      const { s } = services(store);
      let ready = false;
      const sent: string[] = [];
      const q = s.queue('outbox', { maxLength: 10, send: sendAll(sent), ready: () => ready, pollMs: 20 });
      await q.start();
      t.teardown(() => q.stop());
      t.equal(q.key, 'xmpp:corp:outbox');
      t.ok(q.idle);
      for (const id of ['1', '2', '3']) t.ok(await q.push(ev(id)));
      t.equal(await store.queueLength('xmpp:corp:outbox'), 3, 'in the store under the prefix');
      t.notOk(q.idle, 'not idle while items wait');
      await q.drain();
      t.same(sent, [], 'not ready: nothing is sent');
      ready = true;
      await q.drain();
      t.same(sent, ['1', '2', '3'], 'ready: sent oldest first');
      t.ok(q.idle);
      t.equal(await store.queueLength('xmpp:corp:outbox'), 0);
    });

    await sub('a failed send is retried after a doubling backoff; order holds', async (store, t) => {
      const { s } = services(store);
      const attempts: number[] = [];
      const sent: string[] = [];
      let failures = 2;
      const q = s.queue('outbox', {
        maxLength: 10,
        backoff: { initialMs: 30, maxMs: 1000 },
        pollMs: 10,
        send: async (i) => {
          attempts.push(Date.now());
          if (i.event.id === '1' && failures-- > 0) return false;
          sent.push(i.event.id);
          return true;
        },
      });
      await q.start();
      t.teardown(() => q.stop());
      await q.push(ev('1'));
      await q.push(ev('2'));
      await q.drain();
      t.same(sent, [], 'the head failed: nothing behind it overtakes it');
      t.ok(await until(() => sent.length === 2, 2000), 'sent after the retries');
      t.same(sent, ['1', '2']);
      t.ok(attempts.length >= 3);
      const gaps = [attempts[1]! - attempts[0]!, attempts[2]! - attempts[1]!];
      t.ok(gaps[0]! >= 25, `the first retry waited the initial backoff (${gaps[0]} ms)`);
      t.ok(gaps[1]! >= 55, `the second waited twice as long (${gaps[1]} ms)`);
    });

    await sub('a send that throws counts as not sent', async (store, t) => {
      const { s } = services(store);
      let boom = true;
      const sent: string[] = [];
      const q = s.queue('outbox', {
        maxLength: 10,
        backoff: { initialMs: 20, maxMs: 20 },
        send: async (i) => {
          if (boom) throw new Error('link gone');
          sent.push(i.event.id);
          return true;
        },
      });
      await q.start();
      t.teardown(() => q.stop());
      await q.push(ev('x'));
      await q.drain();
      t.equal(await store.queueLength('xmpp:corp:outbox'), 1, 'still queued');
      boom = false;
      t.ok(await until(() => sent.length === 1, 2000), 'the retry sent it');
    });

    await sub('an event older than maxAgeMs is bounced to its sender as expired', async (store, t) => {
      const { s, bounced } = services(store);
      let now = 1_000_000;
      const sent: string[] = [];
      const q = s.queue('outbox', {
        maxLength: 10,
        maxAgeMs: 200,
        expiredReason: 'The XMPP server was unreachable for too long.',
        ready: () => false,
        send: sendAll(sent),
        now: () => now,
      });
      await q.start();
      t.teardown(() => q.stop());
      await q.push(ev('old'));
      now += 100;
      await q.push(ev('young'));
      t.equal(q.nextExpiry, 1_000_200);
      now += 150;
      // The sweep runs every maxAgeMs / 4 (at least 50 ms), also while the link is down.
      t.ok(await until(() => bounced.length === 1, 2000), 'the sweep took it out');
      t.same(bounced, [
        {
          id: 'old',
          refusal: { code: 'delivery', rule: null, reason: 'The XMPP server was unreachable for too long.' },
          outcome: 'expired',
        },
      ]);
      t.equal(await store.queueLength('xmpp:corp:outbox'), 1, 'the young one stays');
      t.same(sent, []);
    });

    await sub('only the consumer drains and sweeps; it finds what others queued', async (store, t) => {
      const a = services(store, 'a');
      const b = services(store, 'b');
      const sentA: string[] = [];
      const sentB: string[] = [];
      let now = 0;
      // Replica a stands by (another holds the link); b consumes.
      const qa = a.s.queue('outbox', {
        maxLength: 10,
        maxAgeMs: 100,
        consumer: () => false,
        send: sendAll(sentA),
        now: () => now,
        pollMs: 10,
        syncMs: 10,
      });
      let bConsumes = false;
      const qb = b.s.queue('outbox', {
        maxLength: 10,
        consumer: () => bConsumes,
        send: sendAll(sentB),
        pollMs: 10,
      });
      await qa.start();
      await qb.start();
      t.teardown(async () => {
        await qa.stop();
        await qb.stop();
      });
      await qa.push(ev('1'));
      await qa.push(ev('2'));
      now = 1000;
      await qa.drain();
      await sleep(150);
      t.same(sentA, [], 'a standby never sends');
      t.same(a.bounced, [], 'nor takes expired items out');
      t.equal(qa.size, 2, 'it keeps its count of what waits');
      t.same(sentB, [], 'b does not consume yet');
      bConsumes = true;
      t.ok(await until(() => sentB.length === 2, 2000), "the consumer's poll finds the items");
      t.same(sentB, ['1', '2']);
      t.ok(await until(() => qa.size === 0, 2000), "and the standby's count follows");
    });

    await sub(
      'takeAll empties the queue (a shutdown whose store dies with the process)',
      async (store, t) => {
        const { s } = services(store);
        const q = s.queue('outbox', { maxLength: 10, send: async () => false, ready: () => false });
        await q.start();
        await q.push(ev('1'));
        await q.push(ev('2'));
        await q.stop();
        t.same(
          (await q.takeAll()).map((i) => i.event.id),
          ['1', '2'],
        );
        t.equal(await store.queueLength('xmpp:corp:outbox'), 0);
      },
    );

    await sub('ctx.state and ctx.ids live under the adapter prefix', async (store, t) => {
      const { s } = services(store);
      t.equal(s.replicaId, 'r1');
      t.equal(s.state.prefix, 'xmpp:corp:');
      t.equal(s.state.kind, store.kind);
      await s.state.set('k', 'v');
      t.equal(await store.get('xmpp:corp:k'), 'v');
      await s.state.hset('h', 'f', '1');
      t.same(await store.hgetall('xmpp:corp:h'), { f: '1' });
      t.same(await s.state.hgetall('h'), { f: '1' });
      t.ok(await s.state.setIfAbsent('once', 'x'));
      t.notOk(await s.state.setIfAbsent('once', 'y'));
      t.equal(await s.state.incrWindow('n', 10_000), 1);
      await s.state.hdel('h', 'f');
      t.same(await s.state.hgetall('h'), {});
      await s.state.del('k');
      t.equal(await s.state.get('k'), null);

      await s.ids.put('evt-1', 'net-1');
      await s.ids.alias('net-1b', 'evt-1');
      t.equal(await s.ids.networkId('evt-1'), 'net-1');
      t.equal(await s.ids.canonical('net-1'), 'evt-1');
      t.equal(await s.ids.canonical('net-1b'), 'evt-1', 'an alias resolves to the event');
      t.equal(await s.ids.networkId('unknown'), null);
      t.equal(await store.get('xmpp:corp:id:out:evt-1'), 'net-1', 'the keys Matrix kept its ids under');
      t.equal(await store.get('xmpp:corp:id:in:net-1'), 'evt-1');
      await s.ids.put('evt-2', 'net-2', 60);
      await sleep(150);
      t.equal(await s.ids.networkId('evt-2'), null, 'a mapping expires with its TTL');
      t.equal(await s.ids.canonical('net-2'), null);
    });
  });
}
