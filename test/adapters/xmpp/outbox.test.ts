import t from 'tap';
import { Outbox } from '../../../src/adapters/xmpp/outbox.js';
import type { CanonicalEvent } from '../../../src/core/model.js';
import { MemoryStore } from '../../../src/store/memory.js';
import { message } from '../../fixtures/memory-adapter.js';

const ev = (id: string): CanonicalEvent => message('matrix:u/b:hs.test', 'xmpp:a@corp.test', id, { id });

t.test('bounded, ordered, flushed until the link drops again', async (t) => {
  let now = 1000;
  const store = new MemoryStore();
  const box = new Outbox({ store, key: 'q', maxLength: 3, timeoutMs: 100, now: () => now });
  t.ok(await box.push(ev('1')));
  t.ok(await box.push(ev('2')));
  t.ok(await box.push(ev('3')));
  t.notOk(await box.push(ev('4')), 'full');
  t.equal(box.size, 3);
  const sent: string[] = [];
  // The link drops after the first send: the rest stays queued, in order.
  let up = 1;
  const n = await box.flush(
    async (e) => {
      if (up-- <= 0) return false;
      sent.push(e.id);
      return true;
    },
    async () => {
      t.fail('nothing expired');
    },
  );
  t.equal(n, 1);
  t.same(sent, ['1']);
  t.equal(box.size, 2);
  t.equal(await store.queueLength('q'), 2);
  await box.flush(
    async (e) => {
      sent.push(e.id);
      return true;
    },
    async () => {},
  );
  t.same(sent, ['1', '2', '3']);
  t.equal(box.size, 0);
  now += 1;
});

t.test('expired items are bounced by the sweep, the others keep their order', async (t) => {
  let now = 0;
  const store = new MemoryStore();
  const box = new Outbox({ store, key: 'q', maxLength: 10, timeoutMs: 100, now: () => now });
  await box.push(ev('old'));
  now = 60;
  await box.push(ev('new'));
  t.equal(
    await box.sweep(async () => {
      t.fail('too early');
    }),
    0,
  );
  now = 120;
  const bounced: string[] = [];
  t.equal(await box.sweep(async (i) => void bounced.push(i.event.id)), 1);
  t.same(bounced, ['old']);
  t.equal(box.size, 1);
  t.equal(box.nextExpiry, 160);
  // A second outbox on the same store (a restart) sees what was left.
  const again = new Outbox({ store, key: 'q', maxLength: 10, timeoutMs: 100, now: () => now });
  await again.load();
  t.equal(again.size, 1);
  await store.enqueue('q', 'not json', 10);
  const corrupt: string[] = [];
  const third = new Outbox({
    store,
    key: 'q',
    maxLength: 10,
    timeoutMs: 100,
    now: () => now,
    onCorrupt: (p) => corrupt.push(p),
  });
  await third.load();
  t.equal(third.size, 2);
  t.same(
    (await third.drainAll()).map((i) => i.event.id),
    ['new'],
  );
  t.same(corrupt, ['not json'], 'an unreadable item is reported when it is taken out');
});

t.test('replicas share one outbox: any may push, the holder sends in order', async (t) => {
  const store = new MemoryStore();
  const standby = new Outbox({ store, key: 'q', maxLength: 10, timeoutMs: 1000 });
  const holder = new Outbox({ store, key: 'q', maxLength: 10, timeoutMs: 1000 });
  await standby.push(ev('s1'));
  await standby.push(ev('s2'));
  t.equal(holder.size, 0, 'the holder does not know yet');
  await holder.sync();
  t.equal(holder.size, 2, 'until it looks');
  t.ok(holder.nextExpiry !== null, 'and learns when the oldest expires');
  const sent: string[] = [];
  await holder.flush(
    async (e) => {
      sent.push(e.id);
      return true;
    },
    async () => {},
  );
  t.same(sent, ['s1', 's2']);
  t.equal(await store.queueLength('q'), 0);
});

t.test('a holder that dies while sending leaves the item for the next one', async (t) => {
  const store = new MemoryStore();
  const first = new Outbox({ store, key: 'q', maxLength: 10, timeoutMs: 1000 });
  await first.push(ev('a'));
  await first.push(ev('b'));
  // The process dies inside `send` (before the item is acknowledged).
  await t.rejects(
    first.flush(
      async () => {
        throw new Error('killed');
      },
      async () => {},
    ),
  );
  t.equal(await store.queueLength('q'), 2, 'nothing was taken out');
  const next = new Outbox({ store, key: 'q', maxLength: 10, timeoutMs: 1000 });
  await next.load();
  const sent: string[] = [];
  await next.flush(
    async (e) => {
      sent.push(e.id);
      return true;
    },
    async () => {},
  );
  t.same(sent, ['a', 'b'], 'the next holder sends both, in order');
});
