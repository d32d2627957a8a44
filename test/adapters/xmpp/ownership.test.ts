// Two XMPP adapters (two replicas in one process, each with its pipeline) on one store and
// one real Prosody: the lease holder connects, the other stands by and reports the holder's
// link; when the holder's store stops answering it closes its link before the lease
// expires, and the standby takes over and connects.
import t from 'tap';
import { resolveXmppConfig, XmppAdapter } from '../../../src/adapters/xmpp/index.js';
import { AuditWriter } from '../../../src/core/audit/writer.js';
import { silentLogger } from '../../../src/core/logger.js';
import { Pipeline } from '../../../src/core/pipeline.js';
import { compilePolicySource } from '../../../src/core/policy/index.js';
import type { Store } from '../../../src/core/store.js';
import { MemoryStore } from '../../../src/store/memory.js';
import { POLICY } from '../../fixtures/xmpp-setup.js';
import { type ProsodyHandle, startProsody } from '../../harness/prosody.js';

let prosody: ProsodyHandle;
t.before(async () => {
  prosody = await startProsody({
    hosts: [{ domain: 'corp.test' }],
    components: [{ domain: 'gw.corp.test', secret: 'corp-secret' }],
  });
});
t.teardown(() => prosody?.destroy());

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function until(what: string, cond: () => boolean, ms: number): Promise<void> {
  const deadline = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`${what}: not within ${ms} ms`);
    await sleep(20);
  }
}

/** The shared store as one replica sees it: like Redis (not in-process), cut off on demand. */
function replicaView(store: MemoryStore) {
  const view = { down: false };
  const proxy = new Proxy(store, {
    get(target, prop, receiver) {
      if (prop === 'kind') return 'redis';
      const v = Reflect.get(target, prop, receiver) as unknown;
      if (typeof v !== 'function') return v;
      const fn = (v as (...a: unknown[]) => unknown).bind(target);
      if (prop === 'acquireLease' || prop === 'leaseOwner' || prop === 'get' || prop === 'set') {
        return (...args: unknown[]) =>
          view.down ? Promise.reject(new Error('connect ECONNREFUSED 127.0.0.1:6379')) : fn(...args);
      }
      return fn;
    },
  }) as Store;
  return { store: proxy, view };
}

async function replica(shared: MemoryStore, id: string) {
  const { store, view } = replicaView(shared);
  const policy = compilePolicySource(POLICY, 'p.yaml');
  const audit = new AuditWriter(store.audit, {});
  const pipeline = new Pipeline({ policy: () => policy, audit, store, logger: silentLogger, replicaId: id });
  const cfg = resolveXmppConfig({
    type: 'xmpp',
    service: prosody.componentService,
    component: 'gw.corp.test',
    secret: 'corp-secret',
    domains: ['corp.test'],
    reconnect: { initialDelayMs: 100, maxDelayMs: 500 },
    lease: { ttlMs: 900, renewMs: 300 },
  });
  const adapter = new XmppAdapter('corp', cfg, silentLogger);
  await adapter.start(pipeline.register(adapter));
  // The link state the adapter reported (what readiness sees).
  const reported = () => pipeline.linkStatus().get('corp')!;
  return { adapter, view, pipeline, reported };
}

t.test('the holder connects; cut off from the store it lets go and the standby takes over', async (t) => {
  const shared = new MemoryStore();
  const r1 = await replica(shared, 'r1');
  await r1.adapter.whenUp(10_000);
  const r2 = await replica(shared, 'r2');
  t.teardown(async () => {
    await r1.adapter.stop();
    await r2.adapter.stop();
  });
  t.equal(await shared.leaseOwner('xmpp:corp:link'), 'r1');
  t.equal(r1.reported().state, 'up');
  await until('r2 reports the holder', () => /standby/.test(r2.reported().detail ?? ''), 3000);
  t.match(
    r2.reported(),
    { state: 'up', detail: 'standby: the link is held by replica r1', network: 'xmpp' },
    'readiness sees the standby report',
  );
  await sleep(1000);
  t.match(r2.reported().detail, /held by replica r1/, 'renewals keep r1 the holder');

  const cut = Date.now();
  r1.view.down = true;
  await until('r1 lets go', () => r1.reported().state !== 'up', 3000);
  const letGo = Date.now() - cut;
  t.ok(letGo < 900, `r1 closed its link ${letGo} ms after losing the store, within the TTL`);
  t.match(r1.reported().detail, /standby/);
  await until('r2 holds the link', () => r2.reported().state === 'up' && !r2.reported().detail, 5000);
  t.equal(await shared.leaseOwner('xmpp:corp:link'), 'r2');
  t.comment(`r2 connected ${Date.now() - cut} ms after r1 lost the store`);
  r1.view.down = false;
  await until('r1 sees r2', () => /held by replica r2/.test(r1.reported().detail ?? ''), 3000);
  t.equal(r1.reported().state, 'up', 'back on the store, r1 stands by and is ready');
});
