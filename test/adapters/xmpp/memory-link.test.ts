// The XMPP adapter on an in-memory link (no server): a message from another network goes
// out as a stanza from the sender's ghost, a local user's message comes in as an event,
// and while the link is down deliveries queue and then go out in order.
import t, { type Test } from 'tap';
import { buildXmppAdapter } from '../../../src/adapters/xmpp/index.js';
import { AuditWriter } from '../../../src/core/audit/writer.js';
import { silentLogger } from '../../../src/core/logger.js';
import { Pipeline } from '../../../src/core/pipeline.js';
import { compilePolicySource } from '../../../src/core/policy/index.js';
import { MemoryStore } from '../../../src/store/memory.js';
import { MemoryAdapter, message } from '../../fixtures/memory-adapter.js';
import { memoryLinks } from '../../fixtures/xmpp-memory-link.js';

const POLICY = `
apiVersion: parley/v1
kind: Policy
metadata: { name: t, version: "1" }
zones:
  enterprise: { domains: [corp.test] }
  partner: { domains: [hs.test] }
defaults: { decision: deny }
rules:
  - id: ok
    match: { between: [{ zone: enterprise }, { zone: partner }] }
    effect: allow
`;

async function setup(t: Test, opts: { upOnStart?: boolean } = {}) {
  const store = new MemoryStore();
  const policy = compilePolicySource(POLICY, 't.yaml');
  const pipeline = new Pipeline({
    policy: () => policy,
    audit: new AuditWriter(store.audit, {}),
    store,
    logger: silentLogger,
  });
  const links = memoryLinks(opts);
  const xmpp = buildXmppAdapter(
    'corp',
    {
      type: 'xmpp',
      service: 'xmpp://127.0.0.1:5347',
      component: 'gw.corp.test',
      secret: 's',
      domains: ['corp.test'],
    },
    { logger: silentLogger, configDir: '.', link: links.factory },
  );
  const hs = new MemoryAdapter('hs', 'matrix', ['hs.test']);
  await hs.start(pipeline.register(hs));
  await xmpp.start(pipeline.register(xmpp));
  t.teardown(() => xmpp.stop());
  return { pipeline, xmpp, hs, links };
}

type Setup = Awaited<ReturnType<typeof setup>>;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
async function until(cond: () => boolean, ms = 2000): Promise<boolean> {
  const deadline = Date.now() + ms;
  while (!cond() && Date.now() < deadline) await sleep(5);
  return cond();
}
const bodies = (s: Setup) => s.links.current.sent.map((el) => el.getChildText('body'));

t.test('a message is delivered through the in-memory link, and one comes back', async (t) => {
  const s = await setup(t);
  t.match(s.pipeline.linkStatus().get('corp'), { state: 'up' }, 'the link reported up');
  const out = await s.hs.submit(
    message('matrix:u/bob:hs.test', 'xmpp:alice@corp.test', 'hello alice', { id: 'm-1' }),
  );
  t.match(out, { status: 'delivered' });
  t.equal(s.links.current.sent.length, 1);
  const el = s.links.current.sent[0]!;
  t.equal(el.name, 'message');
  t.equal(el.attrs.from, 'bob%hs.test@gw.corp.test', "from the sender's ghost");
  t.equal(el.attrs.to, 'alice@corp.test');
  t.equal(el.attrs.id, 'm-1');
  t.equal(el.getChildText('body'), 'hello alice');

  s.links.current.receive(
    '<message from="alice@corp.test/phone" to="bob%hs.test@gw.corp.test" type="chat" id="r-1"><body>hi bob</body></message>',
  );
  t.ok(await until(() => s.hs.delivered.length === 1), 'the reply reached the other network');
  t.match(s.hs.delivered[0]!.event, {
    kind: 'message',
    id: 'r-1',
    from: 'xmpp:alice@corp.test',
    to: 'matrix:u/bob:hs.test',
    body: 'hi bob',
  });
});

t.test('while the link is down deliveries queue; they go out in order when it is up', async (t) => {
  const s = await setup(t, { upOnStart: false });
  t.match(s.pipeline.linkStatus().get('corp'), { state: 'down', detail: /ECONNREFUSED/ });
  for (const id of ['q-1', 'q-2', 'q-3']) {
    const out = await s.hs.submit(message('matrix:u/bob:hs.test', 'xmpp:alice@corp.test', id, { id }));
    t.match(out, { status: 'queued' }, `${id} queued`);
  }
  t.equal(s.xmpp.queued, 3);
  s.links.current.connect();
  t.ok(await until(() => s.links.current.sent.length === 3), 'sent once the link is up');
  t.same(bodies(s), ['q-1', 'q-2', 'q-3'], 'oldest first');
  t.ok(await until(() => s.xmpp.queued === 0));
  t.match(s.pipeline.linkStatus().get('corp'), { state: 'up' });
});
