// AdapterContext.bounce (issue 15.9): only the adapter an event was delivered to may bounce
// it, once; a bounce by anyone else is refused (logged) and tells nobody anything.
import t from 'tap';
import type { Refusal } from '../../src/core/adapter.js';
import { AuditWriter } from '../../src/core/audit/writer.js';
import type { CanonicalEvent } from '../../src/core/model.js';
import { Pipeline } from '../../src/core/pipeline.js';
import { compilePolicySource } from '../../src/core/policy/index.js';
import { MemoryStore } from '../../src/store/memory.js';
import { MemoryAdapter, message } from '../fixtures/memory-adapter.js';
import { recordingLogger } from '../fixtures/recording-logger.js';

const POLICY = `
apiVersion: parley/v1
kind: Policy
metadata: { name: bounce, version: "1" }
zones:
  enterprise: { domains: [corp.test] }
  partner: { domains: [hs.test, partner.test] }
defaults: { decision: deny }
rules:
  - id: partners
    match: { between: [{ zone: enterprise }, { zone: partner }] }
    effect: allow
`;

const REFUSAL: Refusal = { code: 'delivery', rule: null, reason: 'the link stayed down' };

async function setup(store = new MemoryStore()) {
  const policy = compilePolicySource(POLICY, 'bounce.yaml');
  const { logger, lines } = recordingLogger();
  const pipeline = new Pipeline({
    policy: () => policy,
    audit: new AuditWriter(store.audit, {}),
    store,
    logger,
  });
  const corp = new MemoryAdapter('corp', 'xmpp', ['corp.test']);
  const hs = new MemoryAdapter('hs', 'matrix', ['hs.test']);
  const sip = new MemoryAdapter('sip', 'sip', ['partner.test']);
  for (const a of [corp, hs, sip]) await a.start(pipeline.register(a));
  return { store, pipeline, lines, corp, hs, sip };
}

const bouncesTold = (a: MemoryAdapter) => a.refused.filter((r) => r.refusal.reason === REFUSAL.reason);

t.test('a third adapter cannot bounce an event delivered to another; the target can, once', async (t) => {
  const { corp, hs, sip, lines } = await setup();
  const out = await corp.submit(message('xmpp:alice@corp.test', 'matrix:u/bob:hs.test', 'hi'));
  t.match(out, { status: 'delivered' });
  const delivered = hs.delivered[0]!.event;

  t.equal(await sip.ctx!.bounce(delivered, REFUSAL), false, 'the SIP adapter may not bounce it');
  t.equal(await corp.ctx!.bounce(delivered, REFUSAL), false, 'nor may its own source');
  t.same(bouncesTold(corp), [], 'the sender was told nothing');
  t.ok(
    lines.some((l) => l.level === 'warn' && /bounce refused/.test(l.msg)),
    'the refused bounce is logged',
  );

  t.equal(await hs.ctx!.bounce(delivered, REFUSAL), true, 'the target may bounce it');
  t.equal(bouncesTold(corp).length, 1, 'the sender was told once');
  t.equal(bouncesTold(corp)[0]!.event.id, delivered.id);

  t.equal(await hs.ctx!.bounce(delivered, REFUSAL), false, 'a second bounce is refused');
  t.equal(await hs.ctx!.bounce({ ...delivered }, REFUSAL), false, 'so is a copy of it');
  t.equal(bouncesTold(corp).length, 1, 'still told once');
});

t.test('a copy of an event is bounced only by the adapter its recipient routes to', async (t) => {
  const { corp, hs, sip } = await setup();
  // An event for a Matrix user, from corp's user: only hs (which serves hs.test) may bounce
  // a copy of it (a queued event read back from the store), and only to corp.
  const forged: CanonicalEvent = message('xmpp:alice@corp.test', 'matrix:u/bob:hs.test', 'x', {
    id: 'never-sent',
    adapter: 'corp',
  });
  t.equal(await sip.ctx!.bounce(forged, REFUSAL), false, 'sip does not serve hs.test');
  t.equal(await corp.ctx!.bounce(forged, REFUSAL), false, 'nor does its source');
  t.equal(
    await hs.ctx!.bounce({ ...forged, adapter: 'sip' } as CanonicalEvent, REFUSAL),
    false,
    "a copy may not tell an adapter that is not the sender's (sip is not on XMPP)",
  );
  t.equal(
    await hs.ctx!.bounce({ ...forged, from: 'xmpp:mallory@partner.test' } as CanonicalEvent, REFUSAL),
    false,
    "nor a sender in another adapter's domain",
  );
  t.equal(
    await hs.ctx!.bounce({ ...forged, to: 'sip:bob@partner.test' } as CanonicalEvent, REFUSAL),
    false,
    'nor an event for a domain hs does not serve',
  );
  t.equal(
    await hs.ctx!.bounce({ kind: 'nonsense' } as unknown as CanonicalEvent, REFUSAL),
    false,
    'nor junk',
  );
  // A delivered event's copy handed to another adapter (not queued).
  await corp.submit(message('xmpp:alice@corp.test', 'matrix:u/bob:hs.test', 'hi', { id: 'sent-1' }));
  t.equal(await sip.ctx!.bounce({ ...hs.delivered[0]!.event }, REFUSAL), false);
  t.same(bouncesTold(corp), [], 'no sender was told anything');
  t.same(bouncesTold(sip), []);
});

