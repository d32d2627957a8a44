import t from 'tap';
import { KIND_RULES, type KindRulesTable, rulesOf } from '../../src/core/kinds/index.js';
import { CanonicalEvent, EVENT_KINDS } from '../../src/core/model.js';

t.test('the kind table has rules for every event kind, and only those', async (t) => {
  t.same(Object.keys(KIND_RULES).sort(), [...EVENT_KINDS].sort());
  // A table without one kind's module does not compile: the mapped type requires every kind.
  // @ts-expect-error call is missing
  const partial: KindRulesTable = {
    message: KIND_RULES.message,
    presence: KIND_RULES.presence,
    chatstate: KIND_RULES.chatstate,
    receipt: KIND_RULES.receipt,
  };
  t.ok(partial);
});

t.test("each kind's schema is the canonical model's schema of that kind", async (t) => {
  const byKind = new Map(
    CanonicalEvent.anyOf.map((s) => [(s.properties.kind as { const: string }).const, s] as const),
  );
  for (const kind of EVENT_KINDS) t.equal(rulesOf(kind).schema, byKind.get(kind), kind);
});

t.test('only messages carry a disclaimer or text to redact; only presence has levels', async (t) => {
  for (const kind of EVENT_KINDS) {
    const r = rulesOf(kind);
    t.equal(r.withDisclaimer !== undefined, kind === 'message', `${kind}: disclaimer`);
    t.equal(r.redact !== undefined, kind === 'message', `${kind}: redaction`);
    t.equal(r.reducePresence !== undefined, kind === 'presence', `${kind}: presence levels`);
  }
});
