// Records as the SQLite store reads them back: each row's JSON text parsed. A row whose text
// is not a record (damaged, edited by hand) comes back as a record that cannot verify, so
// that verify names its seq instead of the reader throwing.
import type { AuditRecord } from '../../core/audit/record.js';
import { unreadableRecord } from '../unreadable-record.js';

const unreadable = (seq: number, why: string): AuditRecord =>
  unreadableRecord(seq, `unreadable record ${seq}: ${why}`);

/** The record stored as `text` under `seq`. */
export function parseRecord(seq: number, text: unknown): AuditRecord {
  if (typeof text !== 'string') return unreadable(seq, 'not text');
  try {
    const v: unknown = JSON.parse(text);
    if (v !== null && typeof v === 'object' && !Array.isArray(v)) return v as AuditRecord;
    return unreadable(seq, 'not a JSON object');
  } catch {
    return unreadable(seq, 'not JSON');
  }
}

/** Rows of `[seq, json]` (a `.raw()` statement's result) as records. */
export function parseRows(rows: readonly unknown[][]): AuditRecord[] {
  const out: AuditRecord[] = new Array(rows.length);
  for (let i = 0; i < rows.length; i++) {
    const row = rows[i] as unknown[];
    out[i] = parseRecord(row[0] as number, row[1]);
  }
  return out;
}
