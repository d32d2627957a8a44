// The pipeline with fail-closed audit on the PostgreSQL archive, while PostgreSQL stops in
// the middle of traffic and starts again: nothing crosses without its decision record, the
// senders of refused events are told, nothing accepted is lost (outcome records posted
// while the archive was down are written when it returns), and the chain verifies after.
import t from 'tap';
import type { SubmitOutcome } from '../../src/core/adapter.js';
import type { AuditRecord } from '../../src/core/audit/record.js';
import { verifyLog } from '../../src/core/audit/verify.js';
import { AuditWriter } from '../../src/core/audit/writer.js';
import { silentLogger } from '../../src/core/logger.js';
import { Pipeline } from '../../src/core/pipeline.js';
import { loadPolicyFile } from '../../src/core/policy/index.js';
import { openStore } from '../../src/store/open.js';
import { MemoryAdapter, message } from '../fixtures/memory-adapter.js';
import { startPostgres } from '../harness/postgres.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function until(what: string, ok: () => boolean | Promise<boolean>, ms = 20_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await ok())) {
    if (Date.now() > deadline) throw new Error(`not within ${ms} ms: ${what}`);
    await sleep(20);
  }
}

t.test('fail-closed on the archive: PostgreSQL stops mid-traffic and starts again', async (t) => {
  const pg = await startPostgres({ fast: true });
  t.teardown(() => pg.destroy());
  const store = await openStore(
    { memory: true, archive: { url: pg.url, statementTimeoutMs: 2000 } },
    silentLogger,
  );
  t.teardown(() => store.close());
  const writer = new AuditWriter(store.audit, { retryMinMs: 50, retryMaxMs: 500 });
  const policy = loadPolicyFile('policies/default.yaml');
  const pipeline = new Pipeline({
    policy: () => policy,
    audit: writer,
    store,
    logger: silentLogger,
    failClosed: true,
  });
  const corp = new MemoryAdapter('corp', 'xmpp', ['corp.test']);
  const partner = new MemoryAdapter('partner', 'matrix', ['partner.test']);
  for (const a of [corp, partner]) await a.start(pipeline.register(a));
  const sent = new Map<string, { body: string; out: SubmitOutcome }>();
  const send = async (body: string): Promise<SubmitOutcome> => {
    const ev = message('xmpp:alice@corp.test', 'matrix:u/bob:partner.test', body);
    const out = await corp.submit(ev);
    sent.set(ev.id, { body, out });
    return out;
  };
  // Deliveries of `slow…` messages wait at a gate: their decision records are written before
  // the archive stops, their outcome records after it stopped.
  let openGate: () => void = () => {};
  const gate = new Promise<void>((r) => {
    openGate = r;
  });
  let held = 0;
  partner.onDeliver = async (d) => {
    if (d.event.kind === 'message' && d.event.body.startsWith('slow')) {
      held += 1;
      await gate;
    }
  };

  const before = await Promise.all(['a', 'b', 'c'].map(send));
  t.ok(
    before.every((o) => o.status === 'delivered'),
    'delivered while the archive is up',
  );
  const slow = ['slow1', 'slow2'].map(send);
  await until('the slow deliveries are under way', () => held === 2);

  let running = true;
  let i = 0;
  const traffic = (async () => {
    while (running) {
      await send(`traffic ${i++}`);
      await sleep(5);
    }
  })();
  await sleep(200);
  await pg.stop();
  const stoppedAt = i;
  openGate();
  const slowOut = await Promise.all(slow);
  t.same(
    slowOut.map((o) => o.status),
    ['delivered', 'delivered'],
    'accepted before the outage: delivered during it',
  );
  await until('events refused while the archive is down', () =>
    [...sent.values()].some((s) => s.out.status === 'failed'),
  );
  // Posted as their deliveries end; kept by the writer between attempts.
  await until('the outcome records waiting for the archive', () => writer.unwritten >= 2, 5000);
  t.pass('outcome records wait for the archive');
  t.equal(await store.ping(), false, 'the store does not answer while its archive is down (readiness)');

  await pg.start();
  const restartedAt = i;
  await until('traffic flows again', () =>
    [...sent.values()].some((s) => s.body === `traffic ${restartedAt + 5}` && s.out.status === 'delivered'),
  );
  running = false;
  await traffic;
  t.equal(await store.ping(), true, 'and answers again');
  await until('every record written', async () => {
    await writer.flush();
    return writer.unwritten === 0;
  });

  const outcomes = [...sent.entries()];
  const failed = outcomes.filter(([, s]) => s.out.status === 'failed');
  const delivered = outcomes.filter(([, s]) => s.out.status === 'delivered');
  t.ok(failed.length > 0, `some events were refused while the archive was down (${failed.length})`);
  t.ok(i > stoppedAt, 'traffic went on during the outage');
  t.equal(
    failed.length + delivered.length,
    outcomes.length,
    'every event delivered or refused, nothing else',
  );
  for (const [, s] of failed)
    t.match(s.out, { status: 'failed', code: 'audit' }, `${s.body}: refused for the archive`);
  const refusedIds = new Set(corp.refused.filter((r) => r.refusal.code === 'audit').map((r) => r.event.id));
  t.same(
    failed.map(([id]) => id).filter((id) => !refusedIds.has(id)),
    [],
    'the sender of every refused event was told',
  );
  const deliveredIds = new Set(partner.delivered.map((d) => d.event.id));
  t.same(
    failed.map(([id]) => id).filter((id) => deliveredIds.has(id)),
    [],
    'no refused event crossed',
  );
  t.equal(partner.delivered.length, delivered.length, 'every delivered event was accepted');

  const records: AuditRecord[] = await store.audit.range(1, 100_000);
  const decisions = new Map<string, number>();
  const outcomeRecs = new Map<string, number>();
  for (const r of records) {
    const m = r.category === 'decision' ? decisions : outcomeRecs;
    m.set(r.eventId, (m.get(r.eventId) ?? 0) + 1);
  }
  const missingDecision = [...deliveredIds].filter((id) => decisions.get(id) !== 1);
  t.same(missingDecision, [], 'every delivered event has exactly one decision record');
  const missingOutcome = [...deliveredIds].filter((id) => outcomeRecs.get(id) !== 1);
  t.same(missingOutcome, [], 'and exactly one outcome record (those posted during the outage too)');
  const slowIds = outcomes.filter(([, s]) => s.body.startsWith('slow')).map(([id]) => id);
  t.same(
    records.filter((r) => r.category === 'outcome' && slowIds.includes(r.eventId)).map((r) => r.outcome),
    ['delivered', 'delivered'],
    'the outcomes posted while the archive was down are in the trail',
  );
  t.ok(
    [...decisions.values(), ...outcomeRecs.values()].every((n) => n === 1),
    'no record written twice',
  );
  t.match(await verifyLog(store.audit), { ok: true, records: records.length });
});
