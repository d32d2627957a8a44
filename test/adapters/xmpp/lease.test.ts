// The link lease between replicas on one store: one holder at a time, a graceful stop hands
// over at once, a dead holder is replaced after the TTL, and a holder that cannot renew
// (store unreachable, or the lease taken) lets go before the lease can expire.
import t from 'tap';
import { LinkLease, REPLICA_ID } from '../../../src/adapters/xmpp/lease.js';
import { silentLogger } from '../../../src/core/logger.js';
import type { Store } from '../../../src/core/store.js';
import { MemoryStore } from '../../../src/store/memory.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

interface Seen {
  acquired: number[];
  lost: { at: number; reason: string }[];
  standby: (string | null)[];
}

function lease(store: Store, owner: string, ttlMs = 600, renewMs = 150) {
  const seen: Seen = { acquired: [], lost: [], standby: [] };
  const l = new LinkLease({
    store,
    name: 'xmpp:corp:link',
    owner,
    ttlMs,
    renewMs,
    logger: silentLogger,
    onAcquired: () => seen.acquired.push(Date.now()),
    onLost: (reason) => seen.lost.push({ at: Date.now(), reason }),
    onStandby: (holder) => seen.standby.push(holder),
  });
  return { l, seen };
}

async function until(cond: () => boolean, ms: number): Promise<boolean> {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    if (cond()) return true;
    await sleep(10);
  }
  return cond();
}

t.test('the replica id names the host and the process', async (t) => {
  t.match(REPLICA_ID, new RegExp(`:${process.pid}:[0-9a-f]{6}$`));
});

t.test('one holder; a graceful stop hands the lease over at once', async (t) => {
  const store = new MemoryStore();
  const a = lease(store, 'a');
  const b = lease(store, 'b');
  await a.l.start();
  await b.l.start();
  t.teardown(() => Promise.all([a.l.stop(), b.l.stop()]));
  t.ok(a.l.held, 'the first replica holds it');
  t.equal(a.seen.acquired.length, 1);
  t.notOk(b.l.held, 'the second stands by');
  t.same(b.seen.standby, ['a'], 'and knows who holds it');
  await sleep(400);
  t.ok(a.l.held, 'renewals keep it');
  t.notOk(b.l.held);
  t.equal(await store.leaseOwner('xmpp:corp:link'), 'a');
  const stopped = Date.now();
  await a.l.stop();
  t.equal(await store.leaseOwner('xmpp:corp:link'), null, 'released');
  t.ok(await until(() => b.l.held, 1000), 'the standby took it');
  t.ok(
    b.seen.acquired[0]! - stopped <= 300,
    `within one renewal period (${b.seen.acquired[0]! - stopped} ms)`,
  );
  t.same(a.seen.lost, [], 'a graceful stop is no loss');
});

t.test('a holder that dies (no release) is replaced after the TTL', async (t) => {
  const store = new MemoryStore();
  const a = lease(store, 'a');
  const b = lease(store, 'b');
  // `a` takes the lease once and then falls silent, as a killed process would.
  await a.l.tick();
  t.ok(a.l.held);
  const died = Date.now();
  await b.l.start();
  t.teardown(() => b.l.stop());
  t.notOk(b.l.held);
  t.ok(await until(() => b.l.held, 2000), 'taken over');
  const took = b.seen.acquired[0]! - died;
  t.ok(took >= 550 && took <= 600 + 150 + 100, `after the TTL, within one renewal period (${took} ms)`);
  t.equal(await store.leaseOwner('xmpp:corp:link'), 'b');
});

t.test('a holder whose renewals fail lets go before the lease expires', async (t) => {
  const store = new MemoryStore();
  let down = false;
  // The same store, unreachable on demand (as Redis is when the network drops).
  const flaky = new Proxy(store, {
    get(target, prop, receiver) {
      const v = Reflect.get(target, prop, receiver) as unknown;
      if (prop === 'acquireLease' && typeof v === 'function') {
        return (...args: Parameters<Store['acquireLease']>) =>
          down ? Promise.reject(new Error('connect ECONNREFUSED')) : store.acquireLease(...args);
      }
      return typeof v === 'function' ? (v as (...a: unknown[]) => unknown).bind(target) : v;
    },
  }) as Store;
  const a = lease(flaky, 'a');
  const b = lease(store, 'b');
  await a.l.start();
  await b.l.start();
  t.teardown(() => Promise.all([a.l.stop(), b.l.stop()]));
  t.ok(a.l.held);
  await sleep(200);
  const lastRenewal = Date.now();
  down = true;
  t.ok(await until(() => a.seen.lost.length > 0, 2000), 'the holder let go');
  const lostAfter = a.seen.lost[0]!.at - lastRenewal;
  t.ok(lostAfter < 600, `before the TTL ran out in the store (${lostAfter} ms after the last renewal)`);
  t.match(a.seen.lost[0]!.reason, /not renewed|did not answer/);
  t.notOk(a.l.held);
  t.ok(await until(() => b.l.held, 2000), 'the other replica took over once the lease expired');
  t.notOk(a.seen.acquired.length > 1, 'the cut-off holder did not take it back');
  down = false;
  await sleep(400);
  t.notOk(a.l.held, 'back online, it stands by');
  t.ok(b.l.held);
});

t.test('a renewal refused (another replica holds the lease) is a loss at once', async (t) => {
  const store = new MemoryStore();
  const a = lease(store, 'a', 600, 150);
  await a.l.start();
  t.teardown(() => a.l.stop());
  // Someone else holds it now (the lease expired during a long pause, say).
  await store.releaseLease('xmpp:corp:link', 'a');
  t.ok(await store.acquireLease('xmpp:corp:link', 'intruder', 5000));
  t.ok(await until(() => a.seen.lost.length > 0, 1000));
  t.match(a.seen.lost[0]!.reason, /another replica/);
  t.notOk(a.l.held);
  t.ok(await until(() => a.seen.standby.includes('intruder'), 1000), 'it reports the new holder');
});

t.test('with expireLocally off (a memory store) a slow renewal is not a loss', async (t) => {
  const store = new MemoryStore();
  let now = 0;
  const l = new LinkLease({
    store,
    name: 'x',
    owner: 'a',
    ttlMs: 600,
    renewMs: 150,
    logger: silentLogger,
    expireLocally: false,
    now: () => now,
    onAcquired: () => {},
    onLost: () => t.fail('not lost'),
  });
  await l.tick();
  now = 10_000;
  t.ok(l.held);
  const strict = new LinkLease({
    store,
    name: 'y',
    owner: 'a',
    ttlMs: 600,
    renewMs: 150,
    logger: silentLogger,
    now: () => now,
    onAcquired: () => {},
    onLost: () => {},
  });
  await strict.tick();
  now = 20_000;
  t.notOk(strict.held, 'the default lets go after TTL minus one period without renewal');
});

t.test('a take answered too late (slower than TTL minus one period) does not count', async (t) => {
  const store = new MemoryStore();
  const slow = new Proxy(store, {
    get(target, prop, receiver) {
      const v = Reflect.get(target, prop, receiver) as unknown;
      if (prop === 'acquireLease') {
        return async (...args: Parameters<Store['acquireLease']>) => {
          const r = await store.acquireLease(...args);
          await sleep(500);
          return r;
        };
      }
      return typeof v === 'function' ? (v as (...a: unknown[]) => unknown).bind(target) : v;
    },
  }) as Store;
  const a = lease(slow, 'a');
  await a.l.tick();
  t.notOk(a.l.held, 'not the holder on a stale answer');
  t.same(a.seen.acquired, [], 'and does not connect');
  await a.l.stop();
});
