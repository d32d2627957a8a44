// Checks every store makes before it writes audit records: that appended records continue
// the head, and that records restored under an anchor (migration) are sane.
import { type AuditRecord, GENESIS_HASH } from '../core/audit/record.js';
import type { AuditHead } from '../core/store.js';

/** Check that `records` continue `head` and each other; the message says why not. */
export function chainProblem(head: AuditHead | null, records: readonly AuditRecord[]): string | null {
  let seq = head ? head.seq : 0;
  let prev = head ? head.hash : GENESIS_HASH;
  for (const r of records) {
    if (r.seq !== seq + 1) return `record seq ${r.seq} does not follow ${seq}`;
    if (r.prev !== prev) return `record ${r.seq} prev does not match the hash of record ${seq}`;
    seq = r.seq;
    prev = r.hash;
  }
  return null;
}

/** Held records for restore(): ascending, at or below the anchor; the message says why not. */
export function restoreProblem(anchor: AuditHead, held: readonly AuditRecord[]): string | null {
  if (!Number.isSafeInteger(anchor.seq) || anchor.seq < 1)
    return `anchor seq ${anchor.seq} is not a positive integer`;
  if (!/^[0-9a-f]{64}$/.test(anchor.hash)) return 'anchor hash is not 64 hex digits';
  let last = 0;
  for (const r of held) {
    if (r.seq <= last) return `held record ${r.seq} is out of order`;
    if (r.seq > anchor.seq) return `held record ${r.seq} is above the anchor ${anchor.seq}`;
    last = r.seq;
  }
  return null;
}
