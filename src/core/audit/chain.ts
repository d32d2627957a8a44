// Turning entries into chained records: each record carries its seq, the previous record's
// hash and its own hash.
import type { AuditHead } from '../store.js';
import { canonicalEntryRecord, sha256Hex } from './hash.js';
import { type AuditEntry, type AuditRecord, GENESIS_HASH } from './record.js';

/**
 * Chain `entries` after `head` (null: an empty log). Returns new records holding the
 * AuditEntry fields of each entry (an unknown member is not carried); the entries are not
 * modified.
 */
export function chainEntries(head: AuditHead | null, entries: readonly AuditEntry[]): AuditRecord[] {
  let seq = head ? head.seq : 0;
  let prev = head ? head.hash : GENESIS_HASH;
  const out: AuditRecord[] = new Array(entries.length);
  for (let i = 0; i < entries.length; i++) {
    const e = entries[i] as AuditEntry;
    seq += 1;
    const hash = sha256Hex(canonicalEntryRecord(e, seq, prev));
    // One literal with every field: one object shape for all records (faster to build,
    // store and encode than spreads of entries whose shapes vary).
    const r: AuditRecord = {
      seq,
      prev,
      hash,
      category: e.category,
      time: e.time,
      traceId: e.traceId,
      eventId: e.eventId,
      kind: e.kind,
      from: e.from,
      to: e.to,
      fromNetwork: e.fromNetwork,
      toNetwork: e.toNetwork,
      direction: e.direction,
      decision: e.decision,
      rule: e.rule,
      reason: e.reason,
      policyVersion: e.policyVersion,
      content: e.content,
      sourceAdapter: e.sourceAdapter,
      targetAdapter: e.targetAdapter,
    };
    if (e.actor !== undefined) r.actor = e.actor;
    if (e.details !== undefined) r.details = e.details;
    // Optional fields are carried only when set, so records without them hash as before.
    if (e.eventTime !== undefined) r.eventTime = e.eventTime;
    if (e.transforms !== undefined) r.transforms = e.transforms;
    if (e.outcome !== undefined) r.outcome = e.outcome;
    if (e.outcomeReason !== undefined) r.outcomeReason = e.outcomeReason;
    out[i] = r;
    prev = hash;
  }
  return out;
}
