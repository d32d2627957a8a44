// Turning entries into chained records: each record carries its seq, the previous record's
// hash and its own hash.
import type { AuditHead } from '../store.js';
import { hashRecord } from './hash.js';
import { type AuditEntry, type AuditRecord, GENESIS_HASH } from './record.js';

/** Chain `entries` after `head` (null: an empty log). Returns new records; the entries are not modified. */
export function chainEntries(head: AuditHead | null, entries: readonly AuditEntry[]): AuditRecord[] {
  let seq = head ? head.seq : 0;
  let prev = head ? head.hash : GENESIS_HASH;
  const out: AuditRecord[] = new Array(entries.length);
  for (let i = 0; i < entries.length; i++) {
    seq += 1;
    const unhashed = { ...(entries[i] as AuditEntry), seq, prev };
    const hash = hashRecord(unhashed);
    out[i] = { ...unhashed, hash };
    prev = hash;
  }
  return out;
}
