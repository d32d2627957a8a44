// Real-traffic-ish: a crafted message under a card-number redaction rule goes through the
// pipeline (in-memory adapters, memory store, audit writer) and arrives redacted.
import t from 'tap';
import type { Delivery } from '../../../src/core/adapter.js';
import { AuditWriter } from '../../../src/core/audit/writer.js';
import { silentLogger } from '../../../src/core/logger.js';
import { Pipeline } from '../../../src/core/pipeline.js';
import { compilePolicySource } from '../../../src/core/policy/index.js';
import { MemoryStore } from '../../../src/store/memory.js';
import { MemoryAdapter, message } from '../../fixtures/memory-adapter.js';

// `\d+` inside the counted group makes this exponential on a backtracking engine when a long
// digit run cannot end at a word boundary.
const POLICY = `
apiVersion: parley/v1
kind: Policy
metadata: { name: patterns, version: "1" }
zones:
  enterprise: { domains: [corp.test] }
  partner: { domains: [hs.test] }
defaults: { decision: deny }
rules:
  - id: partners
    match: { between: [{ zone: enterprise }, { zone: partner }] }
    effect: allow
  - id: cards
    match: { kind: [message], content: { pattern: '\\b(?:\\d+[ -]?){13,16}\\b' } }
    effect: redact
    replacement: "[card]"
`;

const bodyOf = (d: Delivery | undefined) => (d?.event.kind === 'message' ? d.event.body : undefined);

t.test('a crafted 12,000-character message is delivered with its card number redacted', async (t) => {
  const store = new MemoryStore();
  const writer = new AuditWriter(store.audit, {});
  const policy = compilePolicySource(POLICY, 'patterns.yaml');
  const pipeline = new Pipeline({
    policy: () => policy,
    audit: writer,
    store,
    logger: silentLogger,
    failClosed: true,
  });
  const matrix = new MemoryAdapter('hs', 'matrix', ['hs.test']);
  const xmpp = new MemoryAdapter('corp', 'xmpp', ['corp.test']);
  for (const a of [xmpp, matrix]) await a.start(pipeline.register(a));

  const tail = `${'9'.repeat(12_000)}z`;
  const out = await matrix.submit(
    message('matrix:u/mallory:hs.test', 'xmpp:bob@corp.test', `card 4111 1111 1111 1111.${tail}`, {
      html: `<p>card 4111 1111 1111 1111.${tail}</p>`,
    }),
  );
  t.match(out, { status: 'delivered', decision: 'redact' });
  t.equal(xmpp.delivered.length, 1);
  t.equal(bodyOf(xmpp.delivered[0]), `card [card].${tail}`);
  const html = xmpp.delivered[0]?.event.kind === 'message' ? xmpp.delivered[0].event.html : undefined;
  t.equal(html, `<p>card [card].${tail}</p>`);
  await writer.flush();
  const [rec] = await store.audit.range(1, 1);
  t.match(rec, { decision: 'redact', rule: 'partners' });
  t.same(rec!.transforms, [{ rule: 'cards', effect: 'redact', reason: null }]);
});
