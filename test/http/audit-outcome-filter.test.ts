// The admin API filters the trail by what happened to an event (`outcome`) and returns the
// later `outcome` records (`category=outcome`), so a compliance officer can list every
// message the target network refused without reading the whole trail.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t, { type Test } from 'tap';
import { parseConfig } from '../../src/config.js';
import { startGateway } from '../../src/gateway.js';
import { createLogger } from '../../src/log.js';
import { MemoryAdapter, message } from '../fixtures/memory-adapter.js';

const AUDITOR = 'auditor-token-0123456789';

interface Rec {
  category: string;
  eventId: string;
  outcome?: string;
  outcomeReason?: string | null;
  to: string;
}

/** A gateway with the default policy, an auditor token, and two memory adapters. */
async function gateway(t: Test) {
  const dir = mkdtempSync(join(tmpdir(), 'parley-audit-filter-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const text = [
    'store: { memory: true }',
    'http:',
    '  listen: "127.0.0.1:0"',
    `  tokens: { auditor: "${AUDITOR}" }`,
    `policy: { file: ${join(process.cwd(), 'policies/default.yaml')} }`,
    '',
  ].join('\n');
  writeFileSync(join(dir, 'parley.yaml'), text);
  const corp = new MemoryAdapter('corp', 'xmpp', ['corp.test']);
  const partner = new MemoryAdapter('partner', 'matrix', ['partner.test']);
  const gw = await startGateway(parseConfig(text, join(dir, 'parley.yaml'), {}), {
    logger: createLogger({ level: 'silent' }),
    extraAdapters: [corp, partner],
  });
  t.teardown(() => gw.stop());
  return { gw, corp, partner };
}

t.test('outcome and category=outcome filters over a real gateway', async (t) => {
  const { gw, corp, partner } = await gateway(t);
  // The target network refuses one recipient, as a homeserver refuses an unknown user.
  partner.answer = (d) =>
    d.event.to.includes('nobody')
      ? { ok: false, refused: true, reason: 'M_NOT_FOUND: no such user' }
      : { ok: true };

  await corp.submit(message('xmpp:alice@corp.test', 'matrix:u/bob:partner.test', 'hello bob'));
  await corp.submit(message('xmpp:alice@corp.test', 'matrix:u/nobody:partner.test', 'hello?'));
  // Outcome records follow deliveries; give the writer a moment to make them durable.
  const get = async (qs: string): Promise<Rec[]> => {
    const res = await fetch(`${gw.url}/api/v1/audit?${qs}`, {
      headers: { authorization: `Bearer ${AUDITOR}` },
    });
    t.equal(res.status, 200, qs);
    return ((await res.json()) as { records: Rec[] }).records;
  };
  let refused: Rec[] = [];
  for (let i = 0; i < 50 && refused.length === 0; i++) {
    refused = await get('outcome=refused');
    if (refused.length === 0) await new Promise((r) => setTimeout(r, 50));
  }
  t.equal(refused.length, 1, 'exactly the refused message');
  t.equal(refused[0]?.to, 'matrix:u/nobody:partner.test');
  t.match(refused[0]?.outcomeReason, /M_NOT_FOUND/, 'with the network’s reason');

  let delivered: Rec[] = [];
  for (let i = 0; i < 50 && delivered.length === 0; i++) {
    delivered = await get('outcome=delivered');
    if (delivered.length === 0) await new Promise((r) => setTimeout(r, 50));
  }
  t.equal(delivered.length, 1);
  t.equal(delivered[0]?.to, 'matrix:u/bob:partner.test');

  const outcomes = await get('category=outcome');
  t.ok(outcomes.length >= 2, 'both later outcome records');
  t.ok(
    outcomes.every((r) => r.category === 'outcome'),
    'only outcome records',
  );

  const bad = await fetch(`${gw.url}/api/v1/audit?outcome=vanished`, {
    headers: { authorization: `Bearer ${AUDITOR}` },
  });
  t.equal(bad.status, 400, 'an unknown outcome is a clear 400');
  t.match(await bad.text(), /outcome/);
});

t.test('eventId and traceId filters: one event’s decision and outcome records, nothing else', async (t) => {
  const { gw, corp } = await gateway(t);

  const first = message('xmpp:alice@corp.test', 'matrix:u/bob:partner.test', 'first');
  const second = message('xmpp:alice@corp.test', 'matrix:u/bob:partner.test', 'second');
  t.match(await corp.submit(first), { status: 'delivered' });
  t.match(await corp.submit(second), { status: 'delivered' });
  const get = async (qs: string): Promise<Rec[]> => {
    const res = await fetch(`${gw.url}/api/v1/audit?${qs}`, {
      headers: { authorization: `Bearer ${AUDITOR}` },
    });
    t.equal(res.status, 200, qs);
    return ((await res.json()) as { records: Rec[] }).records;
  };
  let records: Rec[] = [];
  for (let i = 0; i < 50 && records.length < 2; i++) {
    records = await get(`eventId=${encodeURIComponent(first.id)}`);
    if (records.length < 2) await new Promise((r) => setTimeout(r, 50));
  }
  t.same(
    records.map((r) => [r.eventId, r.category]).sort(),
    [
      [first.id, 'decision'],
      [first.id, 'outcome'],
    ],
    'the first event’s decision record and its outcome record, not the second’s',
  );
  const traced = await get(`traceId=${encodeURIComponent(second.traceId)}`);
  t.ok(traced.length >= 1, 'the second event’s trace has records');
  t.ok(
    traced.every((r) => r.eventId === second.id),
    'and only the second event’s',
  );
  t.same(await get('eventId=no-such-event'), [], 'an unknown id finds nothing');
});
