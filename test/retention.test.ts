// Retention and legal holds: the trim deletes records past retention unless a hold covers
// them, the chain stays verifiable, holds live in the Store; end to end through the
// gateway's admin API.
import { copyFileSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { parseConfig } from '../src/config.js';
import type { AuditRecord } from '../src/core/audit/record.js';
import { verifyLog } from '../src/core/audit/verify.js';
import { AuditWriter } from '../src/core/audit/writer.js';
import { silentLogger } from '../src/core/logger.js';
import { startGateway } from '../src/gateway.js';
import type { LegalHold, TrimReport } from '../src/http/services.js';
import { createLogger } from '../src/log.js';
import { HOLDS_KEY, holdProblem, Retention } from '../src/retention.js';
import { MemoryStore } from '../src/store/memory.js';
import { RedisStore } from '../src/store/redis.js';
import { entry } from './core/audit/fixtures.js';
import { MemoryAdapter, message } from './fixtures/memory-adapter.js';
import { tamperRecord } from './fixtures/tamper.js';
import { startRedis } from './harness/redis.js';

const NOW = new Date('2026-06-01T00:00:00Z');
const daysAgo = (d: number) => new Date(NOW.getTime() - d * 86_400_000).toISOString();

async function setup(
  times: { time: string; from?: string; to?: string }[],
  retentionDays: number | null = 30,
) {
  const store = new MemoryStore();
  const writer = new AuditWriter(store.audit);
  for (const x of times) {
    await writer.write(
      entry({
        time: x.time,
        from: x.from ?? 'xmpp:alice@corp.example',
        to: x.to ?? 'sip:bob@partner.example',
      }),
    );
  }
  const recorded: { action: string; actor: string; details: Record<string, unknown> }[] = [];
  const retention = new Retention({
    store,
    retentionDays,
    record: async (action, actor, details) => {
      recorded.push({ action, actor, details });
    },
    logger: silentLogger,
    now: () => NOW,
    pageSize: 3,
  });
  t.teardown(async () => {
    await retention.stop();
    await store.close();
  });
  return { store, writer, retention, recorded };
}

const seqs = async (store: MemoryStore) => (await store.audit.range(1, 1000)).map((r) => r.seq);

t.test('records past retention are trimmed; the chain still verifies from the anchor', async (t) => {
  const { store, retention } = await setup([
    { time: daysAgo(60) },
    { time: daysAgo(50) },
    { time: daysAgo(40) },
    { time: daysAgo(31) },
    { time: daysAgo(29) },
    { time: daysAgo(1) },
  ]);
  const report = await retention.trim();
  t.equal(report.removed, 4);
  t.equal(report.held, 0);
  t.equal(report.retentionDays, 30);
  t.equal(report.cutoff, daysAgo(30));
  t.same(await seqs(store), [5, 6]);
  const four = (await store.audit.anchor())!;
  t.equal(four.seq, 4, 'anchored at the last trimmed record');
  t.same(report.anchor, four);
  t.match(await verifyLog(store.audit), { ok: true, records: 2, head: { seq: 6 } });
  // Idempotent.
  t.equal((await retention.trim()).removed, 0);
  t.same(await seqs(store), [5, 6]);
});

t.test('a record within retention stops the trim (times are only roughly ordered)', async (t) => {
  const { store, retention } = await setup([
    { time: daysAgo(60) },
    { time: daysAgo(2) },
    { time: daysAgo(45) },
    { time: 'not a time' },
  ]);
  const report = await retention.trim();
  t.equal(report.removed, 1, 'only the record before the first one within retention');
  t.same(await seqs(store), [2, 3, 4]);
  t.match(await verifyLog(store.audit), { ok: true });
});

t.test('everything past retention: the anchor is the head and verify still passes', async (t) => {
  const { store, retention, writer } = await setup([{ time: daysAgo(90) }, { time: daysAgo(80) }]);
  t.equal((await retention.trim()).removed, 2);
  t.same(await seqs(store), []);
  t.match(await verifyLog(store.audit), { ok: true, head: { seq: 2 } });
  // New records chain after the anchor.
  await writer.write(entry({ time: daysAgo(0) }));
  t.match(await verifyLog(store.audit), { ok: true, records: 1, head: { seq: 3 } });
});

t.test('legal holds keep matching records past retention; releasing one lets them go', async (t) => {
  const { store, retention } = await setup([
    { time: daysAgo(60), from: 'xmpp:carol@corp.example' },
    { time: daysAgo(59), from: 'xmpp:alice@corp.example', to: 'sip:dave@rival.example' },
    { time: daysAgo(58), from: 'xmpp:carol@corp.example' },
    { time: daysAgo(45), from: 'xmpp:erin@corp.example' },
    { time: daysAgo(44), from: 'xmpp:erin@corp.example' },
    { time: daysAgo(40), from: 'xmpp:frank@corp.example' },
    { time: daysAgo(5) },
  ]);
  const byUser = await retention.setHold({ user: 'carol@corp.example', reason: 'Matter 17' }, 'admin');
  const byDomain = await retention.setHold({ domain: 'rival.example', reason: 'Inquiry 4' }, 'admin');
  const byTime = await retention.setHold(
    { from: daysAgo(44.5), to: daysAgo(41), reason: 'Incident 2026-04' },
    'admin',
  );
  t.match(byUser, {
    user: 'carol@corp.example',
    reason: 'Matter 17',
    createdBy: 'admin',
    createdAt: NOW.toISOString(),
  });
  t.equal((await retention.listHolds()).length, 3);

  const report = await retention.trim();
  t.same(
    await seqs(store),
    [1, 2, 3, 5, 7],
    'held records stay: carol (1, 3), rival.example (2), the time range (5)',
  );
  t.equal(report.removed, 2);
  t.equal(report.held, 4);
  t.equal(report.anchor?.seq, 6);
  t.match(await verifyLog(store.audit), { ok: true }, 'held records below the anchor verify on their own');

  // An edited held record still shows.
  const restore = tamperRecord(store.audit, 3, (r) => ({
    ...r,
    content: { mode: 'full', body: 'rewritten' },
  }));
  t.match(await verifyLog(store.audit), { ok: false, firstBad: 3 });
  restore();

  t.same(await retention.releaseHold(byUser.id), byUser);
  t.equal(await retention.releaseHold(byUser.id), null, 'released once');
  await retention.releaseHold(byTime.id);
  const after = await retention.trim();
  t.same(await seqs(store), [2, 7]);
  t.equal(after.removed, 3);
  t.equal(after.held, 1);
  t.match(await verifyLog(store.audit), { ok: true });
  t.same(
    (await retention.listHolds()).map((h) => h.id),
    [byDomain.id],
  );
});

t.test('holds live in the store: another instance (replica) sees them', async (t) => {
  const { store, retention } = await setup([]);
  const hold = await retention.setHold({ domain: 'partner.example', reason: 'Audit 9' }, 'admin');
  const other = new Retention({ store, retentionDays: 30, record: async () => {}, logger: silentLogger });
  t.same(await other.listHolds(), [hold]);
  t.ok(await store.hget(HOLDS_KEY, hold.id), 'kept under the holds key');
  // An unreadable hold is never dropped silently: it holds everything.
  await store.hset(HOLDS_KEY, 'broken', '{not json');
  const listed = await other.listHolds();
  t.equal(listed.length, 2);
  t.match(
    listed.find((h: LegalHold) => h.id === 'broken'),
    { from: '1970-01-01T00:00:00Z', reason: 'unreadable hold' },
  );
});

t.test('hold criteria are checked', async (t) => {
  t.match(holdProblem({ reason: 'x' }), /at least one of user, domain, from or to/);
  t.match(holdProblem({ user: 'a@b', reason: ' ' }), /needs a reason/);
  t.match(
    holdProblem({ from: '2026-02-01T00:00:00Z', to: '2026-01-01T00:00:00Z', reason: 'x' }),
    /from must be before to/,
  );
  t.match(holdProblem({ from: 'yesterday', reason: 'x' }), /not an ISO 8601 instant/);
  t.equal(holdProblem({ user: 'alice@corp.example', reason: 'Matter 1' }), null);
  const { retention } = await setup([]);
  await t.rejects(retention.setHold({ reason: 'everything' }, 'admin'), RangeError);
  t.throws(
    () =>
      new Retention({
        store: new MemoryStore(),
        retentionDays: 0,
        record: async () => {},
        logger: silentLogger,
      }),
    RangeError,
  );
});

t.test('without retention nothing is trimmed', async (t) => {
  const { store, retention } = await setup([{ time: daysAgo(4000) }], null);
  t.same(await retention.trim(), { retentionDays: null, cutoff: null, removed: 0, held: 0, anchor: null });
  t.same(await seqs(store), [1]);
  retention.start();
  await new Promise((r) => setTimeout(r, 30));
  t.same(await seqs(store), [1], 'no timer without retention');
});

t.test('the periodic trim runs and records what it deleted', async (t) => {
  const store = new MemoryStore();
  const writer = new AuditWriter(store.audit);
  await writer.write(entry({ time: daysAgo(100) }));
  await writer.write(entry({ time: daysAgo(100) }));
  await writer.write(entry({ time: daysAgo(0) }));
  const recorded: { action: string; actor: string; details: Record<string, unknown> }[] = [];
  const retention = new Retention({
    store,
    retentionDays: 7,
    record: async (action, actor, details) => {
      recorded.push({ action, actor, details });
    },
    logger: silentLogger,
    now: () => NOW,
    firstRunMs: 5,
    intervalMs: 20,
  });
  retention.start();
  const deadline = Date.now() + 2000;
  while (recorded.length === 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 5));
  await new Promise((r) => setTimeout(r, 50));
  await retention.stop();
  t.equal(recorded.length, 1, 'recorded once: later runs removed nothing');
  t.match(recorded[0], {
    action: 'audit.trim',
    actor: 'retention',
    details: { removed: 2, retentionDays: 7 },
  });
  t.same(await seqs(store), [3]);
  await store.close();
});

