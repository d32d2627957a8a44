// The adapter with the in-memory homeserver of test/fixtures/matrix-homeserver.ts (the real one
// is in test/integration/matrix*.test.ts): hostile transactions, the bounded outbound queue,
// bounces, link status.
import t from 'tap';
import { AuditWriter } from '../../../src/core/audit/writer.js';
import { silentLogger } from '../../../src/core/logger.js';
import { Pipeline } from '../../../src/core/pipeline.js';
import { compilePolicySource } from '../../../src/core/policy/index.js';
import type { Store } from '../../../src/core/store.js';
import { MemoryStore } from '../../../src/store/memory.js';
import { MemoryHomeserver, memoryMatrixAdapter } from '../../fixtures/matrix-homeserver.js';
import { MemoryAdapter, message } from '../../fixtures/memory-adapter.js';

const POLICY = `
apiVersion: parley/v1
kind: Policy
metadata: { name: t, version: "1" }
zones:
  enterprise: { domains: [corp.test] }
  partner: { domains: [hs.test] }
defaults: { decision: deny }
rules:
  - id: partners
    match: { between: [{ zone: enterprise }, { zone: partner }] }
    effect: allow
`;

async function setup(
  queue = { maxLength: 2, retryInitialMs: 20, retryMaxMs: 40 },
  extra: Record<string, unknown> = {},
  store: Store = new MemoryStore(),
) {
  const { adapter: matrix, hs, transaction: txn } = memoryMatrixAdapter({ queue, ...extra });
  const audit = new AuditWriter(store.audit, {});
  const policy = compilePolicySource(POLICY, 'p.yaml');
  const pipeline = new Pipeline({ policy: () => policy, audit, store, logger: silentLogger });
  const corp = new MemoryAdapter('corp', 'xmpp', ['corp.test']);
  await corp.start(pipeline.register(corp));
  await matrix.start(pipeline.register(matrix));
  t.teardown(async () => {
    await matrix.stop();
    await audit.close();
  });
  /** The link state the adapter last reported (ctx.setStatus). */
  const state = () => pipeline.linkStatus().get('hs')?.state;
  return { hs, store, corp, matrix, txn, state };
}

const toAlice = (body: string) => message('xmpp:bob@corp.test', 'matrix:u/alice:hs.test', body);

t.test(
  'hostile transactions: malformed events and unknown rooms are skipped, the rest is handled',
  async (t) => {
    const { hs, corp, txn } = await setup();
    // Map a room by an invite to a ghost.
    const invite = {
      type: 'm.room.member',
      event_id: '$inv',
      room_id: '!dm:hs.test',
      sender: '@alice:hs.test',
      state_key: '@_parley_bob=40corp.test:hs.test',
      content: { membership: 'invite', is_direct: true },
    };
    const good = {
      type: 'm.room.message',
      event_id: '$good',
      room_id: '!dm:hs.test',
      sender: '@alice:hs.test',
      origin_server_ts: 1_700_000_000_000,
      content: { msgtype: 'm.text', body: 'hello' },
    };
    const res = await txn('1', {
      events: [
        invite,
        null,
        42,
        'x',
        { type: 'm.room.message' },
        { ...good, event_id: '$other', room_id: '!unknown:hs.test' },
        { ...good, event_id: '$bad-content', content: { msgtype: 'm.text', body: { nested: true } } },
        { ...good, event_id: '$huge-ts', origin_server_ts: 1e20 },
        { ...good, event_id: '$stranger', sender: '@mallory:hs.test' },
        { ...good, event_id: '$echo', sender: '@_parley_bob=40corp.test:hs.test' },
        good,
      ],
      ephemeral: [
        null,
        { type: 'm.typing' },
        { type: 'm.typing', room_id: '!dm:hs.test', content: { user_ids: 'x' } },
      ],
    });
    t.equal(res.status, 200);
    t.ok(
      hs.calls.includes('join @_parley_bob=40corp.test:hs.test !dm:hs.test'),
      'the ghost joined on invite',
    );
    t.same(
      corp.delivered.map((d) => d.event.id),
      ['$huge-ts', '$good'],
    );
    t.match(corp.delivered[1]?.event, {
      from: 'matrix:u/alice:hs.test',
      to: 'xmpp:bob@corp.test',
      time: '2023-11-14T22:13:20.000Z',
    });
  },
);

