// The adapter contract: what every adapter shows, whatever its network. One suite, run
// against each adapter with an in-memory far end (a fake link, transport or homeserver:
// xmpp.test.ts, sip.test.ts, matrix.test.ts), through a real Pipeline on the memory store,
// as the store contract (test/store/contract.ts) runs against each store. The other side of
// every conversation is a MemoryAdapter on another network, at `peer.test` (allowed) and
// `blocked.test` (denied by a rule with a reason); it carries no edits, formatting or
// attachments, so that a message from the adapter's network can be degraded on its way.
import type { Test } from 'tap';
import type {
  Adapter,
  Capabilities,
  LinkState,
  RefusalCode,
  SubmitOutcome,
} from '../../../src/core/adapter.js';
import { formatAddress } from '../../../src/core/address.js';
import { AuditWriter } from '../../../src/core/audit/writer.js';
import { type KindTable, kindsOf } from '../../../src/core/kind-table.js';
import { silentLogger } from '../../../src/core/logger.js';
import { type CanonicalEvent, EVENT_KINDS, type EventKind, type Network } from '../../../src/core/model.js';
import { Pipeline } from '../../../src/core/pipeline.js';
import { compilePolicySource } from '../../../src/core/policy/index.js';
import { MemoryStore } from '../../../src/store/memory.js';
import { fullCapabilities, MemoryAdapter, message } from '../../fixtures/memory-adapter.js';

/** Something the far end (fake link, transport or homeserver) received from the adapter. */
export interface FarEndItem {
  /** Whom it is for, as `user@domain` (a ghost read back as the user it stands for). */
  to: string;
  /** Whom it is from, as `user@domain`. */
  from: string;
  /** What it is in the network's terms, e.g. `message chat`, `response 403`, `m.room.message m.notice`. */
  what: string;
  /** The text it carries: a body, an error's text, a reason phrase and Warning. */
  text: string;
}

export interface InboundMessage {
  /** A user of the adapter's network (canonical URI). */
  from: string;
  /** A user of another network (canonical URI). */
  to: string;
  body: string;
  /** Carry what the other network cannot (an edit, formatting), so that it is degraded. */
  degradable?: boolean;
}

/** A far end that answers each request (a SIP next hop, a homeserver), holding its answers. */
export interface Hold {
  /** It holds a request it has not answered. */
  holding(): boolean;
  release(): void;
}

/** One adapter under test with its in-memory far end. */
export interface Rig {
  adapter: Adapter;
  /** The far end becomes unreachable (the connection drops, the next hop or homeserver stops answering). */
  linkDown(): void;
  linkUp(): void;
  /** Everything the far end received from the adapter, in order. */
  received(): FarEndItem[];
  /** A user of the network sends a message to the adapter, as the network would hand it over. */
  inject(m: InboundMessage): Promise<void>;
  /** Hold the far end's answers; null when the network has no answer to wait for. */
  hold(): Hold | null;
  cleanup?(): Promise<void>;
}

export interface AdapterHarness {
  network: Network;
  /** The domain whose users live behind the adapter. */
  domain: string;
  /** How the far end sees each thing the contract asks for (FarEndItem.what). */
  shows: { delivered: string; refused: string; notice: string };
  /**
   * What a delivery gets while the link is down: `queued`, to be sent when it is back, or,
   * for an adapter without a queue, the outcome it answers instead.
   */
  whileDown: 'queued' | { status: 'failed'; code: RefusalCode };
  /** The adapter's outbound kind table, its handlers never called: its declared kinds derive from it. */
  kindTable(): KindTable;
  /** A fresh adapter and far end, not started. */
  build(env: { pipeline: Pipeline }): Rig | Promise<Rig>;
}

const PEER = 'peer.test';
const BLOCKED = 'blocked.test';
const REASON = 'Talking to blocked.test is not allowed';

const policyFor = (domain: string) => `
apiVersion: parley/v1
kind: Policy
metadata: { name: adapter-contract, version: "1" }
zones:
  home: { domains: [${domain}] }
  peer: { domains: [${PEER}] }
defaults: { decision: deny }
rules:
  - id: no-blocked
    match: { party: { domain: [${BLOCKED}] } }
    effect: deny
    reason: ${REASON}
  - id: talk
    match: { between: [{ zone: home }, { zone: peer }] }
    effect: allow
`;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Wait for a condition the adapter brings about asynchronously (false if it never holds). */
async function until(cond: () => boolean, ms = 10_000): Promise<boolean> {
  const deadline = Date.now() + ms;
  while (!cond() && Date.now() < deadline) await sleep(5);
  return cond();
}

