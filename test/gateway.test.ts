// The composition root end to end: config -> store, policy, audit, pipeline, HTTP.
import { copyFileSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t, { type Test } from 'tap';
import { parseConfig } from '../src/config.js';
import { startGateway } from '../src/gateway.js';
import { createLogger } from '../src/log.js';
import { MemoryAdapter, message } from './fixtures/memory-adapter.js';

interface Body {
  records: { kind: string; decision: string; rule: string | null }[];
  version: string;
  lastError: { message: string } | null;
  problems: { message: string }[];
}

const ADMIN = 'admin-token-0123456789';
const AUDITOR = 'auditor-token-0123456789';

async function start(t: Test, extra = '') {
  const dir = mkdtempSync(join(tmpdir(), 'parley-gw-'));
  copyFileSync('policies/default.yaml', join(dir, 'policy.yaml'));
  const text = `store: { memory: true }\nhttp:\n  listen: "127.0.0.1:0"\n  tokens: { admin: "\${A}", auditor: "\${B}" }\npolicy: { file: policy.yaml }\n${extra}`;
  writeFileSync(join(dir, 'parley.yaml'), text);
  const loaded = parseConfig(text, join(dir, 'parley.yaml'), { A: ADMIN, B: AUDITOR });
  let logs = '';
  const logger = createLogger({
    level: 'info',
    destination: {
      write: (s: string) => {
        logs += s;
        return true;
      },
    } as unknown as NodeJS.WritableStream,
  });
  const corp = new MemoryAdapter('corp', 'xmpp', ['corp.test']);
  const partner = new MemoryAdapter('partner', 'matrix', ['partner.test']);
  const gw = await startGateway(loaded, { logger, extraAdapters: [corp, partner] });
  t.teardown(() => gw.stop());
  const api = async (path: string, init: RequestInit & { token?: string } = {}) => {
    const res = await fetch(`${gw.url}${path}`, {
      ...init,
      headers: { authorization: `Bearer ${init.token ?? ADMIN}`, ...(init.headers ?? {}) },
    });
    // Loosely typed on purpose: each test asserts the shape it needs.
    const body = (
      res.headers.get('content-type')?.includes('json') ? await res.json() : await res.text()
    ) as Body;
    return { status: res.status, body };
  };
  return { gw, dir, corp, partner, api, logs: () => logs };
}

t.test('events cross, are audited, and the admin API shows and verifies them', async (t) => {
  const { corp, partner, api } = await start(t);
  await corp.submit(message('xmpp:alice@corp.test', 'matrix:u/bob:partner.test', 'hello partner'));
  await corp.submit({
    kind: 'call',
    id: 'c1',
    time: new Date().toISOString(),
    from: 'xmpp:alice@corp.test',
    to: 'matrix:u/eve:consumer.example',
    adapter: 'corp',
    traceId: 't1',
    action: 'invite',
    callId: 'k1',
  });
  t.equal(partner.delivered.length, 1);
  t.equal(corp.refused[0]?.refusal.rule, 'no-consumer-calls');

  const q = await api('/api/v1/audit?decision=deny', { token: AUDITOR });
  t.equal(q.status, 200);
  t.equal(q.body.records.length, 1);
  t.match(q.body.records[0], { kind: 'call', decision: 'deny', rule: 'no-consumer-calls' });
  const v = await api('/api/v1/audit/verify', { token: AUDITOR });
  t.match(v.body, { ok: true });
  const ready = await api('/readyz');
  t.match(ready, {
    status: 200,
    body: { ready: true, adapters: { corp: { state: 'up' }, partner: { state: 'up' } } },
  });
  const metrics = await api('/metrics');
  t.match(metrics.body, /parley_events_total\{[^}]*kind="message"[^}]*outcome="allow"/);
  t.equal((await api('/api/v1/policy/reload', { method: 'POST', token: AUDITOR })).status, 403);
});

t.test('a bad policy reload keeps the running policy and says why; a good one takes effect', async (t) => {
  const { gw, dir, api } = await start(t, '');
  const file = join(dir, 'policy.yaml');
  const good = readFileSync(file, 'utf8');
  writeFileSync(
    file,
    good.replace('rules:', 'rules:\n  - { id: broken, match: { to: { zone: mars } }, effect: allow }'),
  );
  const r = await api('/api/v1/policy/reload', { method: 'POST' });
  t.equal(r.status, 422);
  t.match(r.body.problems[0]?.message, /unknown zone "mars"/);
  const cur = await api('/api/v1/policy');
  t.equal(cur.body.version, '2026-11-25.1', 'old policy still in force');
  t.match(cur.body.lastError?.message, /mars/);
  t.equal(
    gw.policy.current.evaluate(message('xmpp:a@corp.test', 'matrix:u/b:partner.test', 'x')).rule,
    'partners-talk',
  );

  writeFileSync(file, good.replace('version: "2026-11-25.1"', 'version: "2026-11-26.1"'));
  const ok = await api('/api/v1/policy/reload', { method: 'POST' });
  t.match(ok, { status: 200, body: { ok: true, version: '2026-11-26.1' } });
  t.equal((await api('/api/v1/policy')).body.lastError, null);
  // The reload itself is in the audit trail.
  const admin = await api('/api/v1/audit?category=admin');
  t.ok(
    admin.body.records.some((r) => /reload/.test(r.kind)),
    'reload recorded',
  );
});

t.test('the policy file is watched: an edit is picked up without a restart', async (t) => {
  const { gw, dir } = await start(t);
  const file = join(dir, 'policy.yaml');
  writeFileSync(file, readFileSync(file, 'utf8').replace('version: "2026-11-25.1"', 'version: "watched.2"'));
  const deadline = Date.now() + 5000;
  while (gw.policy.current.version !== 'watched.2' && Date.now() < deadline)
    await new Promise((r) => setTimeout(r, 100));
  t.equal(gw.policy.current.version, 'watched.2');
});

t.test('secrets never reach the logs', async (t) => {
  const { api, logs } = await start(t);
  await api('/api/v1/audit');
  await api('/api/v1/audit', { token: 'wrong-token-xyz' });
  t.notMatch(logs(), new RegExp(ADMIN), 'admin token not logged');
  t.notMatch(logs(), /wrong-token-xyz/, 'a presented token is not logged');
});

t.test('concurrent events: each one accepted has exactly one decision and one outcome record', async (t) => {
  const { gw, corp } = await start(t);
  const sent = Array.from({ length: 200 }, (_, i) =>
    message('xmpp:alice@corp.test', 'matrix:u/bob:partner.test', `m${i}`),
  );
  const outs = await Promise.all(sent.map((m) => corp.submit(m)));
  t.ok(outs.every((o) => o.status === 'delivered'));
  await gw.audit.flush();
  const records = await gw.store.audit.range(1, 1000);
  t.equal(records.length, 400);
  for (const category of ['decision', 'outcome'] as const) {
    const ids = records.filter((r) => r.category === category).map((r) => r.eventId);
    t.same(ids.sort(), sent.map((m) => m.id).sort(), `one ${category} record per event`);
  }
});