t.test('a queued delivery read back from the store can be bounced by its target only, once', async (t) => {
  const { corp, hs, sip } = await setup();
  hs.answer = () => ({ ok: true, queued: true });
  const out = await corp.submit(
    message('xmpp:alice@corp.test', 'matrix:u/bob:hs.test', 'later', { id: 'q-1' }),
  );
  t.match(out, { status: 'queued' });
  // What a queue in the store gives back: a new object, possibly in another replica.
  const copy = JSON.parse(JSON.stringify(hs.delivered[0]!.event)) as CanonicalEvent;

  t.equal(await sip.ctx!.bounce(copy, REFUSAL), false, 'a third adapter may not');
  t.equal(
    await hs.ctx!.bounce({ ...copy, adapter: 'sip' } as CanonicalEvent, REFUSAL),
    false,
    'a copy that names another source is refused',
  );
  t.same(bouncesTold(sip), [], 'and that source was told nothing');
  t.equal(await hs.ctx!.bounce(copy, REFUSAL), true, 'the target may');
  t.equal(await hs.ctx!.bounce(copy, REFUSAL), false, 'once');
  t.equal(await hs.ctx!.bounce(hs.delivered[0]!.event, REFUSAL), false, 'once, whichever copy');
  t.equal(bouncesTold(corp).length, 1);
  t.same(bouncesTold(sip), []);
});

t.test('a queued delivery is bounced by another replica of the target (shared store)', async (t) => {
  const store = new MemoryStore();
  const a = await setup(store);
  const b = await setup(store);
  a.hs.answer = () => ({ ok: true, queued: true });
  await a.corp.submit(message('xmpp:alice@corp.test', 'matrix:u/bob:hs.test', 'later', { id: 'q-2' }));
  const copy = JSON.parse(JSON.stringify(a.hs.delivered[0]!.event)) as CanonicalEvent;
  t.equal(await b.sip.ctx!.bounce(copy, REFUSAL), false);
  t.equal(await b.hs.ctx!.bounce(copy, REFUSAL), true, "replica b's hs may bounce what a's hs queued");
  t.equal(bouncesTold(b.corp).length, 1, 'and the sender is told by its adapter in replica b');
  t.equal(await a.hs.ctx!.bounce(a.hs.delivered[0]!.event, REFUSAL), false, 'not again in replica a');
});

t.test('an allowed bounce is an outcome record of the event; a refused one writes none', async (t) => {
  const { store, corp, hs, sip } = await setup();
  hs.answer = () => ({ ok: true, queued: true });
  await corp.submit(message('xmpp:alice@corp.test', 'matrix:u/bob:hs.test', 'queued one'));
  const delivered = hs.delivered[0]!.event;
  const outcomes = async () =>
    (await store.audit.range(1, 100)).filter((r) => r.category === 'outcome' && r.eventId === delivered.id);
  // The writer batches: wait for the queued outcome record.
  for (let i = 0; i < 100 && (await outcomes()).length < 1; i++) await new Promise((r) => setTimeout(r, 5));
  t.same(
    (await outcomes()).map((r) => r.outcome),
    ['queued'],
    'queued first',
  );

  t.equal(await sip.ctx!.bounce(delivered, REFUSAL, 'expired'), false);
  await new Promise((r) => setTimeout(r, 30));
  t.equal((await outcomes()).length, 1, 'a refused bounce records nothing');

  t.equal(await hs.ctx!.bounce(delivered, REFUSAL, 'expired'), true);
  for (let i = 0; i < 100 && (await outcomes()).length < 2; i++) await new Promise((r) => setTimeout(r, 5));
  const [, expired] = await outcomes();
  t.match(expired, {
    category: 'outcome',
    outcome: 'expired',
    outcomeReason: REFUSAL.reason,
    decision: 'allow',
    rule: 'partners',
    from: 'xmpp:alice@corp.test',
    to: 'matrix:u/bob:hs.test',
  });

  // A copy read back from a queue (another replica): the outcome record names no rule.
  const copy = message('xmpp:alice@corp.test', 'matrix:u/bob:hs.test', 'x', {
    id: 'copy-1',
    adapter: 'corp',
  });
  t.equal(await hs.ctx!.bounce(copy, REFUSAL), true);
  let rec: { outcome?: string; rule: string | null } | undefined;
  for (let i = 0; i < 100 && !rec; i++) {
    rec = (await store.audit.range(1, 100)).find((r) => r.eventId === 'copy-1');
    if (!rec) await new Promise((r) => setTimeout(r, 5));
  }
  t.match(rec, { outcome: 'bounced', rule: null, decision: 'allow' }, 'bounced is the default');
});