/** The adapter as registered, declaring `kinds`, counting the deliveries it is handed. */
function declaring(adapter: Adapter, kinds: ReadonlySet<EventKind>) {
  const capabilities: Capabilities = { ...adapter.capabilities, kinds };
  const counted = { deliveries: 0 };
  const deliver: Adapter['deliver'] = (d) => {
    counted.deliveries++;
    return adapter.deliver(d);
  };
  // Everything else is the adapter's own (its methods bound to it: they use private fields).
  const wrapper = new Proxy<Adapter>(adapter, {
    get(target, prop) {
      if (prop === 'capabilities') return capabilities;
      if (prop === 'deliver') return deliver;
      const value: unknown = Reflect.get(target, prop, target);
      return typeof value === 'function' ? value.bind(target) : value;
    },
  });
  return { wrapper, counted };
}

let seq = 0;
/** An event of each kind, from `from` to `to`. */
function sample(kind: EventKind, from: string, to: string): CanonicalEvent {
  const id = `contract-${kind}-${++seq}`;
  const base = { id, time: new Date().toISOString(), from, to, adapter: 'peer', traceId: `tr-${id}` };
  switch (kind) {
    case 'message':
      return { kind, ...base, body: `a ${kind}` };
    case 'presence':
      return { kind, ...base, show: 'away', status: 'at lunch' };
    case 'chatstate':
      return { kind, ...base, state: 'composing' };
    case 'receipt':
      return { kind, ...base, receipt: 'displayed', messageId: 'contract-earlier' };
    case 'call':
      return {
        kind,
        ...base,
        action: 'invite',
        callId: `call-${id}`,
        session: {
          media: [
            {
              media: 'audio',
              port: 49170,
              address: '192.0.2.30',
              protocol: 'UDP/TLS/RTP/SAVPF',
              direction: 'sendrecv',
              codecs: [{ payloadType: 111, name: 'opus', clockRate: 48000, channels: 2 }],
            },
          ],
        },
      };
  }
}

/** The other network: the peer is there. */
const peerNetwork = (n: Network): Network => (n === 'xmpp' ? 'matrix' : 'xmpp');

async function setUp(t: Test, h: AdapterHarness, declare?: (a: Adapter) => ReadonlySet<EventKind>) {
  // The event loop stays alive while a test waits on the adapter: its own timers (a SIP
  // transaction's Timer F) are unref'd so that they never hold a stopping process.
  const alive = setInterval(() => {}, 1000);
  t.teardown(() => clearInterval(alive));
  const store = new MemoryStore();
  const audit = new AuditWriter(store.audit, {});
  const policy = compilePolicySource(policyFor(h.domain), 'contract.yaml');
  const pipeline = new Pipeline({ policy: () => policy, audit, store, logger: silentLogger });
  const peer = new MemoryAdapter(
    'peer',
    peerNetwork(h.network),
    [PEER, BLOCKED],
    fullCapabilities({ edits: false, html: false, attachments: false }),
  );
  const rig = await h.build({ pipeline });
  const { wrapper, counted } = declaring(
    rig.adapter,
    declare?.(rig.adapter) ?? rig.adapter.capabilities.kinds,
  );
  const registered = declare ? wrapper : rig.adapter;
  await peer.start(pipeline.register(peer));
  await registered.start(pipeline.register(registered));
  let stopping: Promise<void> | null = null;
  const stop = () => {
    stopping ??= rig.adapter.stop();
    return stopping;
  };
  t.teardown(async () => {
    await stop();
    await rig.cleanup?.();
    await audit.close();
    await store.close();
  });
  const user = (network: Network, name: string, domain: string) =>
    formatAddress({ network, user: name, domain });
  const on = peerNetwork(h.network);
  return {
    rig,
    pipeline,
    peer,
    counted,
    stop,
    /** The adapter's user, and the same as the far end names them. */
    alice: user(h.network, 'alice', h.domain),
    aliceThere: `alice@${h.domain}`,
    bob: user(on, 'bob', PEER),
    carol: user(on, 'carol', BLOCKED),
    /** The link state the adapter reported (ctx.setStatus). */
    state: (): LinkState | undefined => pipeline.linkStatus().get(rig.adapter.name)?.state,
    /** What the far end received carrying `text`. */
    carrying: (text: string) => rig.received().filter((i) => i.text.includes(text)),
    /** The sender was told that this event did not arrive. */
    told: (id: string) => peer.refused.filter((r) => r.event.id === id).map((r) => r.refusal),
  };
}

type Env = Awaited<ReturnType<typeof setUp>>;

