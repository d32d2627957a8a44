// A stored record whose text is not a record (damaged, edited by hand) is read back as this
// placeholder: it cannot verify, so verify names its seq instead of the reader throwing.
import type { AuditRecord } from '../core/audit/record.js';

export function unreadableRecord(seq: number, what: string): AuditRecord {
  return {
    seq,
    prev: '',
    hash: what,
    category: 'decision',
    time: '',
    traceId: '',
    eventId: '',
    kind: '',
    from: '',
    to: '',
    fromNetwork: '',
    toNetwork: '',
    direction: '',
    decision: 'deny',
    rule: null,
    reason: null,
    policyVersion: '',
    content: { mode: 'none' },
    sourceAdapter: '',
    targetAdapter: null,
  };
}
