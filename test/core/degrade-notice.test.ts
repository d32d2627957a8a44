// Degrade visibly, never silently: when the core degrades an event for its target network, the
// sender is told on its own network (Adapter.notice), once per sender, target network and
// kind of degradation per period, and the notice itself is neither an event nor audited.
import t from 'tap';
import type { Notice } from '../../src/core/adapter.js';
import { AuditWriter } from '../../src/core/audit/writer.js';
import { silentLogger } from '../../src/core/logger.js';
import { degradedText, Pipeline } from '../../src/core/pipeline.js';
import { compilePolicySource } from '../../src/core/policy/index.js';
import { MemoryStore } from '../../src/store/memory.js';
import { fullCapabilities, MemoryAdapter, message } from '../fixtures/memory-adapter.js';

const POLICY = `
apiVersion: parley/v1
kind: Policy
metadata: { name: test, version: "1" }
zones:
  enterprise: { domains: [corp.test] }
  partner: { domains: [hs.test, partner.test] }
defaults: { decision: deny }
rules:
  - id: partners
    match: { between: [{ zone: enterprise }, { zone: partner }] }
    effect: allow
`;

const ALICE = 'xmpp:alice@corp.test';
const DAVE = 'xmpp:dave@corp.test';
const BOB = 'sip:bob@partner.test';
const CAROL = 'matrix:u/carol:hs.test';

async function setup(degradeNoticeTtlMs?: number) {
  const store = new MemoryStore();
  const writer = new AuditWriter(store.audit, {});
  const policy = compilePolicySource(POLICY, 'test.yaml');
  const pipeline = new Pipeline({
    policy: () => policy,
    audit: writer,
    store,
    logger: silentLogger,
    ...(degradeNoticeTtlMs === undefined ? {} : { degradeNoticeTtlMs }),
  });
  const xmpp = new MemoryAdapter('corp', 'xmpp', ['corp.test']);
  const matrix = new MemoryAdapter('hs', 'matrix', ['hs.test'], fullCapabilities({ html: false }));
  const sip = new MemoryAdapter(
    'sip',
    'sip',
    ['partner.test'],
    fullCapabilities({ edits: false, html: false, attachments: false }),
  );
  for (const a of [xmpp, matrix, sip]) await a.start(pipeline.register(a));
  return { store, pipeline, xmpp, matrix, sip };
}

const texts = (notices: { notice: Notice }[]) => notices.map((n) => n.notice.text);

t.test('an edit degraded for SIP is delivered, and the sender is told on its own network', async (t) => {
  const { store, pipeline, xmpp, sip, matrix } = await setup();
  const edit = message(ALICE, BOB, 'hello bob, corrected', { replaces: 'm-original' });
  const out = await xmpp.submit(edit);
  await pipeline.drain();
  t.match(out, { status: 'delivered', decision: 'allow' });
  t.equal(sip.delivered.length, 1);
  t.match(sip.delivered[0]?.event, { kind: 'message', body: '[correction] hello bob, corrected' });
  t.equal(xmpp.noticed.length, 1, 'the sender was told once');
  t.same(xmpp.noticed[0]?.notice, {
    code: 'degraded',
    degradations: ['edit'],
    text: 'Your correction was delivered to bob@partner.test as a new message: SIP cannot edit messages.',
  });
  t.equal(xmpp.noticed[0]?.event.id, edit.id, 'the notice names the event it is about');
  t.same(xmpp.refused, [], 'a degradation is not a refusal');
  t.same(sip.noticed, [], 'the recipient is not told');
  t.same(matrix.delivered, [], 'the notice is not an event delivered anywhere');
  const records = await store.audit.range(1, 10);
  t.equal(records.length, 1, 'one decision record: the notice adds none');
  t.match(records[0], {
    decision: 'allow',
    kind: 'message',
    from: ALICE,
    to: BOB,
    content: { mode: 'full', body: '[correction] hello bob, corrected' },
    details: { degraded: 'edit sent as a new message marked as a correction' },
  });
});

t.test('once per sender, target network and kind of degradation per period', async (t) => {
  const { pipeline, xmpp } = await setup();
  await xmpp.submit(message(ALICE, BOB, 'fix 1', { replaces: 'a' }));
  await xmpp.submit(message(ALICE, BOB, 'fix 2', { replaces: 'b' }));
  await xmpp.submit(message(ALICE, 'sip:erin@partner.test', 'fix 3', { replaces: 'c' }));
  await pipeline.drain();
  t.equal(xmpp.noticed.length, 1, 'further edits by the same sender to SIP: no more notices');

  await xmpp.submit(message(ALICE, BOB, 'plain', { html: '<b>plain</b>' }));
  await pipeline.drain();
  t.same(
    texts(xmpp.noticed.slice(1)),
    ['Your message was delivered to bob@partner.test without its formatting: SIP cannot carry rich text.'],
    'another kind of degradation is told once too',
  );

  await xmpp.submit(message(ALICE, CAROL, 'rich for carol', { html: '<i>rich</i>' }));
  await pipeline.drain();
  t.same(
    texts(xmpp.noticed.slice(2)),
    ['Your message was delivered to carol@hs.test without its formatting: Matrix cannot carry rich text.'],
    'the same degradation toward another network is told',
  );

  await xmpp.submit(message(DAVE, BOB, 'dave fixes', { replaces: 'd' }));
  await pipeline.drain();
  t.equal(xmpp.noticed.length, 4, 'another sender is told on their own');
  t.equal(xmpp.noticed[3]?.event.from, DAVE);
});

