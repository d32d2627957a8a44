import t from 'tap';
import { buildAppserviceApp, type Transaction } from '../../../src/adapters/matrix/appservice.js';
import { namespacedState } from '../../../src/core/delivery/state.js';
import { silentLogger } from '../../../src/core/logger.js';
import { MemoryStore } from '../../../src/store/memory.js';

const HS = 'hs-token-0123456789abcdef';

function setup(over: { fail?: number; slowMs?: number; store?: MemoryStore } = {}) {
  const store = over.store ?? new MemoryStore();
  const seen: Transaction[] = [];
  let fail = over.fail ?? 0;
  const app = buildAppserviceApp({
    hsToken: HS,
    state: namespacedState(store, 'matrix:hs:'),
    bodyLimit: 4096,
    logger: silentLogger,
    claimWaitMs: 300,
    handlers: {
      onTransaction: async (txn) => {
        if (over.slowMs) await new Promise((r) => setTimeout(r, over.slowMs));
        if (fail > 0) {
          fail--;
          throw new Error('boom');
        }
        seen.push(txn);
      },
      onUserQuery: async (userId) => userId.startsWith('@_parley_'),
    },
  });
  return { app, store, seen };
}

const auth = { authorization: `Bearer ${HS}` };
const put = (
  app: ReturnType<typeof setup>['app'],
  txnId: string,
  payload: unknown,
  headers: Record<string, string> = auth,
) =>
  app.inject({
    method: 'PUT',
    url: `/_matrix/app/v1/transactions/${txnId}`,
    headers,
    payload: payload as object,
  });

t.test('hs_token: missing -> 401, wrong -> 403, Bearer or legacy access_token -> accepted', async (t) => {
  const { app, seen } = setup();
  const none = await put(app, '1', { events: [] }, {});
  t.equal(none.statusCode, 401);
  t.match(none.json(), { errcode: 'M_UNAUTHORIZED' });
  const wrong = await put(app, '1', { events: [] }, { authorization: 'Bearer nope' });
  t.equal(wrong.statusCode, 403);
  t.match(wrong.json(), { errcode: 'M_FORBIDDEN' });
  const prefix = await put(app, '1', { events: [] }, { authorization: `Bearer ${HS}x` });
  t.equal(prefix.statusCode, 403, 'a longer token is not accepted');
  const badQuery = await app.inject({ method: 'GET', url: '/_matrix/app/v1/users/@x:h?access_token=bad' });
  t.equal(badQuery.statusCode, 403);
  t.equal(seen.length, 0, 'nothing processed');
  const legacy = await app.inject({
    method: 'PUT',
    url: `/_matrix/app/v1/transactions/2?access_token=${HS}`,
    payload: { events: [] },
  });
  t.equal(legacy.statusCode, 200);
  t.equal((await put(app, '3', { events: [] })).statusCode, 200);
  t.equal(seen.length, 2);
});

t.test('a transaction is processed once however often it is sent', async (t) => {
  const store = new MemoryStore();
  const a = setup({ store });
  const body = { events: [{ type: 'm.room.message' }], ephemeral: [{ type: 'm.typing' }] };
  for (let i = 0; i < 3; i++) t.equal((await put(a.app, 'abc', body)).statusCode, 200);
  t.equal(a.seen.length, 1);
  t.same(a.seen[0], { txnId: 'abc', events: body.events, ephemeral: body.ephemeral });
  // Another replica (or a restart) over the same store.
  const b = setup({ store });
  t.equal((await put(b.app, 'abc', body)).statusCode, 200);
  t.equal(b.seen.length, 0, 'not processed again');
});

t.test('an id reused with other events is a new transaction; a retry with a new age is not', async (t) => {
  // Synapse on SQLite restarts its transaction counter after a restart.
  const { app, seen } = setup();
  const ev = (id: string, age: number) => ({ type: 'm.room.message', event_id: id, unsigned: { age } });
  await put(app, '1', { events: [ev('$a', 10)], ephemeral: [{ type: 'm.typing' }] });
  await put(app, '1', { events: [ev('$a', 2010)] }); // the recoverer's retry: new age, no ephemeral
  await put(app, '1', { events: [ev('$a', 4010)] });
  await put(app, '1', { events: [ev('$b', 10)] }); // after a homeserver restart
  t.same(
    seen.map((s) => s.events.map((e) => (e as { event_id: string }).event_id)),
    [['$a'], ['$a'], ['$b']],
    'the retry without ephemeral events is handed over once more; its room events are deduplicated by event id',
  );
});

