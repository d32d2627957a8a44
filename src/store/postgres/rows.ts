// Records to and from the archive's rows: the columns an append sends (as array texts, one
// parameter each) and the record a stored JSON text reads back as.
import { recordJson } from '../../core/audit/chain.js';
import type { AuditRecord } from '../../core/audit/record.js';
import { unreadableRecord } from '../unreadable-record.js';
import { pgArray, pgIntArray } from './connect.js';
import { pgText, recordAt, recordTerms } from './terms.js';

// Records written in the same millisecond share their time.
let lastTime: unknown;
let lastAt: string | null = null;

/**
 * The columns of parley_audit_append / parley_audit_restore after their first arguments:
 * arrays as PostgreSQL array text; the terms and the records' JSON as lines (neither holds
 * a line break: JSON escapes it, terms spell such a value by its hash), so the largest
 * texts go as they are, without array escaping.
 */
export function columnArrays(records: readonly AuditRecord[]): string[] {
  const n = records.length;
  const seqs: number[] = new Array(n);
  const ats: (string | null)[] = new Array(n);
  const categories: string[] = new Array(n);
  const kinds: string[] = new Array(n);
  const decisions: string[] = new Array(n);
  const outcomes: (string | null)[] = new Array(n);
  const fromNetworks: string[] = new Array(n);
  const toNetworks: string[] = new Array(n);
  const terms: string[] = new Array(n);
  const texts: string[] = new Array(n);
  for (let i = 0; i < n; i++) {
    const r = records[i] as AuditRecord;
    seqs[i] = r.seq;
    if (r.time !== lastTime) {
      lastAt = recordAt(r.time);
      lastTime = r.time;
    }
    ats[i] = lastAt;
    categories[i] = pgText(String(r.category));
    kinds[i] = pgText(String(r.kind));
    decisions[i] = pgText(String(r.decision));
    outcomes[i] = typeof r.outcome === 'string' ? pgText(r.outcome) : null;
    fromNetworks[i] = pgText(String(r.fromNetwork));
    toNetworks[i] = pgText(String(r.toNetwork));
    terms[i] = recordTerms(r);
    texts[i] = recordJson(r);
  }
  return [
    pgIntArray(seqs),
    pgArray(ats),
    pgArray(categories),
    pgArray(kinds),
    pgArray(decisions),
    pgArray(outcomes),
    pgArray(fromNetworks),
    pgArray(toNetworks),
    terms.join('\n'),
    texts.join('\n'),
  ];
}

/** A stored record; a text that is not a record's JSON reads as a record that cannot verify. */
export function parseRecord(text: string, seq: number): AuditRecord {
  try {
    const v: unknown = JSON.parse(text);
    if (v && typeof v === 'object' && typeof (v as { seq?: unknown }).seq === 'number')
      return v as AuditRecord;
  } catch {
    // fall through
  }
  return unreadableRecord(seq, `unreadable archive row ${seq}`);
}

/** Rows of (seq, record) as records, in their order. */
export function parseRows(rows: readonly { seq: string; record: string }[]): AuditRecord[] {
  const out: AuditRecord[] = new Array(rows.length);
  for (let i = 0; i < rows.length; i++) {
    const row = rows[i] as { seq: string; record: string };
    out[i] = parseRecord(row.record, Number(row.seq));
  }
  return out;
}