t.test('an invite for a ghost of a domain nobody serves is declined', async (t) => {
  const { hs, txn } = await setup();
  await txn('1', {
    events: [
      {
        type: 'm.room.member',
        event_id: '$inv',
        room_id: '!r:hs.test',
        sender: '@alice:hs.test',
        state_key: '@_parley_x=40nowhere.test:hs.test',
        content: { membership: 'invite' },
      },
    ],
  });
  t.ok(hs.calls.includes('leave @_parley_x=40nowhere.test:hs.test !r:hs.test'));
  t.notOk(hs.calls.some((c) => c.startsWith('join')));
});

t.test('the outbound queue: queued while down, bounded, drained in order when back', async (t) => {
  const { hs, store, corp, state } = await setup();
  t.match(await corp.submit(toAlice('one')), { status: 'delivered' });
  hs.down = true;
  t.match(await corp.submit(toAlice('two')), { status: 'queued' });
  t.equal(state(), 'down');
  t.match(await corp.submit(toAlice('three')), { status: 'queued' });
  const full = await corp.submit(toAlice('four'));
  t.match(full, { status: 'failed', code: 'delivery' });
  t.match(corp.refused.at(-1)?.refusal.reason, /2 events already wait/);
  t.equal(await store.queueLength('matrix:hs:outq'), 2);
  hs.down = false;
  const deadline = Date.now() + 5000;
  while (hs.sent.length < 3 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
  t.same(
    hs.sent.map((s) => s.content.body),
    ['one', 'two', 'three'],
  );
  t.equal(state(), 'up');
  t.equal(await store.queueLength('matrix:hs:outq'), 0);
  t.equal(await store.get('matrix:hs:outq:head'), null);
});

const waitFor = async (f: () => boolean | Promise<boolean>, what: string) => {
  const deadline = Date.now() + 5000;
  while (!(await f())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
};

t.test('crash safety: a replica that dies while draining loses nothing', async (t) => {
  const q = 'matrix:hs:outq';
  // "Dies" = stops executing at that point for good: a promise that never settles.
  const points = [
    'right after taking the head',
    'during the send',
    'after the send, before the ack',
  ] as const;
  for (const diesAt of points) {
    await t.test(diesAt, async (t) => {
      const shared = new MemoryStore();
      let armed: 'take' | 'ack' | null = null;
      let took = false;
      const dead: string[] = [];
      const dying = new Proxy(shared, {
        get(target, prop) {
          // Two replicas share this store, as they would share Redis: it outlives either.
          if (prop === 'kind') return 'redis';
          const v = Reflect.get(target, prop);
          if (typeof v !== 'function') return v;
          return (...args: unknown[]) => {
            const died = (armed === 'take' && took) || (armed === 'ack' && prop === 'ack');
            if (died) {
              dead.push(String(prop));
              return new Promise(() => {});
            }
            if (armed === 'take' && (prop === 'peek' || prop === 'dequeue')) took = true;
            return v.apply(target, args);
          };
        },
      });
      const a = await setup(undefined, {}, dying);
      a.hs.down = true;
      t.match(await a.corp.submit(toAlice('survivor')), { status: 'queued' });
      if (diesAt === 'during the send') a.hs.hang = true;
      else armed = diesAt === 'right after taking the head' ? 'take' : 'ack';
      a.hs.down = false;
      if (diesAt === 'during the send') await waitFor(() => a.hs.calls.includes('send'), 'the drain sending');
      else await waitFor(() => dead.length > 0, 'the replica dying');
      t.equal(await shared.queueLength(q), 1, 'the event is still in the store queue');
      // The dead replica's lease runs out; another replica (same store) starts.
      const owner = await shared.leaseOwner(q);
      if (owner) await shared.releaseLease(q, owner);
      const b = await setup(undefined, {}, shared);
      await waitFor(() => b.hs.sent.some((s) => s.content.body === 'survivor'), 'the survivor sent by B');
      t.equal(await shared.queueLength(q), 0, 'acknowledged and gone');
      armed = null; // let the dead replica's teardown through
      t.equal(b.hs.sent.filter((s) => s.content.body === 'survivor').length, 1, 'B sent it once');
      if (diesAt === 'after the send, before the ack') {
        const first = a.hs.sent.find((s) => s.content.body === 'survivor');
        const again = b.hs.sent.find((s) => s.content.body === 'survivor');
        t.ok(first, 'A had sent it before dying');
        t.equal(
          again?.txnId,
          first?.txnId,
          'the resend has the same transaction id: the homeserver keeps one',
        );
      }
    });
  }
});

t.test('while the homeserver is down the drain retries with a doubling backoff', async (t) => {
  const { hs, corp, store } = await setup({ maxLength: 10, retryInitialMs: 20, retryMaxMs: 160 });
  hs.down = true;
  t.match(await corp.submit(toAlice('patient')), { status: 'queued' });
  const from = hs.callTimes.length;
  await new Promise((r) => setTimeout(r, 1200));
  // Each retry fails at its first homeserver call: one call per attempt.
  const times = hs.callTimes.slice(from);
  const gaps = times.slice(1).map((x, i) => x - (times[i] as number));
  // 20, 40, 80, 160, 160, ... ms: at most ~10 attempts in 1.2 s (a fixed 20 ms retry makes 60).
  t.ok(times.length >= 4 && times.length <= 12, `${times.length} attempts in 1.2 s`);
  t.ok((gaps.at(-1) ?? 0) >= 150, `the gap grew to the maximum (${gaps.join(', ')} ms)`);
  t.equal(await store.queueLength('matrix:hs:outq'), 1, 'the event still waits in the store');
  hs.down = false;
  await waitFor(
    () => hs.sent.some((s) => s.content.body === 'patient'),
    'the event sent when the homeserver is back',
  );
  t.equal(await store.queueLength('matrix:hs:outq'), 0);
});

t.test('events an earlier version queued are sent after an upgrade, in order', async (t) => {
  const q = 'matrix:hs:outq';
  // That version kept bare events in the list, and before it the one being retried under
  // `outq:head`: that one goes first.
  await t.test('a head and a backlog', async (t) => {
    const store = new MemoryStore();
    await store.set(`${q}:head`, JSON.stringify(toAlice('head')));
    await store.enqueue(q, JSON.stringify(toAlice('one')), 10);
    await store.enqueue(q, 'not an event', 10);
    await store.enqueue(q, JSON.stringify(toAlice('two')), 10);
    const { hs } = await setup(undefined, {}, store);
    await waitFor(() => hs.sent.length === 3, 'the old events sent');
    t.same(
      hs.sent.map((s) => s.content.body),
      ['head', 'one', 'two'],
    );
    await waitFor(async () => (await store.queueLength(q)) === 0, 'the queue emptied');
    t.equal(await store.get(`${q}:head`), null, 'the head is gone');
  });
  await t.test('a head alone', async (t) => {
    const store = new MemoryStore();
    await store.set(`${q}:head`, JSON.stringify(toAlice('head')));
    const { hs, corp } = await setup(undefined, {}, store);
    await waitFor(() => hs.sent.length === 1, 'the head sent');
    t.match(await corp.submit(toAlice('new')), { status: 'delivered' });
    t.same(
      hs.sent.map((s) => s.content.body),
      ['head', 'new'],
    );
    t.equal(await store.get(`${q}:head`), null);
  });
});

t.test('a room whose creation timed out is adopted, not made twice', async (t) => {
  const { hs, corp, store } = await setup();
  hs.loseCreateReply = true; // Synapse made the room, Parley never heard
  t.match(await corp.submit(toAlice('first words')), { status: 'queued' });
  await waitFor(() => hs.sent.some((s) => s.content.body === 'first words'), 'the message sent on retry');
  const creates = hs.calls.filter((c) => c.startsWith('createRoom'));
  t.equal(creates.length, 1, 'one room created');
  const sent = hs.sent.find((s) => s.content.body === 'first words');
  t.equal(sent?.roomId, '!room1:hs.test', 'the message went into the room the lost reply was for');
  t.equal(
    await store.hget('matrix:hs:pairs:@alice:hs.test', '@_parley_bob=40corp.test:hs.test'),
    '!room1:hs.test',
  );
  t.equal(await store.get('matrix:hs:dm-attempt:@alice:hs.test|@_parley_bob=40corp.test:hs.test'), null);
  t.match(await corp.submit(toAlice('more')), { status: 'delivered' });
  t.notOk(
    hs.calls.slice(hs.calls.indexOf(creates[0] as string) + 1).some((c) => c.startsWith('createRoom')),
    'later messages use the mapped room',
  );
});

t.test('a queued event the homeserver then refuses is bounced to its sender', async (t) => {
  const { hs, corp } = await setup();
  hs.down = true;
  t.match(await corp.submit(toAlice('doomed')), { status: 'queued' });
  hs.down = false;
  hs.refuse = 'not allowed';
  const deadline = Date.now() + 5000;
  while (corp.refused.length === 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
  t.match(corp.refused[0], {
    event: { body: 'doomed' },
    refusal: { code: 'delivery', reason: /refused it/ },
  });
});

t.test('a non-retryable refusal is reported at once; gateway users are not recipients', async (t) => {
  const { hs, corp } = await setup();
  hs.refuse = 'no';
  t.match(await corp.submit(toAlice('x')), { status: 'failed', code: 'delivery' });
  hs.refuse = null;
  const loop = await corp.submit(
    message('xmpp:bob@corp.test', 'matrix:u/_parley_carol=40corp.test:hs.test', 'x'),
  );
  t.match(loop, { status: 'failed', code: 'delivery' });
  t.match(corp.refused.at(-1)?.refusal.reason, /gateway user/);
});

t.test('the homeserver down at start: the link starts down and comes up by itself', async (t) => {
  const hs = new MemoryHomeserver();
  hs.down = true;
  const { adapter: matrix } = memoryMatrixAdapter({ queue: { retryInitialMs: 20, retryMaxMs: 40 } }, hs);
  const store = new MemoryStore();
  const pipeline = new Pipeline({
    policy: () => compilePolicySource(POLICY, 'p.yaml'),
    audit: new AuditWriter(store.audit, {}),
    store,
    logger: silentLogger,
  });
  await matrix.start(pipeline.register(matrix));
  t.teardown(() => matrix.stop());
  // The state the adapter reported through ctx.setStatus (what /readyz shows).
  const state = () => pipeline.linkStatus().get('hs')?.state;
  t.equal(state(), 'down');
  hs.down = false;
  const deadline = Date.now() + 5000;
  while (state() !== 'up' && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
  t.equal(state(), 'up', 'reported to the gateway for /readyz');
});

t.test('ghost presence is set again before the homeserver times it out, until offline', async (t) => {
  const { hs, corp } = await setup(undefined, { presenceRefreshMs: 30 });
  const presence = (show: 'available' | 'offline') => ({
    kind: 'presence' as const,
    id: `p-${show}`,
    time: new Date().toISOString(),
    from: 'xmpp:bob@corp.test',
    to: 'matrix:u/alice:hs.test',
    adapter: 'corp',
    traceId: 't',
    show,
  });
  await corp.submit(presence('available'));
  const online = 'presence @_parley_bob=40corp.test:hs.test online';
  await new Promise((r) => setTimeout(r, 200));
  t.ok(hs.calls.filter((c) => c === online).length >= 3, 'refreshed');
  await corp.submit(presence('offline'));
  await new Promise((r) => setTimeout(r, 60));
  const after = hs.calls.filter((c) => c === online).length;
  await new Promise((r) => setTimeout(r, 150));
  t.equal(hs.calls.filter((c) => c === online).length, after, 'no refresh after offline');
});

t.test('a refresh never overwrites a newer presence that arrived while it ran', async (t) => {
  const { hs, corp } = await setup(undefined, { presenceRefreshMs: 20 });
  const ghost = '@_parley_bob=40corp.test:hs.test';
  const presence = (show: 'available' | 'away', id: string) => ({
    kind: 'presence' as const,
    id,
    time: new Date().toISOString(),
    from: 'xmpp:bob@corp.test',
    to: 'matrix:u/alice:hs.test',
    adapter: 'corp',
    traceId: 't',
    show,
  });
  await corp.submit(presence('available', 'p-1'));
  // Writes now take longer than the refresh period: a refresh starts while the new
  // presence is being written, having read the old one.
  hs.presenceDelayMs = 100;
  await corp.submit(presence('away', 'p-2'));
  await new Promise((r) => setTimeout(r, 400));
  const mine = hs.applied.filter((a) => a.startsWith(ghost));
  const first = mine.indexOf(`${ghost} unavailable`);
  t.ok(first >= 0, 'the new presence was written');
  t.same(
    mine.slice(first + 1).filter((a) => a !== `${ghost} unavailable`),
    [],
    'nothing older was written after it',
  );
  t.equal(mine.at(-1), `${ghost} unavailable`, 'the homeserver ends with the new presence');
});

t.test('encrypted events in a bridged room get a notice (once), not silence', async (t) => {
  const { hs, corp, txn } = await setup();
  const ghost = '@_parley_bob=40corp.test:hs.test';
  const enc = (id: string) => ({
    type: 'm.room.encrypted',
    event_id: id,
    room_id: '!dm:hs.test',
    sender: '@alice:hs.test',
    content: { algorithm: 'm.megolm.v1.aes-sha2', ciphertext: 'x' },
  });
  await txn('1', {
    events: [
      {
        type: 'm.room.member',
        event_id: '$inv',
        room_id: '!dm:hs.test',
        sender: '@alice:hs.test',
        state_key: ghost,
        content: { membership: 'invite' },
      },
      enc('$e1'),
      enc('$e2'),
    ],
  });
  const notices = hs.sent.filter((s) => s.content.msgtype === 'm.notice');
  t.equal(notices.length, 1);
  t.match(notices[0], { asUser: ghost, roomId: '!dm:hs.test', content: { body: /end-to-end encrypted/ } });
  t.equal(corp.delivered.length, 0);
});