t.test('after the period the sender is told again (the period is configurable)', async (t) => {
  const { pipeline, xmpp } = await setup(100);
  await xmpp.submit(message(ALICE, BOB, 'one', { replaces: 'a' }));
  await xmpp.submit(message(ALICE, BOB, 'two', { replaces: 'b' }));
  await pipeline.drain();
  t.equal(xmpp.noticed.length, 1);
  await new Promise((r) => setTimeout(r, 150));
  await xmpp.submit(message(ALICE, BOB, 'three', { replaces: 'c' }));
  await pipeline.drain();
  t.equal(xmpp.noticed.length, 2, 'told again once the period has passed');
});

t.test('several degradations of one event: one notice naming each not yet told', async (t) => {
  const { pipeline, xmpp } = await setup();
  await xmpp.submit(message(ALICE, BOB, 'x', { replaces: 'a' }));
  await pipeline.drain();
  await xmpp.submit(
    message(ALICE, BOB, 'see this', {
      replaces: 'b',
      html: '<b>see</b> this',
      attachments: [{ mime: 'image/png', name: 'cat.png', url: 'https://f.test/cat.png' }],
    }),
  );
  await pipeline.drain();
  t.equal(xmpp.noticed.length, 2);
  t.same(xmpp.noticed[1]?.notice.degradations, ['html', 'attachments'], 'the edit was told already');
  t.equal(
    xmpp.noticed[1]?.notice.text,
    'Your message was delivered to bob@partner.test without its formatting: SIP cannot carry rich text. ' +
      'Your attachments were delivered to bob@partner.test as links: SIP cannot carry attachments.',
  );
});

t.test('no notice when nothing was degraded, when refused, or when the delivery failed', async (t) => {
  const { pipeline, xmpp, sip } = await setup();
  await xmpp.submit(message(ALICE, BOB, 'plain hello'));
  await xmpp.submit(message(ALICE, 'sip:x@elsewhere.test', 'fix', { replaces: 'a' }));
  sip.answer = () => ({ ok: false, refused: true, reason: '503 Service Unavailable' });
  const failed = await xmpp.submit(message(ALICE, BOB, 'fix', { replaces: 'b' }));
  await pipeline.drain();
  t.match(failed, { status: 'failed', code: 'delivery' });
  t.same(xmpp.noticed, [], 'nobody was told of a degradation');
  t.equal(xmpp.refused.length, 2, 'the refusals were told as refusals');
  // The failed delivery did not use up the sender's notice: the next degraded one is told.
  sip.answer = () => ({ ok: true });
  await xmpp.submit(message(ALICE, BOB, 'fix again', { replaces: 'c' }));
  await pipeline.drain();
  t.equal(xmpp.noticed.length, 1);
});

t.test('a queued delivery is degraded and told like a delivered one', async (t) => {
  const { pipeline, xmpp, sip } = await setup();
  sip.answer = () => ({ ok: true, queued: true });
  const out = await xmpp.submit(message(ALICE, BOB, 'later fix', { replaces: 'a' }));
  await pipeline.drain();
  t.match(out, { status: 'queued' });
  t.equal(xmpp.noticed.length, 1);
});

t.test('a sender adapter that fails to render the notice does not fail the delivery', async (t) => {
  const { pipeline, xmpp, sip } = await setup();
  xmpp.notice = async () => {
    throw new Error('link down');
  };
  const out = await xmpp.submit(message(ALICE, BOB, 'fix', { replaces: 'a' }));
  await pipeline.drain();
  t.match(out, { status: 'delivered' });
  t.equal(sip.delivered.length, 1);
  t.equal(pipeline.inFlight, 0, 'nothing left in flight');
});

t.test('the answer to the sender is not held up by the notice; drain() waits for it', async (t) => {
  const { pipeline, xmpp } = await setup();
  let release: () => void = () => {};
  const gate = new Promise<void>((r) => {
    release = r;
  });
  let rendered = false;
  xmpp.notice = async () => {
    await gate;
    rendered = true;
  };
  const out = await xmpp.submit(message(ALICE, BOB, 'fix', { replaces: 'a' }));
  t.match(out, { status: 'delivered' }, 'answered before the notice was rendered');
  t.equal(rendered, false);
  t.equal(pipeline.inFlight, 1, 'the notice counts as in flight');
  const drained = pipeline.drain().then(() => rendered);
  release();
  t.equal(await drained, true, 'drain() resolved only after the notice');
});

t.test('degradedText: one sentence per degradation, naming the network', async (t) => {
  t.equal(
    degradedText(['edit'], 'sip', 'bob@partner.test'),
    'Your correction was delivered to bob@partner.test as a new message: SIP cannot edit messages.',
  );
  t.equal(
    degradedText(['attachments'], 'xmpp', 'alice@corp.test'),
    'Your attachments were delivered to alice@corp.test as links: XMPP cannot carry attachments.',
  );
});
