// Faults against a real Synapse: the homeserver down (outbound events wait in the store
// queue and arrive once, in order, when it is back, also across a Parley restart), Parley
// down (Synapse retries its transactions; each event is processed once), replayed
// transactions, and the room mapping surviving a Parley restart. Synapse starts once for this file (and is restarted by it).
import t from 'tap';
import type { CanonicalEvent } from '../../src/core/model.js';
import { ghostOf, makeWorld, type World } from '../fixtures/matrix-setup.js';
import { type Seen, TestUser, until } from '../fixtures/matrix-users.js';
import { message } from '../fixtures/memory-adapter.js';

t.setTimeout(240_000);

let w: World;
let alice: TestUser;
const bob = ghostOf('bob', 'corp.test');
let dm = '';
let presenceSetAt = 0;
/** The Matrix link's state as the adapter reported it (ctx.setStatus), i.e. what /readyz shows. */
const linkState = () => w.pipeline.linkStatus().get('hs')?.state;

t.before(async () => {
  w = await makeWorld({ queue: { retryInitialMs: 200, retryMaxMs: 800 } });
  alice = await TestUser.create(w.synapse, 'alice');
  const res = await alice.client.createRoom({ invite: [bob], is_direct: true });
  dm = res.room_id;
  await alice.waitFor(
    (s) =>
      s.roomId === dm && s.type === 'm.room.member' && s.state_key === bob && s.content.membership === 'join',
    'the ghost joining',
  );
  await w.corp.submit({
    kind: 'presence',
    id: 'p-bob',
    time: new Date().toISOString(),
    from: 'xmpp:bob@corp.test',
    to: 'matrix:u/alice:hs.test',
    adapter: 'corp',
    traceId: 'p-bob',
    show: 'available',
    status: 'here',
  });
  presenceSetAt = Date.now();
});
t.teardown(async () => {
  await alice?.stop();
  await w?.close();
});

const fromBob = (body: string) => (s: Seen) =>
  s.section === 'timeline' && s.sender === bob && s.roomId === dm && s.content.body === body;
const count = (pred: (e: CanonicalEvent) => boolean) => w.corp.delivered.filter((d) => pred(d.event)).length;

t.test('Synapse down: outbound events are queued in the store and delivered once, in order', async (t) => {
  await w.synapse.stop();
  const first = await w.corp.submit(message('xmpp:bob@corp.test', 'matrix:u/alice:hs.test', 'while down 1'));
  t.match(first, { status: 'queued' }, 'the pipeline is told it is queued');
  const second = await w.corp.submit(message('xmpp:bob@corp.test', 'matrix:u/alice:hs.test', 'while down 2'));
  t.match(second, { status: 'queued' });
  t.equal(linkState(), 'down', 'the link reports down');
  t.equal(await w.store.queueLength('matrix:hs:outq'), 2, 'both wait in the store queue');
  t.equal(w.corp.refused.length, 0, 'nothing refused');

  await w.synapse.restart();
  const one = await alice.waitFor(fromBob('while down 1'), 'the first queued message', 30_000);
  const two = await alice.waitFor(fromBob('while down 2'), 'the second queued message', 30_000);
  const order = alice.seen.indexOf(one) < alice.seen.indexOf(two);
  t.ok(order, 'in order');
  await until(() => linkState() === 'up', 'the link up again');
  await new Promise((r) => setTimeout(r, 500));
  t.equal(alice.seen.filter(fromBob('while down 1')).length, 1, 'exactly once');
  t.equal(alice.seen.filter(fromBob('while down 2')).length, 1, 'exactly once');
  t.equal(await w.store.queueLength('matrix:hs:outq'), 0, 'the queue is empty');

  // Synapse on SQLite may number transactions from 1 again after its restart (when none was
  // pending): ids already seen must not make Parley drop the new transactions.
  const ids: string[] = [];
  for (let i = 0; i < 4; i++)
    ids.push(await alice.send(dm, { msgtype: 'm.text', body: `after the restart ${i}` }));
  await until(
    () => ids.every((id) => count((e) => e.id === id) === 1),
    'the messages sent after the restart',
  );
  t.pass('transactions with reused ids are processed');
});