t.test('concurrent deliveries of one transaction: one processes, the other waits for it', async (t) => {
  const { app, seen } = setup({ slowMs: 100 });
  const [x, y] = await Promise.all([put(app, 'c1', { events: [] }), put(app, 'c1', { events: [] })]);
  t.same([x.statusCode, y.statusCode], [200, 200]);
  t.equal(seen.length, 1);
});

t.test('a claim held longer than the wait answers 503 so the homeserver retries', async (t) => {
  const { app, seen } = setup({ slowMs: 800 });
  const first = put(app, 'slow', { events: [] });
  await new Promise((r) => setTimeout(r, 20));
  const second = await put(app, 'slow', { events: [] });
  t.equal(second.statusCode, 503);
  t.equal((await first).statusCode, 200);
  t.equal(seen.length, 1);
});

t.test('a failed transaction is released so that the retry processes it', async (t) => {
  const { app, seen } = setup({ fail: 1 });
  const failed = await put(app, 'f', { events: [] });
  t.equal(failed.statusCode, 500);
  t.match(failed.json(), { errcode: 'M_UNKNOWN' });
  t.equal((await put(app, 'f', { events: [] })).statusCode, 200);
  t.equal(seen.length, 1);
});

t.test(
  'the stable ephemeral key wins over the MSC2409 duplicate; the unstable one alone is used',
  async (t) => {
    const { app, seen } = setup();
    await put(app, 'e1', {
      events: [],
      ephemeral: [{ type: 'm.typing', n: 1 }],
      'de.sorunome.msc2409.ephemeral': [{ type: 'm.typing', n: 1 }],
    });
    await put(app, 'e2', { events: [], 'de.sorunome.msc2409.ephemeral': [{ type: 'm.receipt' }] });
    t.same(
      seen.map((s) => s.ephemeral),
      [[{ type: 'm.typing', n: 1 }], [{ type: 'm.receipt' }]],
    );
  },
);

t.test('bad bodies: 400 with a reason, 413 when too large, no processing', async (t) => {
  const { app, seen } = setup();
  const noEvents = await put(app, 'b1', { nope: 1 });
  t.equal(noEvents.statusCode, 400);
  t.match(noEvents.json(), { errcode: 'M_BAD_JSON', error: /events/ });
  const notArray = await put(app, 'b2', { events: 'x' });
  t.equal(notArray.statusCode, 400);
  const badJson = await app.inject({
    method: 'PUT',
    url: '/_matrix/app/v1/transactions/b3',
    headers: { ...auth, 'content-type': 'application/json' },
    payload: '{"events": [',
  });
  t.equal(badJson.statusCode, 400);
  t.match(badJson.json(), { errcode: 'M_NOT_JSON' });
  const big = await put(app, 'b4', { events: [{ body: 'x'.repeat(5000) }] });
  t.equal(big.statusCode, 413);
  t.match(big.json(), { errcode: 'M_TOO_LARGE' });
  const unauthBig = await put(app, 'b5', { events: [{ body: 'x'.repeat(5000) }] }, {});
  t.equal(unauthBig.statusCode, 401, 'the token is checked before the body is read');
  t.equal(seen.length, 0);
  t.equal((await put(app, 'b1', { events: [] })).statusCode, 200, 'a rejected id is not remembered');
});

t.test('user and room queries, ping, unknown routes', async (t) => {
  const { app } = setup();
  const get = (url: string) => app.inject({ method: 'GET', url, headers: auth });
  t.equal((await get('/_matrix/app/v1/users/%40_parley_bob%3Dcorp.test%3Ahs.test')).statusCode, 200);
  const unknown = await get('/_matrix/app/v1/users/%40someone%3Ahs.test');
  t.equal(unknown.statusCode, 404);
  t.match(unknown.json(), { errcode: 'M_NOT_FOUND' });
  t.equal((await get('/_matrix/app/v1/rooms/%23x%3Ahs.test')).statusCode, 404);
  t.equal(
    (await app.inject({ method: 'POST', url: '/_matrix/app/v1/ping', headers: auth, payload: {} }))
      .statusCode,
    200,
  );
  const other = await get('/_matrix/app/v1/thirdparty/protocol/x');
  t.equal(other.statusCode, 404);
  t.match(other.json(), { errcode: 'M_UNRECOGNIZED' });
});
