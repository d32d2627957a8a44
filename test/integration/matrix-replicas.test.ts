// Two Parley replicas of one Matrix link sharing a real Redis, against a real Synapse: the
// first events for a <Matrix user, remote user> pair reach both replicas at once, and only
// one direct room is opened; both replicas deliver into it. And a room an interrupted
// attempt made (its reply lost) is found on Synapse and used.
import { join } from 'node:path';
import t from 'tap';
import { loadRegistration } from '../../src/adapters/matrix/config.js';
import { SdkHomeserver } from '../../src/adapters/matrix/homeserver.js';
import { silentLogger } from '../../src/core/logger.js';
import { RedisStore } from '../../src/store/redis.js';
import { ghostOf, makeWorld, type Replica, startReplica, type World } from '../fixtures/matrix-setup.js';
import { TestUser, until } from '../fixtures/matrix-users.js';
import { message } from '../fixtures/memory-adapter.js';
import { type RedisHandle, startRedis } from '../harness/redis.js';

t.setTimeout(240_000);

let redis: RedisHandle;
let w: World;
let second: Replica;
let secondStore: RedisStore | undefined;
let alice: TestUser;

t.before(async () => {
  redis = await startRedis();
  const first = new RedisStore({ url: redis.url, prefix: 'replicas:' });
  await first.ready();
  // The default request timeout: on a loaded machine Synapse may take over 5 s to create a
  // room, and a timed-out create is another story (the unit tests adopt its room).
  w = await makeWorld({ store: first, requestTimeoutMs: 20_000 });
  secondStore = new RedisStore({ url: redis.url, prefix: 'replicas:' });
  await secondStore.ready();
  second = await startReplica(w, secondStore);
  alice = await TestUser.create(w.synapse, 'alice');
});
t.teardown(async () => {
  await alice?.stop();
  await second?.stop();
  await secondStore?.close();
  await w?.close();
  await redis?.stop();
});

t.test('the first events of a pair on two replicas at once open one room', async (t) => {
  // Several remote users at once, each writing to alice through both replicas simultaneously.
  const senders = ['bob', 'dave', 'erin'];
  await Promise.all(
    senders.flatMap((u) => [
      w.corp.submit(message(`xmpp:${u}@corp.test`, 'matrix:u/alice:hs.test', `${u} via replica 1`)),
      second.corp.submit(message(`xmpp:${u}@corp.test`, 'matrix:u/alice:hs.test', `${u} via replica 2`)),
    ]),
  );
  await new Promise((r) => setTimeout(r, 1000)); // a late duplicate room would show by now
  for (const u of senders) {
    const ghost = ghostOf(u, 'corp.test');
    const one = await alice.waitFor(
      (s) => s.section === 'timeline' && s.sender === ghost && s.content.body === `${u} via replica 1`,
      `${u}'s message through replica 1`,
    );
    const two = await alice.waitFor(
      (s) => s.section === 'timeline' && s.sender === ghost && s.content.body === `${u} via replica 2`,
      `${u}'s message through replica 2`,
    );
    t.equal(one.roomId, two.roomId, `${u}: both replicas delivered into the same room`);
    const invites = alice.seen.filter((s) => s.section === 'invite' && s.sender === ghost);
    t.equal(invites.length, 1, `${u}: alice was invited once`);
    const mapped = await w.store.hget(`matrix:hs:pairs:${alice.userId}`, ghost);
    t.equal(mapped, one.roomId, `${u}: the shared mapping names that room`);
  }
  // Synapse's view: the ghosts created exactly one room each with alice.
  const joined = await until(async () => {
    const rooms = (await alice.client.getJoinedRooms()).joined_rooms;
    return rooms.length >= senders.length ? rooms : null;
  }, 'alice in the rooms');
  t.equal(joined.length, senders.length, 'one room per remote user, no duplicates');
});

t.test('a room an interrupted attempt made is found and used, not doubled', async (t) => {
  // As if a replica's createRoom timed out after Synapse made the room: the room exists,
  // the attempt marker is set, no mapping. The next delivery must adopt that room.
  const reg = loadRegistration(join(w.dir, 'matrix-registration.yaml'));
  const hs = new SdkHomeserver({
    baseUrl: w.synapse.url,
    asToken: reg.as_token,
    logger: silentLogger,
    timeoutMs: 20_000,
  });
  const ghost = ghostOf('frank', 'corp.test');
  await hs.register(ghost.slice(1, ghost.indexOf(':')));
  const orphan = await hs.createDirectRoom(ghost, alice.userId);
  // A room of the ghost with someone else must not be taken for it.
  const other = await TestUser.create(w.synapse, 'olga');
  await hs.createDirectRoom(ghost, other.userId);
  t.teardown(() => other.stop());
  await w.store.set(`matrix:hs:dm-attempt:${alice.userId}|${ghost}`, '1');
  t.match(
    await second.corp.submit(
      message('xmpp:frank@corp.test', 'matrix:u/alice:hs.test', 'frank after a lost reply'),
    ),
    { status: 'delivered' },
  );
  const seen = await alice.waitFor(
    (s) => s.section === 'timeline' && s.sender === ghost && s.content.body === 'frank after a lost reply',
    "frank's message",
  );
  t.equal(seen.roomId, orphan, 'delivered into the room the interrupted attempt made');
  t.equal(
    alice.seen.filter((s) => s.section === 'invite' && s.sender === ghost).length,
    1,
    'alice was invited once',
  );
  t.equal(await w.store.get(`matrix:hs:dm-attempt:${alice.userId}|${ghost}`), null, 'the marker is cleared');
});
