// Query, verification and export shapes shared by the CLI, the admin API and the console.
import type { AuditCategory, AuditOutcome } from './record.js';

export interface AuditFilter {
  /** ISO instants, `from` inclusive, `to` exclusive. */
  from?: string;
  to?: string;
  /** Matches either party: a URI, `user@domain`. */
  user?: string;
  /** Matches either party's domain (exact). */
  domain?: string;
  network?: string;
  kind?: string;
  decision?: 'allow' | 'redact' | 'deny';
  rule?: string;
  /**
   * Words searched in kept content (mode `full`): every word of `q` must be a word of the
   * content, case-insensitive; `invoic*` matches words starting with `invoic`. Words are
   * runs of Unicode letters and digits (wordsOf in query.ts).
   */
  q?: string;
  category?: AuditCategory;
  /** What happened to the event (records that carry an outcome). */
  outcome?: AuditOutcome;
  /** One event's records: its decision record and what later happened to it (exact id). */
  eventId?: string;
  /** Every record of one trace (exact id): an event and what it caused, e.g. its bounce. */
  traceId?: string;
}

export type VerifyResult =
  | { ok: true; records: number; head: { seq: number; hash: string } | null }
  | { ok: false; records: number; firstBad: number; problem: string };

export type ExportFormat = 'jsonl' | 'csv' | 'eml';