/** One behaviour the contract checked: its name (the title before the colon) and whether it held. */
export interface ContractRun {
  behaviour: string;
  ok: boolean;
}

/** Run the contract; resolves to the behaviours checked, for the caller to assert which ran. */
export async function adapterContract(t: Test, h: AdapterHarness): Promise<ContractRun[]> {
  const ran: ContractRun[] = [];
  await t.test(`${h.network} adapter contract`, async (t) => {
    const check = (title: string, fn: (t: Test) => Promise<void>) =>
      t.test(title, async (t) => {
        await fn(t);
        ran.push({ behaviour: title.slice(0, title.indexOf(':')), ok: t.passing() });
      });
    const sub = (title: string, fn: (t: Test, e: Env) => Promise<void>) =>
      check(title, async (t) => fn(t, await setUp(t, h)));

    await sub('deliver: an allowed message from another network reaches the network', async (t, e) => {
      t.equal(e.state(), 'up', 'the link reported up');
      const out = await e.peer.submit(message(e.bob, e.alice, 'hello alice'));
      t.match(out, { status: 'delivered' });
      t.ok(await until(() => e.carrying('hello alice').length > 0), 'the far end received it');
      const got = e.carrying('hello alice');
      t.equal(got.length, 1, 'once');
      t.match(got[0], { what: h.shows.delivered, to: e.aliceThere, from: `bob@${PEER}` }, 'to the recipient');
      t.equal(got[0]?.text, 'hello alice', 'with the body');
      t.same(e.peer.refused, [], 'nothing refused');
    });

    await sub("refuse: a denied message is told to its sender in the network's terms", async (t, e) => {
      await e.rig.inject({ from: e.alice, to: e.carol, body: 'hi carol' });
      const toAlice = () => e.rig.received().filter((i) => i.to === e.aliceThere);
      t.ok(await until(() => toAlice().length > 0), 'the sender got an answer');
      await e.pipeline.drain();
      t.equal(toAlice().length, 1, 'one answer');
      t.match(toAlice()[0], { what: h.shows.refused, from: `carol@${BLOCKED}` }, "in the network's terms");
      t.match(toAlice()[0]?.text, REASON, "with the rule's reason");
      t.same(e.peer.delivered, [], 'nothing reached the other network');
    });

    await sub("notice: a degraded delivery's notice reaches the sender", async (t, e) => {
      await e.rig.inject({ from: e.alice, to: e.bob, body: 'fixed it', degradable: true });
      t.ok(await until(() => e.peer.delivered.length > 0), 'delivered to the other network');
      t.ok(e.peer.delivered[0]?.degraded, 'degraded on the way');
      const notices = () =>
        e.rig.received().filter((i) => i.to === e.aliceThere && i.text.includes(`delivered to bob@${PEER}`));
      t.ok(await until(() => notices().length > 0), 'the sender got a notice');
      t.match(
        notices()[0],
        { what: h.shows.notice, from: `bob@${PEER}` },
        "from the recipient, in the network's terms",
      );
      await e.pipeline.drain();
      t.equal(notices().length, 1, 'one notice');
    });

    const down = h.whileDown;
    if (down === 'queued') {
      await sub('queued delivery: queued while the link is down, sent when it is back', async (t, e) => {
        e.rig.linkDown();
        const out = await e.peer.submit(message(e.bob, e.alice, 'while down'));
        t.match(out, { status: 'queued' }, 'the outcome is queued');
        t.equal(e.state(), 'down', 'the link reported down');
        t.same(e.carrying('while down'), [], 'nothing reached the far end while it was down');
        e.rig.linkUp();
        t.ok(await until(() => e.carrying('while down').length > 0), 'sent once the link is back');
        t.match(e.carrying('while down'), [{ what: h.shows.delivered, to: e.aliceThere }]);
        t.equal(e.carrying('while down').length, 1, 'once');
        t.ok(await until(() => e.state() === 'up'), 'the link reported up again');
        t.same(e.peer.refused, [], 'the sender was told nothing');
      });
    } else {
      await sub(
        `no queue: while the link is down a delivery answers ${down.status} (${down.code})`,
        async (t, e) => {
          e.rig.linkDown();
          const event = message(e.bob, e.alice, 'while down');
          const out = await e.peer.submit(event);
          t.match(out, down, 'the declared outcome, at once');
          t.match(e.told(event.id), [{ code: down.code }], 'the sender was told');
          const attempts = e.carrying('while down').length;
          e.rig.linkUp();
          t.match(await e.peer.submit(message(e.bob, e.alice, 'when back')), { status: 'delivered' });
          t.ok(await until(() => e.carrying('when back').length > 0), 'later messages go through');
          t.equal(e.carrying('while down').length, attempts, 'nothing waited to be sent again');
        },
      );
    }

    await sub(
      'stop drains: what is in flight is delivered or told; the link reports stopped',
      async (t, e) => {
        const hold = e.rig.hold();
        const event = message(e.bob, e.alice, 'in flight at stop');
        let settled = false;
        const pending = e.peer.submit(event).finally(() => {
          settled = true;
        });
        if (hold) t.ok(await until(() => hold.holding()), 'the far end holds its answer');
        const stopping = e.stop();
        // An adapter may wait for the far end's answer before it has stopped; one that does
        // not has stopped by now, with the delivery still in flight.
        await Promise.race([stopping, sleep(500)]);
        hold?.release();
        await stopping;
        const out: SubmitOutcome = await pending;
        await e.pipeline.drain();
        t.ok(settled, 'the submit was answered');
        const arrived = e.carrying('in flight at stop').length > 0;
        const told = e.told(event.id).length > 0;
        t.ok(
          (out.status === 'delivered' && arrived) || told,
          `delivered, or its sender told (outcome ${out.status}, at the far end: ${arrived}, told: ${told})`,
        );
        t.equal(e.state(), 'stopped', 'the link reported stopped');
      },
    );

    await sub(
      'stop drains: what waits for the link is delivered or told; the link reports stopped',
      async (t, e) => {
        e.rig.linkDown();
        const event = message(e.bob, e.alice, 'waiting at stop');
        const out = await e.peer.submit(event);
        t.match(out, down === 'queued' ? { status: 'queued' } : down, 'as the adapter answers while down');
        await e.stop();
        await e.pipeline.drain();
        const arrived = e.carrying('waiting at stop').length > 0;
        const told = e.told(event.id);
        t.ok(
          (out.status !== 'failed' && arrived) || told.length > 0,
          `delivered, or its sender told: the memory store dies with the process (at the far end: ${arrived}, told: ${told.length})`,
        );
        t.equal(e.state(), 'stopped', 'the link reported stopped');
      },
    );

    /** A kind the adapter does not declare: refused as unsupported, its link never called. */
    const refusedUnsupported = async (t: Test, e: Env, kind: EventKind) => {
      const event = sample(kind, e.bob, e.alice);
      const before = { handed: e.counted.deliveries, received: e.rig.received().length };
      const out = await e.peer.submit(event);
      await e.pipeline.drain();
      t.match(out, { status: 'denied', reason: /cannot carry/ }, `${kind}: refused`);
      t.match(e.told(event.id), [{ code: 'unsupported' }], `${kind}: the sender was told: unsupported`);
      t.equal(e.counted.deliveries, before.handed, `${kind}: the adapter was not handed it`);
      t.equal(e.rig.received().length, before.received, `${kind}: nothing reached the far end`);
    };

    await check('capability table honest: the declared kinds are carried, the others refused', async (t) => {
      const e = await setUp(t, h, (a) => a.capabilities.kinds);
      const declared = e.rig.adapter.capabilities.kinds;
      const table = h.kindTable();
      t.same([...declared].sort(), [...kindsOf(table)].sort(), "the declared kinds are the table's");
      for (const kind of EVENT_KINDS) {
        if (!declared.has(kind)) {
          t.equal(table[kind], 'unsupported', `${kind}: not declared, so the table declines it`);
          await refusedUnsupported(t, e, kind);
          continue;
        }
        const event = sample(kind, e.bob, e.alice);
        const handed = e.counted.deliveries;
        const out = await e.peer.submit(event);
        await e.pipeline.drain();
        t.equal(e.counted.deliveries, handed + 1, `${kind}: the adapter was handed it`);
        const reason = 'reason' in out ? out.reason : '';
        t.notMatch(reason, /cannot carry/, `${kind}: not answered "cannot carry" (${out.status} ${reason})`);
        t.notOk(
          e.told(event.id).some((r) => r.code === 'unsupported' || /cannot carry/.test(r.reason)),
          `${kind}: the sender was not told it cannot be carried`,
        );
      }
    });

    await check('capability table honest: a kind not declared never reaches the link', async (t) => {
      // An adapter that declares every kind (all three do today) leaves the test above no
      // undeclared kind, so here it is registered declaring none: every kind is then one it
      // does not declare, and the pipeline must keep each from its link.
      const e = await setUp(t, h, () => new Set());
      for (const kind of EVENT_KINDS) await refusedUnsupported(t, e, kind);
    });
  });
  return ran;
}