t.test(
  'on Redis: holds are shared by replicas, trims keep held records and the chain verifiable',
  async (t) => {
    const redis = await startRedis();
    t.teardown(() => redis.stop());
    const a = new RedisStore({ url: redis.url, prefix: 'ret:' });
    const b = new RedisStore({ url: redis.url, prefix: 'ret:' });
    await a.ready();
    await b.ready();
    t.teardown(async () => {
      await a.close();
      await b.close();
    });
    const writer = new AuditWriter(a.audit);
    for (const [d, from] of [
      [60, 'xmpp:carol@corp.example'],
      [59, 'xmpp:alice@corp.example'],
      [58, 'xmpp:carol@corp.example'],
      [57, 'xmpp:alice@corp.example'],
      [1, 'xmpp:alice@corp.example'],
    ] as const) {
      await writer.write(entry({ time: daysAgo(d), from }));
    }
    const opts = {
      retentionDays: 30,
      record: async () => {},
      logger: silentLogger,
      now: () => NOW,
      pageSize: 2,
    };
    const replicaA = new Retention({ store: a, ...opts });
    const replicaB = new Retention({ store: b, ...opts });
    const hold = await replicaA.setHold({ user: 'carol@corp.example', reason: 'Matter 5' }, 'admin');
    t.same(await replicaB.listHolds(), [hold], 'the other replica sees the hold');
    const report = await replicaB.trim();
    t.match(report, { removed: 2, held: 2, anchor: { seq: 4 } });
    t.same(
      (await a.audit.range(1, 100)).map((r) => r.seq),
      [1, 3, 5],
    );
    t.match(await verifyLog(a.audit), { ok: true, head: { seq: 5 } });
    await replicaB.releaseHold(hold.id);
    t.same(await replicaA.listHolds(), []);
    t.match(await replicaA.trim(), { removed: 2, held: 0 });
    t.same(
      (await a.audit.range(1, 100)).map((r) => r.seq),
      [5],
    );
    t.match(await verifyLog(a.audit), { ok: true, records: 1 });
  },
);