t.test('events queued while Synapse is down survive a Parley restart', async (t) => {
  await w.synapse.stop();
  const queued = await w.corp.submit(
    message('xmpp:bob@corp.test', 'matrix:u/alice:hs.test', 'across a restart'),
  );
  t.match(queued, { status: 'queued' });
  await w.restartParley(); // a new process over the same store, Synapse still down
  t.equal(await w.store.queueLength('matrix:hs:outq'), 1, 'the event waits in the store');
  t.equal(linkState(), 'down', 'the new process starts with the link down');
  await w.synapse.restart();
  const seen = await alice.waitFor(
    fromBob('across a restart'),
    'the event queued before the restart',
    30_000,
  );
  t.equal(seen.roomId, dm, 'in the mapped room');
  await until(async () => (await w.store.queueLength('matrix:hs:outq')) === 0, 'the queue drained');
  await new Promise((r) => setTimeout(r, 500));
  t.equal(alice.seen.filter(fromBob('across a restart')).length, 1, 'exactly once');
});

t.test('Parley down: Synapse retries the transaction; the event is processed once', async (t) => {
  await w.matrix.stop();
  const id = await alice.send(dm, { msgtype: 'm.text', body: 'sent while Parley is down' });
  await new Promise((r) => setTimeout(r, 1500)); // Synapse tries, fails and backs off
  t.equal(
    count((e) => e.id === id),
    0,
    'not delivered while down',
  );
  await w.restartParley();
  await until(() => count((e) => e.id === id) === 1, 'the retried transaction', 40_000);
  await new Promise((r) => setTimeout(r, 1000));
  t.equal(
    count((e) => e.id === id),
    1,
    'exactly once',
  );
});

t.test('a replayed transaction is processed once, also after a restart', async (t) => {
  const reg = await import('node:fs').then((fs) =>
    fs.readFileSync(`${w.dir}/matrix-registration.yaml`, 'utf8'),
  );
  const hsToken = /hs_token: (\S+)/.exec(reg)?.[1] as string;
  const event = {
    type: 'm.room.message',
    event_id: '$replayed-event',
    room_id: dm,
    sender: alice.userId,
    origin_server_ts: Date.now(),
    content: { msgtype: 'm.text', body: 'replayed' },
  };
  const put = () =>
    fetch(`${w.matrix.url}/_matrix/app/v1/transactions/replay-1`, {
      method: 'PUT',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${hsToken}` },
      body: JSON.stringify({ events: [event] }),
    });
  t.equal((await put()).status, 200);
  t.equal((await put()).status, 200);
  t.equal(
    count((e) => e.id === '$replayed-event'),
    1,
    'delivered once',
  );
  await w.restartParley(); // a new process (and a new remote-network fixture) over the same store
  t.equal((await put()).status, 200);
  await new Promise((r) => setTimeout(r, 200));
  t.equal(
    count((e) => e.id === '$replayed-event'),
    0,
    'not again after the restart',
  );
});

t.test('the room mapping survives a Parley restart', async (t) => {
  await w.restartParley();
  await w.corp.submit(message('xmpp:bob@corp.test', 'matrix:u/alice:hs.test', 'after restart'));
  const seen = await alice.waitFor(
    (s) => s.section === 'timeline' && s.sender === bob && s.content.body === 'after restart',
    'the message after the restart',
  );
  t.equal(seen.roomId, dm, 'same room');
  t.notOk(
    alice.seen.some((s) => s.section === 'invite' && s.sender === bob),
    'no new room was opened',
  );
});

t.test('a ghost stays online past the 30 s presence timeout of Synapse (and across restarts)', async (t) => {
  // Synapse turns a user who does not sync offline 30 s after their last activity.
  const wait = presenceSetAt + 36_000 - Date.now();
  if (wait > 0) await new Promise((r) => setTimeout(r, wait));
  t.match(await alice.client.getPresence(bob), { presence: 'online', status_msg: 'here' });
});
