// Audit entries for tests.
import fc from 'fast-check';
import type { AuditEntry } from '../../../src/core/audit/record.js';

let n = 0;
export function entry(over: Partial<AuditEntry> = {}): AuditEntry {
  n += 1;
  return {
    category: 'decision',
    time: new Date(Date.UTC(2026, 0, 1, 10, 0, n % 60)).toISOString(),
    traceId: `trace-${n}`,
    eventId: `ev-${n}`,
    kind: 'message',
    from: 'xmpp:alice@corp.example',
    to: 'sip:bob@partner.example',
    fromNetwork: 'xmpp',
    toNetwork: 'sip',
    direction: 'outbound',
    decision: 'allow',
    rule: 'partners-talk',
    reason: null,
    policyVersion: '2026-11-25.1',
    content: { mode: 'full', body: `hello ${n}` },
    sourceAdapter: 'corp',
    targetAdapter: 'partner-sip',
    ...over,
  };
}

export const entries = (count: number, over: Partial<AuditEntry> = {}): AuditEntry[] =>
  Array.from({ length: count }, () => entry(over));

/**
 * Any audit entry, for property tests: `str` for its string fields, `keys` for the keys of
 * `details`; content in every mode, also with its keys in another order and frozen.
 */
export function arbitraryEntry(
  str: fc.Arbitrary<string>,
  keys: fc.Arbitrary<string> = str,
): fc.Arbitrary<AuditEntry> {
  return fc.record(
    {
      category: fc.constantFrom('decision' as const, 'outcome' as const, 'admin' as const),
      time: str,
      eventTime: str,
      traceId: str,
      eventId: str,
      kind: str,
      from: str,
      to: str,
      fromNetwork: str,
      toNetwork: str,
      direction: str,
      decision: fc.constantFrom('allow' as const, 'redact' as const, 'deny' as const),
      rule: fc.option(str, { nil: null }),
      reason: fc.option(str, { nil: null }),
      policyVersion: str,
      content: fc.oneof(
        fc.record({ mode: fc.constant('full' as const), body: str }),
        fc.record({ body: str, mode: fc.constant('full' as const) }),
        fc.record({ mode: fc.constant('hash' as const), sha256: str }),
        fc.constant({ mode: 'none' as const }),
        fc.constant(Object.freeze({ mode: 'none' as const })),
      ),
      sourceAdapter: str,
      targetAdapter: fc.option(str, { nil: null }),
      actor: str,
      details: fc.dictionary(keys, fc.jsonValue(), { maxKeys: 4 }),
      transforms: fc.array(fc.record({ rule: str, effect: str, reason: fc.option(str, { nil: null }) }), {
        maxLength: 3,
      }),
      outcome: fc.constantFrom(
        'delivered' as const,
        'pending' as const,
        'refused' as const,
        'rate-limited' as const,
      ),
      outcomeReason: fc.option(str, { nil: null }),
    },
    {
      requiredKeys: [
        'category',
        'time',
        'traceId',
        'eventId',
        'kind',
        'from',
        'to',
        'fromNetwork',
        'toNetwork',
        'direction',
        'decision',
        'rule',
        'reason',
        'policyVersion',
        'content',
        'sourceAdapter',
        'targetAdapter',
      ],
    },
  );
}
