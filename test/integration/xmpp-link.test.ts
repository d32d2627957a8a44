// The component link against a real Prosody that is stopped and restarted mid-conversation:
// readiness follows the link, events for a down link wait in the bounded store queue and
// are delivered in order when it returns, and are bounced to their senders (never dropped)
// when they wait too long or the queue is full. A wrong secret keeps the link down with
// the reason.
import t from 'tap';
import type { XmppAdapter } from '../../src/adapters/xmpp/index.js';
import { MemoryAdapter, message } from '../fixtures/memory-adapter.js';
import {
  connectedLink,
  login,
  type Parley,
  parley,
  type TestUser,
  xmlParse,
  xmppAdapter,
} from '../fixtures/xmpp-setup.js';
import { type ProsodyHandle, startProsody } from '../harness/prosody.js';

let prosody: ProsodyHandle;
let gw: Parley;
let corp: XmppAdapter;
let hs: MemoryAdapter;
let alice: TestUser | null = null;

const BOB = 'matrix:u/bob:hs.test';
const ALICE = 'xmpp:alice@corp.test';

t.before(async () => {
  prosody = await startProsody({
    hosts: [{ domain: 'corp.test', users: { alice: 'pw-alice' } }],
    components: [
      { domain: 'gw.corp.test', secret: 'corp-secret' },
      { domain: 'raw.corp.test', secret: 'raw-secret' },
    ],
    // Messages for a user who is not (yet) back online wait on the server.
    offline: true,
  });
  gw = parley();
  corp = xmppAdapter('corp', prosody.componentService, 'gw.corp.test', 'corp-secret', ['corp.test'], {
    queue: { maxLength: 3, timeoutMs: 3000 },
    reconnect: { initialDelayMs: 100, maxDelayMs: 400 },
    connectTimeoutMs: 2000,
  });
  hs = new MemoryAdapter('hs', 'matrix', ['hs.test']);
  await gw.add(corp);
  await gw.add(hs);
  await corp.whenUp();
});

t.teardown(async () => {
  await alice?.stop();
  await gw?.stop();
  await prosody?.destroy();
});

async function until(cond: () => boolean, ms = 8000, what = 'condition'): Promise<void> {
  const deadline = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`${what} not met within ${ms} ms`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

t.test('the link goes down with the server; a queued event that waits too long is bounced', async (t) => {
  await prosody.stop();
  await until(() => gw.pipeline.linkStatus().get('corp')?.state === 'down', 5000, 'link down');
  t.equal(gw.pipeline.linkStatus().get('corp')?.state, 'down', 'readiness shows the link down');
  const out = await hs.submit(message(BOB, ALICE, 'will expire', { id: 'q-expire' }));
  t.match(out, { status: 'queued', decision: 'allow' });
  t.equal(corp.queued, 1);
  await until(() => hs.refused.some((r) => r.event.id === 'q-expire'), 5000, 'bounce');
  const r = hs.refused.find((x) => x.event.id === 'q-expire');
  t.match(r?.refusal, { code: 'delivery', reason: /unreachable for longer than/ });
  t.equal(corp.queued, 0);
  // The trail says what happened: queued, then expired with the reason the sender was told.
  const outcomes = async () =>
    (await gw.store.audit.range(1, 1000))
      .filter((x) => x.eventId === 'q-expire' && x.category === 'outcome')
      .map((x) => [x.outcome, x.outcomeReason]);
  const deadline = Date.now() + 5000;
  while ((await outcomes()).length < 2 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
  t.match(await outcomes(), [
    ['queued', null],
    ['expired', /unreachable for longer than/],
  ]);
});

t.test('the queue is bounded: beyond it deliveries fail visibly', async (t) => {
  for (const id of ['q-1', 'q-2', 'q-3']) {
    t.match(await hs.submit(message(BOB, ALICE, `queued ${id}`, { id })), { status: 'queued' });
  }
  const full = await hs.submit(message(BOB, ALICE, 'no room', { id: 'q-4' }));
  t.match(full, { status: 'failed', code: 'delivery' });
  t.match(hs.refused.find((x) => x.event.id === 'q-4')?.refusal, {
    code: 'delivery',
    reason: /already wait/,
  });
});

t.test('when the server returns the link reconnects and the queue is delivered in order', async (t) => {
  await prosody.restart();
  await corp.whenUp(5000);
  t.equal(gw.pipeline.linkStatus().get('corp')?.state, 'up');
  await until(() => corp.queued === 0, 5000, 'queue flushed');
  // alice logs in after the flush; the server kept the messages for her.
  alice = await login(prosody.c2sService, 'corp.test', 'alice', 'pw-alice');
  const ids: string[] = [];
  for (let i = 0; i < 3; i++) {
    const m = await alice.next(
      (el) => el.name === 'message' && el.getChildText('body')?.startsWith('queued') === true,
    );
    ids.push(m.attrs.id ?? '');
    t.equal(m.attrs.from, 'bob%hs.test@gw.corp.test');
  }
  t.same(ids, ['q-1', 'q-2', 'q-3']);
  t.notOk(
    hs.refused.some((x) => ['q-1', 'q-2', 'q-3'].includes(x.event.id)),
    'nothing that was delivered was bounced',
  );
});

t.test('after the reconnect traffic flows both ways again', async (t) => {
  await alice!.send(
    xmlParse(`<message to="bob%hs.test@gw.corp.test" type="chat" id="after-1"><body>back</body></message>`),
  );
  await until(() => hs.delivered.some((d) => d.event.id === 'after-1'), 5000, 'delivery to hs');
  t.match(await hs.submit(message(BOB, ALICE, 'welcome back', { id: 'after-2' })), { status: 'delivered' });
  const m = await alice!.next((el) => el.attrs.id === 'after-2');
  t.equal(m.getChildText('body'), 'welcome back');
});

t.test('a wrong secret keeps the link down and says why', async (t) => {
  const other = parley();
  const bad = xmppAdapter('bad', prosody.componentService, 'gw.corp.test', 'wrong-secret', ['corp.test'], {
    reconnect: { initialDelayMs: 100, maxDelayMs: 200 },
    connectTimeoutMs: 2000,
  });
  t.teardown(() => other.stop());
  await other.add(bad);
  const reported = () => other.pipeline.linkStatus().get('bad');
  await until(() => reported()?.state === 'down', 5000, 'bad link down');
  t.match(reported()?.detail, /not-authorized|conflict|closed/, String(reported()?.detail));
  await t.rejects(bad.whenUp(500));
});

t.test('the link sends without Nagle delays (TCP_NODELAY)', async (t) => {
  const link = await connectedLink(prosody.componentService, 'raw.corp.test', 'raw-secret');
  t.teardown(() => link.stop());
  const socket = link.socket as object | null;
  t.ok(socket, 'a socket while up');
  // Node keeps the TCP_NODELAY it set on the handle under this symbol (net.js), so this
  // reads what the kernel was told, not a flag of Parley's own.
  const key = Object.getOwnPropertySymbols(socket).find((s) => s.description === 'kSetNoDelay');
  t.ok(key, "Node's net.Socket tracks TCP_NODELAY");
  t.equal((socket as Record<symbol, unknown>)[key as symbol], true, 'Nagle is off on the component socket');
});
