// The core leases on a store: the same suite runs on the memory store and on Redis. Lease:
// one holder at a time, a graceful stop hands over at once, a dead holder is replaced after
// the TTL, a holder that cannot renew (store unreachable, or the lease taken) lets go
// before the lease can expire. LinkLease (ctx.lease): the holder connects and publishes its
// link state; the standbys report it as theirs.
import type { Test } from 'tap';
import type { LinkState } from '../../../src/core/adapter.js';
import { Lease } from '../../../src/core/delivery/lease.js';
import { REPLICA_ID } from '../../../src/core/delivery/replica.js';
import { adapterServices } from '../../../src/core/delivery/services.js';
import { silentLogger } from '../../../src/core/logger.js';
import type { Store } from '../../../src/core/store.js';
import { asShared } from '../../fixtures/shared-store.js';
import type { StoreUnderTest } from './queue-contract.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function until(cond: () => boolean, ms: number): Promise<boolean> {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    if (cond()) return true;
    await sleep(10);
  }
  return cond();
}

interface Seen {
  acquired: number[];
  lost: { at: number; reason: string }[];
  standby: (string | null)[];
}

function lease(store: Store, owner: string, ttlMs = 600, renewMs = 150) {
  const seen: Seen = { acquired: [], lost: [], standby: [] };
  const l = new Lease({
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

/** `store` with its lease calls failing on demand (as Redis does when the network drops). */
function flaky(store: Store, calls: readonly string[]) {
  const view = { down: false };
  const proxy = new Proxy(store, {
    get(target, prop, receiver) {
      const v = Reflect.get(target, prop, receiver) as unknown;
      if (typeof v !== 'function') return v;
      const fn = (v as (...a: unknown[]) => unknown).bind(target);
      if (calls.includes(String(prop)))
        return (...args: unknown[]) =>
          view.down ? Promise.reject(new Error('connect ECONNREFUSED')) : fn(...args);
      return fn;
    },
  }) as Store;
  return { store: proxy, view };
}

/** A replica's link lease on `store`, its callbacks recorded. */
function link(store: Store, replica: string) {
  const reports: { state: LinkState; detail: string }[] = [];
  const events: string[] = [];
  const s = adapterServices(
    store,
    { network: 'xmpp', name: 'corp' },
    replica,
    silentLogger,
    async () => true,
  );
  const l = s.lease('link', {
    ttlMs: 600,
    renewMs: 150,
    acquired: async () => void events.push('acquired'),
    lost: async (reason) => void events.push(`lost: ${reason}`),
    standby: (state, detail) => reports.push({ state, detail }),
  });
  return { l, reports, events, last: () => reports.at(-1) };
}

export function leaseContract(t: Test, name: string, make: () => Promise<StoreUnderTest>): Promise<unknown> {
  return t.test(`${name}: leases`, async (t) => {
    const sub = (title: string, fn: (s: Store, t: Test) => Promise<void>) =>
      t.test(title, async (t) => {
        const { store, cleanup } = await make();
        try {
          await fn(store, t);
        } finally {
          await cleanup();
        }
      });

    await sub('the replica id names the host and the process', async (_s, t) => {
      t.match(REPLICA_ID, new RegExp(`:${process.pid}:[0-9a-f]{6}$`));
    });

    await sub('one holder; a graceful stop hands the lease over at once', async (store, t) => {
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

    await sub('a holder that dies (no release) is replaced after the TTL', async (store, t) => {
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

    await sub('a holder whose renewals fail lets go before the lease expires', async (store, t) => {
      const cut = flaky(store, ['acquireLease']);
      const a = lease(cut.store, 'a');
      const b = lease(store, 'b');
      await a.l.start();
      await b.l.start();
      t.teardown(() => Promise.all([a.l.stop(), b.l.stop()]));
      t.ok(a.l.held);
      await sleep(200);
      const lastRenewal = Date.now();
      cut.view.down = true;
      t.ok(await until(() => a.seen.lost.length > 0, 2000), 'the holder let go');
      const lostAfter = a.seen.lost[0]!.at - lastRenewal;
      t.ok(lostAfter < 600, `before the TTL ran out in the store (${lostAfter} ms after the last renewal)`);
      t.match(a.seen.lost[0]!.reason, /not renewed|did not answer/);
      t.notOk(a.l.held);
      t.ok(await until(() => b.l.held, 2000), 'the other replica took over once the lease expired');
      t.notOk(a.seen.acquired.length > 1, 'the cut-off holder did not take it back');
      cut.view.down = false;
      await sleep(400);
      t.notOk(a.l.held, 'back online, it stands by');
      t.ok(b.l.held);
    });

    await sub('a renewal refused (another replica holds the lease) is a loss at once', async (store, t) => {
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

    await sub('with expireLocally off (a memory store) a slow renewal is not a loss', async (store, t) => {
      let now = 0;
      const l = new Lease({
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
      const strict = new Lease({
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

    await sub(
      'a take answered too late (slower than TTL minus one period) does not count',
      async (store, t) => {
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
      },
    );

    await sub('ctx.lease: the holder connects and publishes; standbys report its link', async (store, t) => {
      const a = link(store, 'a');
      await a.l.start();
      t.same(a.events, ['acquired'], 'the holder connected before start resolved');
      t.equal(a.l.name, 'xmpp:corp:link');
      t.equal(await store.leaseOwner('xmpp:corp:link'), 'a', 'held by the replica id, under the prefix');
      t.ok(a.l.held);
      const b = link(store, 'b');
      await b.l.start();
      t.teardown(async () => {
        await a.l.stop();
        await b.l.stop();
      });
      t.notOk(b.l.held);
      t.same(b.events, []);
      t.ok(await until(() => b.last()?.state === 'starting', 1000));
      t.match(b.last(), { detail: 'standby: replica a holds the link and is connecting it' });
      a.l.publish('up');
      t.ok(await until(() => b.last()?.state === 'up', 1000), 'the standby sees the link up');
      t.same(b.last(), { state: 'up', detail: 'standby: the link is held by replica a' });
      const upReports = b.reports.length;
      await sleep(400);
      t.equal(b.reports.length, upReports, 'an unchanged view is reported once');
      a.l.publish('down', 'ECONNREFUSED');
      t.ok(await until(() => b.last()?.state === 'down', 1000));
      t.same(b.last(), {
        state: 'down',
        detail: 'standby: the link held by replica a is down: ECONNREFUSED',
      });
      b.l.publish('up');
      t.match(
        JSON.parse((await store.get('xmpp:corp:link-state'))!),
        { owner: 'a' },
        'a standby publishes nothing',
      );
      await a.l.stop();
      t.equal(await store.get('xmpp:corp:link-state'), null, 'the holder forgets its state when it stops');
      t.ok(await until(() => b.l.held, 1000), 'the standby takes over');
      t.same(b.events, ['acquired']);
      t.same(a.events, ['acquired'], 'a graceful stop is no loss');
    });

    await sub('ctx.lease: a holder cut off from the store disconnects and says why', async (store, t) => {
      // Leases expire in the store only when it is shared: the memory store is seen as one.
      const shared = store.kind === 'memory' ? asShared(store as never) : store;
      const cut = flaky(shared, ['acquireLease', 'leaseOwner', 'get', 'set']);
      const a = link(cut.store, 'a');
      await a.l.start();
      t.teardown(() => a.l.stop());
      a.l.publish('up');
      cut.view.down = true;
      t.ok(await until(() => a.events.length > 1, 2000), 'it let go');
      t.match(a.events[1], /^lost: /);
      // It says it lost the lease; a retry that finds the store down may say so first (the
      // lost report waits for the link to close), so the order of the two is not fixed.
      t.ok(
        await until(() => a.reports.some((r) => /^standby: lost the link lease/.test(r.detail)), 1000),
        'it reports the lost lease',
      );
      t.match(a.reports[0], {
        state: 'down',
        detail: /^standby: (lost the link lease|the store does not answer)/,
      });
      t.ok(
        await until(() => /the store does not answer/.test(a.last()?.detail ?? ''), 2000),
        'then reports the store',
      );
      t.equal(a.last()?.state, 'down');
    });
  });
}
