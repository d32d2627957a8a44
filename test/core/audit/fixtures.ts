// Audit entries for tests.
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