// ---------------------------------------------------------------------------------------
// End to end: config -> gateway -> admin API

const ADMIN = 'admin-token-0123456789';
const AUDITOR = 'auditor-token-0123456789';

t.test('gateway: audit.retentionDays, holds through the API, trim keeps the chain verifiable', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'parley-retention-'));
  copyFileSync('policies/default.yaml', join(dir, 'policy.yaml'));
  const text =
    // The embedded default store, in this test's folder (a relative path would be the working directory's).
    `store: { sqlite: "${join(dir, 'parley.db')}" }\n` +
    `http:\n  listen: "127.0.0.1:0"\n  tokens: { admin: "\${A}", auditor: "\${B}" }\n` +
    'policy: { file: policy.yaml }\naudit: { retentionDays: 30 }\n';
  writeFileSync(join(dir, 'parley.yaml'), text);
  const loaded = parseConfig(text, join(dir, 'parley.yaml'), { A: ADMIN, B: AUDITOR });
  t.equal(loaded.config.audit?.retentionDays, 30);
  t.throws(
    () =>
      parseConfig(text.replace('retentionDays: 30', 'retentionDays: -1'), join(dir, 'parley.yaml'), {
        A: ADMIN,
        B: AUDITOR,
      }),
    /retentionDays/,
  );
  const corp = new MemoryAdapter('corp', 'xmpp', ['corp.test']);
  const partner = new MemoryAdapter('partner', 'matrix', ['partner.test']);
  // Records are aged by the time they were written (not by the event's own time, which a
  // network states): the trail's clock starts 60 days back and is set right before `recent`.
  let clock = Date.now() - 60 * 86_400_000;
  const gw = await startGateway(loaded, {
    logger: createLogger({ level: 'silent' }),
    extraAdapters: [corp, partner],
    now: () => new Date(clock),
  });
  t.teardown(() => gw.stop());
  const api = async (path: string, init: { method?: string; token?: string; body?: unknown } = {}) => {
    const res = await fetch(`${gw.url}${path}`, {
      method: init.method ?? 'GET',
      headers: {
        authorization: `Bearer ${init.token ?? ADMIN}`,
        ...(init.body !== undefined ? { 'content-type': 'application/json' } : {}),
      },
      body: init.body === undefined ? undefined : JSON.stringify(init.body),
    });
    const body = res.status === 204 ? null : ((await res.json()) as Record<string, unknown>);
    return { status: res.status, body };
  };

  const old = new Date(Date.now() - 60 * 86_400_000).toISOString();
  await corp.submit(message('xmpp:alice@corp.test', 'matrix:u/bob:partner.test', 'old one', { time: old }));
  await corp.submit(message('xmpp:carol@corp.test', 'matrix:u/bob:partner.test', 'old, held', { time: old }));
  await corp.submit(message('xmpp:alice@corp.test', 'matrix:u/bob:partner.test', 'old two', { time: old }));
  // Each delivery's outcome record follows its decision record; let those be written too.
  for (let i = 0; i < 100 && (await gw.store.audit.range(1, 100)).length < 6; i++) {
    await new Promise((r) => setTimeout(r, 10));
  }
  clock = Date.now();
  await corp.submit(
    message('xmpp:alice@corp.test', 'matrix:u/bob:partner.test', 'recent', {
      time: new Date().toISOString(),
    }),
  );
  t.equal(partner.delivered.length, 4);

  // Roles: auditors list, admins set and release.
  t.equal((await api('/api/v1/holds', { token: 'wrong' })).status, 401);
  t.equal(
    (
      await api('/api/v1/holds', {
        method: 'POST',
        token: AUDITOR,
        body: { user: 'carol@corp.test', reason: 'x' },
      })
    ).status,
    403,
  );
  t.equal((await api('/api/v1/audit/trim', { method: 'POST', token: AUDITOR })).status, 403);
  const bad = await api('/api/v1/holds', { method: 'POST', body: { reason: 'no criteria' } });
  t.match(bad, {
    status: 400,
    body: { error: 'invalid_body', message: /at least one of user, domain, from or to/ },
  });
  const set = await api('/api/v1/holds', {
    method: 'POST',
    body: { user: 'carol@corp.test', reason: 'Matter 17' },
  });
  t.match(set, { status: 201, body: { user: 'carol@corp.test', reason: 'Matter 17', createdBy: 'admin' } });
  const listed = await api('/api/v1/holds', { token: AUDITOR });
  t.match(listed, { status: 200, body: { retentionDays: 30, holds: [{ id: set.body?.id }] } });

  const trim = await api('/api/v1/audit/trim', { method: 'POST' });
  // Each old message is a decision and an outcome record: two messages go, the held one stays.
  t.match(trim, { status: 200, body: { retentionDays: 30, removed: 4, held: 2, anchor: { seq: Number } } });
  const kept = (await gw.store.audit.range(1, 100)).filter((r) => r.category === 'decision');
  t.same(
    kept.map((r) => r.content.mode === 'full' && r.content.body),
    ['old, held', 'recent'],
    'the held message and the recent one',
  );
  t.match(await api('/api/v1/audit/verify', { token: AUDITOR }), { status: 200, body: { ok: true } });

  const id = String(set.body?.id);
  t.equal((await api(`/api/v1/holds/${id}`, { method: 'DELETE', token: AUDITOR })).status, 403);
  t.match(await api(`/api/v1/holds/${id}`, { method: 'DELETE' }), { status: 200, body: { id } });
  t.match(await api(`/api/v1/holds/${id}`, { method: 'DELETE' }), {
    status: 404,
    body: { error: 'not_found' },
  });
  t.match(await api('/api/v1/audit/trim', { method: 'POST' }), {
    status: 200,
    body: { removed: 2, held: 0 },
  });
  t.match(await api('/api/v1/audit/verify'), { status: 200, body: { ok: true } });

  // Every action is in the trail.
  const admin = await api('/api/v1/audit?category=admin&limit=100', { token: AUDITOR });
  const actions = ((admin.body?.records ?? []) as AuditRecord[]).map((r) => r.kind).reverse();
  t.same(
    actions.filter((a) => /^(hold|audit\.trim)/.test(a)),
    ['hold.set', 'audit.trim', 'hold.release', 'audit.trim'],
  );
  const trimRecord = ((admin.body?.records ?? []) as AuditRecord[]).find((r) => r.kind === 'audit.trim');
  t.match(trimRecord?.details as unknown as TrimReport, { removed: 2, retentionDays: 30 });
});
