import { readdirSync, readFileSync } from 'node:fs';
import { join, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import t from 'tap';
import type { Delivery } from '../../src/core/adapter.js';
import type { AuditEntry } from '../../src/core/audit/record.js';
import { verifyLog } from '../../src/core/audit/verify.js';
import { AuditWriter } from '../../src/core/audit/writer.js';
import { silentLogger } from '../../src/core/logger.js';
import { type AuditSink, fitToCapabilities, isIssuedDelivery, Pipeline } from '../../src/core/pipeline.js';
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
  consumer: { domains: ["*"] }
defaults: { decision: deny }
rules:
  - id: partners
    match: { between: [{ zone: enterprise }, { zone: partner }] }
    effect: allow
  - id: rival
    match: { party: { domain: [rival.test] } }
    effect: deny
    reason: Communication with competitors is prohibited
  - id: cards
    description: Card numbers never leave the company.
    match: { kind: [message], content: { pattern: '\\b(?:\\d[ -]?){13,16}\\b' } }
    effect: redact
    replacement: "[card]"
  - id: consumers
    match: { between: [{ zone: enterprise }, { zone: consumer }], kind: [message] }
    effect: allow
    obligations: { disclaimer: "This chat is archived.", rateLimit: "2/min" }
`;

const bodyOf = (d: Delivery | undefined) => (d?.event.kind === 'message' ? d.event.body : undefined);

async function setup(
  opts: {
    failClosed?: boolean;
    audit?: AuditSink;
    xmppCaps?: ReturnType<typeof fullCapabilities>;
    now?: () => Date;
  } = {},
) {
  const store = new MemoryStore();
  const writer = new AuditWriter(store.audit, {});
  const policy = compilePolicySource(POLICY, 'test.yaml');
  const pipeline = new Pipeline({
    policy: () => policy,
    audit: opts.audit ?? writer,
    store,
    logger: silentLogger,
    failClosed: opts.failClosed ?? true,
    ...(opts.now ? { now: opts.now } : {}),
  });
  const xmpp = new MemoryAdapter('corp', 'xmpp', ['corp.test'], opts.xmppCaps);
  const matrix = new MemoryAdapter('hs', 'matrix', ['hs.test', 'consumer.test', 'rival.test']);
  const sip = new MemoryAdapter(
    'sip',
    'sip',
    ['partner.test'],
    fullCapabilities({ kinds: new Set(['message', 'presence']), edits: false }),
  );
  for (const a of [xmpp, matrix, sip]) await a.start(pipeline.register(a));
  /** Every record, once the writer has made the pending ones durable. */
  const records = async () => {
    await writer.flush();
    return store.audit.range(1, 1000);
  };
  return { store, writer, pipeline, xmpp, matrix, sip, records };
}

t.test('an allowed message is delivered only after its audit record is durable', async (t) => {
  const { store, xmpp, matrix } = await setup();
  let auditLenAtDelivery = -1;
  matrix.onDeliver = async () => {
    auditLenAtDelivery = await store.audit.length();
  };
  const out = await xmpp.submit(message('xmpp:alice@corp.test', 'matrix:u/bob:hs.test', 'hello'));
  t.match(out, { status: 'delivered', decision: 'allow', rule: 'partners' });
  t.equal(matrix.delivered.length, 1);
  t.equal(bodyOf(matrix.delivered[0]), 'hello');
  t.equal(auditLenAtDelivery, 1, 'the record was in the store when deliver() ran');
  const [rec] = await store.audit.range(1, 10);
  t.match(rec, {
    seq: 1,
    decision: 'allow',
    rule: 'partners',
    from: 'xmpp:alice@corp.test',
    toNetwork: 'matrix',
  });
  t.equal(xmpp.refused.length, 0);
});

t.test('the decision record says pending; an outcome record says what happened', async (t) => {
  const { xmpp, matrix, records } = await setup();
  const ev = message('xmpp:alice@corp.test', 'matrix:u/bob:hs.test', 'hello');
  await xmpp.submit(ev);
  matrix.answer = () => ({ ok: true, queued: true });
  const queued = message('xmpp:alice@corp.test', 'matrix:u/bob:hs.test', 'later');
  t.match(await xmpp.submit(queued), { status: 'queued' });
  const [decided, outcome, decided2, outcome2] = await records();
  t.match(decided, {
    category: 'decision',
    eventId: ev.id,
    decision: 'allow',
    rule: 'partners',
    outcome: 'pending',
    content: { mode: 'full', body: 'hello' },
  });
  t.match(outcome, {
    category: 'outcome',
    eventId: ev.id,
    traceId: ev.traceId,
    kind: 'message',
    from: ev.from,
    to: ev.to,
    decision: 'allow',
    rule: 'partners',
    outcome: 'delivered',
    outcomeReason: null,
    content: { mode: 'none' },
    targetAdapter: 'hs',
  });
  t.match(decided2, { eventId: queued.id, outcome: 'pending' });
  t.match(outcome2, { category: 'outcome', eventId: queued.id, outcome: 'queued' });
});

t.test(
  'an event the target adapter takes but, by design, does not send: unsupported, sender not told',
  async (t) => {
    const { xmpp, matrix, records } = await setup();
    matrix.answer = () => ({ ok: true, notSent: 'the recipient did not ask for this notification' });
    const out = await xmpp.submit(message('xmpp:alice@corp.test', 'matrix:u/bob:hs.test', 'hi'));
    t.match(out, { status: 'delivered' });
    t.equal(xmpp.refused.length, 0, 'the sender is not told');
    const [, outcome] = await records();
    t.match(outcome, {
      category: 'outcome',
      outcome: 'unsupported',
      outcomeReason: 'the recipient did not ask for this notification',
    });
  },
);

t.test('a delivery the target network refuses: an outcome record with its reason', async (t) => {
  const { xmpp, matrix, records } = await setup();
  matrix.answer = () => ({ ok: false, refused: true, reason: 'M_FORBIDDEN: bob is not in the room' });
  const ev = message('xmpp:alice@corp.test', 'matrix:u/bob:hs.test', 'hello');
  const out = await xmpp.submit(ev);
  t.match(out, { status: 'failed', code: 'delivery' });
  t.match(xmpp.refused[0]?.refusal, { code: 'delivery', reason: /M_FORBIDDEN: bob is not in the room/ });
  // A link failure is `failed`; a SIP 480 is the network's answer (`refused`), however temporary.
  matrix.answer = () => ({ ok: false, reason: 'the Matrix link is down' });
  await xmpp.submit(message('xmpp:alice@corp.test', 'matrix:u/bob:hs.test', 'two'));
  matrix.answer = () => ({ ok: false, refused: true, reason: '480 Temporarily Unavailable' });
  await xmpp.submit(message('xmpp:alice@corp.test', 'matrix:u/bob:hs.test', 'three'));
  matrix.answer = () => {
    throw new Error('adapter bug');
  };
  await xmpp.submit(message('xmpp:alice@corp.test', 'matrix:u/bob:hs.test', 'four'));
  const all = await records();
  t.same(
    all.map((r) => [r.category, r.outcome, r.outcomeReason ?? null]),
    [
      ['decision', 'pending', null],
      ['outcome', 'refused', 'M_FORBIDDEN: bob is not in the room'],
      ['decision', 'pending', null],
      ['outcome', 'failed', 'the Matrix link is down'],
      ['decision', 'pending', null],
      ['outcome', 'refused', '480 Temporarily Unavailable'],
      ['decision', 'pending', null],
      ['outcome', 'refused', 'adapter bug'],
    ],
  );
  t.match(all[1], { eventId: ev.id, decision: 'allow', rule: 'partners' });
});

t.test('a denied message never reaches the target; the sender is told with the reason', async (t) => {
  const { store, xmpp, matrix } = await setup();
  const out = await xmpp.submit(message('xmpp:alice@corp.test', 'matrix:u/eve:rival.test', 'psst'));
  t.match(out, { status: 'denied', rule: 'rival', reason: 'Communication with competitors is prohibited' });
  t.equal(matrix.delivered.length, 0, 'nothing delivered');
  t.same(
    xmpp.refused.map((r) => r.refusal),
    [{ code: 'policy', rule: 'rival', reason: 'Communication with competitors is prohibited' }],
  );
  const [rec] = await store.audit.range(1, 10);
  t.match(rec, { decision: 'deny', rule: 'rival' });
});

t.test('the default decision (fail closed) denies and names no rule', async (t) => {
  const { xmpp, matrix } = await setup();
  const out = await matrix.submit(message('matrix:u/bob:hs.test', 'matrix:u/carol:consumer.test', 'x'));
  t.match(out, { status: 'denied', rule: null });
  t.equal(matrix.delivered.length, 0);
  t.equal(xmpp.delivered.length, 0);
});

t.test('redaction changes what is delivered and what is audited', async (t) => {
  const { store, xmpp, matrix } = await setup();
  const out = await xmpp.submit(
    message('xmpp:alice@corp.test', 'matrix:u/bob:hs.test', 'card 4111 1111 1111 1111.'),
  );
  t.match(out, { status: 'delivered', decision: 'redact' });
  t.equal(bodyOf(matrix.delivered[0]), 'card [card].');
  const [rec] = await store.audit.range(1, 1);
  t.same(rec!.content, { mode: 'full', body: 'card [card].' }, 'the archive never holds the card number');
});

t.test('a redacted message names the rule that allowed it and every rule that changed it', async (t) => {
  // partners (allow) decides; cards (redact) changes the body: both are in the record.
  const { xmpp, records } = await setup();
  await xmpp.submit(message('xmpp:alice@corp.test', 'matrix:u/bob:hs.test', 'card 4111 1111 1111 1111.'));
  const [rec] = await records();
  t.match(rec, { decision: 'redact', rule: 'partners', reason: null });
  t.same(rec!.transforms, [
    { rule: 'cards', effect: 'redact', reason: 'Card numbers never leave the company.' },
  ]);
  // Consumers: the disclaimer is a transform of the first message of a conversation only.
  await xmpp.submit(message('xmpp:alice@corp.test', 'matrix:u/carol:consumer.test', 'hi carol'));
  await xmpp.submit(message('xmpp:alice@corp.test', 'matrix:u/carol:consumer.test', 'again'));
  const decided = (await records()).filter((r) => r.category === 'decision');
  t.match(decided[1], { decision: 'allow', rule: 'consumers' });
  t.same(decided[1]!.transforms, [{ rule: 'consumers', effect: 'disclaimer', reason: null }]);
  t.equal(decided[2]!.transforms, undefined, 'nothing changed the second message');
});

t.test('disclaimer on the first message of a conversation only, and the rate limit', async (t) => {
  const { xmpp, matrix } = await setup();
  const a = 'xmpp:alice@corp.test';
  const c = 'matrix:u/carol:consumer.test';
  await xmpp.submit(message(a, c, 'one'));
  await xmpp.submit(message(a, c, 'two'));
  t.same(
    matrix.delivered.map((d) => d.event.kind === 'message' && d.event.body),
    ['one\n\nThis chat is archived.', 'two'],
  );
  const third = await xmpp.submit(message(a, c, 'three'));
  t.match(third, { status: 'denied', rule: 'consumers' });
  t.equal(xmpp.refused[0]?.refusal.code, 'rate-limit');
  t.equal(matrix.delivered.length, 2);
});

t.test("a rate-limited message: the policy's decision, and the limit as its outcome", async (t) => {
  const { xmpp, records } = await setup();
  const a = 'xmpp:alice@corp.test';
  const c = 'matrix:u/carol:consumer.test';
  await xmpp.submit(message(a, c, 'one'));
  await xmpp.submit(message(a, c, 'two'));
  const third = message(a, c, 'three');
  const out = await xmpp.submit(third);
  t.match(out, { status: 'denied', rule: 'consumers', reason: 'Rate limit exceeded (2 per 60 s).' });
  const rec = (await records()).find((r) => r.eventId === third.id);
  t.match(rec, {
    category: 'decision',
    decision: 'allow',
    rule: 'consumers',
    outcome: 'rate-limited',
    outcomeReason: 'Rate limit of rule consumers exceeded: 2 per 60 s per sender.',
    content: { mode: 'full', body: 'three' },
  });
  t.equal((await records()).filter((r) => r.eventId === third.id).length, 1, 'one record says it all');
});

t.test('every record carries the event time apart from the time it was written', async (t) => {
  const clock = { t: Date.parse('2026-12-01T09:00:00.000Z') };
  const { xmpp, matrix, records } = await setup({ now: () => new Date(clock.t) });
  const sent = message('xmpp:alice@corp.test', 'matrix:u/bob:hs.test', 'hi', {
    time: '2026-12-01T08:59:59.250Z',
  });
  matrix.onDeliver = () => {
    clock.t += 5000;
  };
  await xmpp.submit(sent);
  const denied = message('xmpp:alice@corp.test', 'matrix:u/eve:rival.test', 'psst', {
    time: '2026-12-01T08:59:59.500Z',
  });
  await xmpp.submit(denied);
  const [decided, outcome, refused] = await records();
  t.match(decided, { eventTime: '2026-12-01T08:59:59.250Z', time: '2026-12-01T09:00:00.000Z' });
  t.match(outcome, { eventTime: '2026-12-01T08:59:59.250Z', time: '2026-12-01T09:00:05.000Z' });
  t.match(refused, {
    eventTime: '2026-12-01T08:59:59.500Z',
    decision: 'deny',
    outcome: 'denied',
    outcomeReason: null,
  });
});

t.test('refusals after an allow keep the policy decision and say what happened', async (t) => {
  const { xmpp, records } = await setup();
  await xmpp.submit(message('xmpp:alice@corp.test', 'sip:x@nowhere.test', 'hi'));
  await xmpp.submit(message('xmpp:alice@corp.test', 'xmpp:bob@corp.test', 'loop'));
  await xmpp.submit({
    kind: 'call',
    id: 'c9',
    time: '2026-11-25T10:00:00Z',
    from: 'xmpp:alice@corp.test',
    to: 'sip:carol@partner.test',
    adapter: 'corp',
    traceId: 't',
    action: 'invite',
    callId: 'call-9',
  });
  await xmpp.submit(message('xmpp:alice@corp.test', 'matrix:u/eve:rival.test', 'psst'));
  const all = await records();
  t.same(
    all.map((r) => [r.decision, r.rule, r.outcome]),
    [
      ['allow', 'consumers', 'unroutable'],
      ['deny', null, 'denied'],
      ['allow', 'partners', 'unsupported'],
      ['deny', 'rival', 'denied'],
    ],
  );
  t.match(all[0], { outcomeReason: 'No network here serves the domain nowhere.test.' });
  t.match(all[1], { reason: /default decision is deny/, outcomeReason: null });
  t.match(all[2], { outcomeReason: "The recipient's network cannot carry call events." });
  t.match(all[3], { reason: 'Communication with competitors is prohibited', outcomeReason: null });
});

t.test('fail closed: when the audit cannot be written the event is not delivered', async (t) => {
  const broken: AuditSink = { write: async (_e: AuditEntry) => Promise.reject(new Error('store down')) };
  const { xmpp, matrix } = await setup({ audit: broken });
  const out = await xmpp.submit(message('xmpp:alice@corp.test', 'matrix:u/bob:hs.test', 'hello'));
  t.match(out, { status: 'failed', code: 'audit' });
  t.equal(matrix.delivered.length, 0);
  t.equal(xmpp.refused[0]?.refusal.code, 'audit');
});

t.test('with failClosed off the event is delivered even if the audit fails', async (t) => {
  const broken: AuditSink = { write: async () => Promise.reject(new Error('store down')) };
  const { xmpp, matrix } = await setup({ audit: broken, failClosed: false });
  const out = await xmpp.submit(message('xmpp:alice@corp.test', 'matrix:u/bob:hs.test', 'hello'));
  t.match(out, { status: 'delivered' });
  t.equal(matrix.delivered.length, 1);
});

t.test('unroutable and unsupported events are refused visibly and audited', async (t) => {
  const { store, xmpp, sip } = await setup();
  const nowhere = await xmpp.submit(message('xmpp:alice@corp.test', 'sip:x@nowhere.test', 'hi'));
  t.match(nowhere, { status: 'denied' });
  t.equal(xmpp.refused[0]?.refusal.code, 'unroutable');
  const call = await xmpp.submit({
    kind: 'call',
    id: 'c1',
    time: '2026-11-25T10:00:00Z',
    from: 'xmpp:alice@corp.test',
    to: 'sip:carol@partner.test',
    adapter: 'corp',
    traceId: 't',
    action: 'invite',
    callId: 'call-1',
  });
  t.match(call, { status: 'denied' });
  t.equal(xmpp.refused[1]?.refusal.code, 'unsupported');
  t.equal(sip.delivered.length, 0);
  t.equal(await store.audit.length(), 2);
});

t.test('an edit to a network without corrections is degraded to a marked new message', async (t) => {
  const { xmpp, sip } = await setup();
  await xmpp.submit(
    message('xmpp:alice@corp.test', 'sip:carol@partner.test', 'fixed', { replaces: 'm0' } as never),
  );
  const d = sip.delivered[0]!;
  t.equal(d.event.kind === 'message' && d.event.body, '[correction] fixed');
  t.notOk(d.event.kind === 'message' && d.event.replaces);
  t.match(d.degraded, /correction/);
});

t.test('fitToCapabilities: html and attachments degrade, over-long bodies are refused', async (t) => {
  const caps = fullCapabilities({ html: false, attachments: false, maxBodyLength: 50 });
  const e = message('xmpp:a@corp.test', 'sip:b@partner.test', 'see', {
    html: '<b>see</b>',
    attachments: [{ mime: 'image/png', name: 'a.png', url: 'https://x/a.png' }],
  } as never);
  const r = fitToCapabilities(e, caps);
  t.ok(r.ok);
  if (r.ok) {
    t.equal(r.event.kind === 'message' && r.event.body, 'see\na.png: https://x/a.png');
    t.notOk(r.event.kind === 'message' && r.event.html);
  }
  t.match(fitToCapabilities(message('xmpp:a@corp.test', 'sip:b@partner.test', 'x'.repeat(51)), caps), {
    ok: false,
    reason: /too long/,
  });
});

t.test('malformed events from an adapter are refused, not crashed on', async (t) => {
  const { xmpp, matrix } = await setup();
  const out = await xmpp.submit({ kind: 'message', id: 'x' } as never);
  t.match(out, { status: 'failed', code: 'invalid' });
  const bad = await xmpp.submit(message('xmpp:alice@corp.test', 'not-an-address', 'hi'));
  t.match(bad, { status: 'failed', code: 'invalid' });
  const twice = await xmpp.submit(
    message('xmpp:alice@corp.test', 'matrix:u/bob:hs.test', 'hi', {
      requests: ['chatstates', 'delivered', 'delivered'],
    }),
  );
  t.match(twice, { status: 'failed', code: 'invalid', reason: /requests: delivered is listed twice/ });
  t.equal(matrix.delivered.length, 0);
  const once = await xmpp.submit(
    message('xmpp:alice@corp.test', 'matrix:u/bob:hs.test', 'hi', { requests: ['chatstates', 'delivered'] }),
  );
  t.match(once, { status: 'delivered' }, 'each request once is fine');
});

t.test('no adapter can deliver across the boundary without a decision', async (t) => {
  const { xmpp, matrix } = await setup();
  // What an adapter is given: no handle on any other adapter, only submit (and the core's
  // delivery services, which reach the store under the adapter's own prefix).
  t.same(Object.keys(xmpp.ctx!).sort(), [
    'bounce',
    'ids',
    'lease',
    'logger',
    'networkOf',
    'queue',
    'reject',
    'replicaId',
    'setStatus',
    'state',
    'submit',
  ]);
  // A forged delivery is rejected by the receiving adapter (isIssuedDelivery).
  const forged = {
    event: message('xmpp:alice@corp.test', 'matrix:u/bob:hs.test', 'forged'),
    decision: 'allow' as const,
    rule: null,
    obligations: {},
    auditSeq: 1,
  };
  await t.rejects(matrix.deliver(forged), /not issued by the pipeline/);
  // Every delivery that did happen has a decision and an audit record.
  await xmpp.submit(message('xmpp:alice@corp.test', 'matrix:u/bob:hs.test', 'real'));
  t.equal(matrix.delivered.length, 1);
  t.ok(matrix.delivered[0]!.auditSeq >= 1);
});

t.test('the pipeline is the only caller of Adapter.deliver in the gateway', async (t) => {
  // An adapter has no handle on another adapter (its context, above), so a deliver() call
  // inside an adapter's folder is its own; anywhere else only the pipeline may call it.
  const src = fileURLToPath(new URL('../../src/', import.meta.url));
  const callers: string[] = [];
  for (const file of readdirSync(src, { recursive: true, encoding: 'utf8' })) {
    if (!file.endsWith('.ts') || file.startsWith(`adapters${sep}`)) continue;
    const calls = readFileSync(join(src, file), 'utf8').match(/\.deliver\(/g)?.length ?? 0;
    for (let i = 0; i < calls; i++) callers.push(file.split(sep).join('/'));
  }
  t.same(callers, ['core/pipeline.ts'], 'one call, in the pipeline');
});

t.test(
  'every delivery an adapter receives was issued by the pipeline, without a check of its own',
  async (t) => {
    const { xmpp, matrix, records } = await setup();
    // A target that takes whatever it is handed: what reaches it is the pipeline's doing alone.
    const received: Delivery[] = [];
    matrix.deliver = async (d) => {
      received.push(d);
      return { ok: true };
    };
    const alice = 'xmpp:alice@corp.test';
    const sent = [
      message(alice, 'matrix:u/bob:hs.test', 'allowed'),
      message(alice, 'matrix:u/eve:rival.test', 'denied'),
      message(alice, 'matrix:u/carol:consumer.test', 'one'),
      message(alice, 'matrix:u/carol:consumer.test', 'two'),
      message(alice, 'matrix:u/carol:consumer.test', 'rate-limited'),
    ];
    for (const e of sent) await xmpp.submit(e);
    t.same(
      received.map((d) => d.event.id),
      [sent[0]!.id, sent[2]!.id, sent[3]!.id],
      'the allowed events only',
    );
    const decided = (await records()).filter((r) => r.category === 'decision');
    for (const d of received) {
      t.ok(isIssuedDelivery(d), 'issued by the pipeline');
      t.ok(Object.isFrozen(d), 'and unchangeable on its way');
      t.match(
        decided.find((r) => r.seq === d.auditSeq),
        { eventId: d.event.id, outcome: 'pending' },
        'after its decision record',
      );
    }
  },
);

t.test('shutdown: intake stops, in-flight events drain, and the chain verifies', async (t) => {
  const { store, writer, pipeline, xmpp, matrix } = await setup();
  let release!: () => void;
  const gate = new Promise<void>((r) => {
    release = r;
  });
  matrix.onDeliver = () => gate;
  const inflight = xmpp.submit(message('xmpp:alice@corp.test', 'matrix:u/bob:hs.test', 'slow'));
  await new Promise((r) => setImmediate(r));
  pipeline.stopIntake();
  const late = await xmpp.submit(message('xmpp:alice@corp.test', 'matrix:u/bob:hs.test', 'late'));
  t.match(late, { status: 'failed', code: 'shutdown' });
  let drained = false;
  const d = pipeline.drain().then(() => {
    drained = true;
  });
  await new Promise((r) => setTimeout(r, 20));
  t.notOk(drained, 'drain waits for the in-flight event');
  release();
  await d;
  t.match(await inflight, { status: 'delivered' });
  await writer.close();
  t.match(await verifyLog(store.audit), { ok: true, records: 2 }, 'its decision and its outcome');
});
