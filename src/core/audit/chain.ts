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
    // One copy per record: the hash covers every field but `hash`, so it is filled in last.
    const record: AuditRecord = { ...(entries[i] as AuditEntry), seq, prev, hash: '' };
    record.hash = hashRecord(record);
    out[i] = record;
    prev = record.hash;
  }
  return out;
}
