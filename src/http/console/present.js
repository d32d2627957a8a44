// @ts-check
// How the console presents records: addresses, reasons, outcomes, times and order.
// Pure functions, no DOM, so that they are tested on their own (test/console/present.test.ts).
/** @import { AuditPage, AuditRecord, Transform } from './types.js' */

/** @type {Record<string, string>} */
const NETWORK_NAMES = { xmpp: 'XMPP', matrix: 'Matrix', sip: 'SIP' };

/** @param {string} s */
const decode = (s) => {
  try {
    return decodeURIComponent(s);
  } catch {
    return s;
  }
};

/**
 * A canonical address in its network's own form, as people on that network write it:
 * `matrix:u/carol:hs.test` -> `@carol:hs.test`, `xmpp:alice@corp.test/phone` ->
 * `alice@corp.test/phone`, `sip:bob@partner.test` -> `bob@partner.test`. Null for text that
 * is not such an address.
 * @param {unknown} uri
 * @returns {string | null}
 */
export function nativeForm(uri) {
  if (typeof uri !== 'string') return null;
  const colon = uri.indexOf(':');
  if (colon < 0) return null;
  const scheme = uri.slice(0, colon).toLowerCase();
  const rest = uri.slice(colon + 1);
  if (scheme === 'matrix') {
    const m = /^u\/([^:/?#]+):([^/?#]+)/.exec(rest);
    return m ? `@${decode(m[1] ?? '')}:${decode(m[2] ?? '').toLowerCase()}` : null;
  }
  if (scheme === 'xmpp') {
    const path =
      (rest.startsWith('//') ? rest.slice(rest.indexOf('/', 2) + 1) : rest).split(/[?#]/, 1)[0] ?? '';
    return path.indexOf('@') > 0 ? decode(path) : null;
  }
  if (scheme === 'sip' || scheme === 'sips') {
    const noParams = rest.split(/[;?]/, 1)[0] ?? '';
    const at = noParams.lastIndexOf('@');
    if (at <= 0) return null;
    const user = noParams.slice(0, at).split(':', 1)[0] ?? '';
    return `${decode(user)}@${noParams.slice(at + 1).toLowerCase()}`;
  }
  return null;
}

/**
 * The network an address belongs to, in words ("Matrix"), or null.
 * @param {unknown} uri
 * @returns {string | null}
 */
export function networkName(uri) {
  const scheme = typeof uri === 'string' ? uri.slice(0, Math.max(0, uri.indexOf(':'))).toLowerCase() : '';
  return NETWORK_NAMES[scheme === 'sips' ? 'sip' : scheme] ?? null;
}

/**
 * An address cut into pieces that each end at a separator (`@ : / % . ; = ? & # -`): the
 * console puts a line-break opportunity between the pieces and nowhere else, so a long
 * address wraps at its separators and never in the middle of a name.
 * @param {unknown} text
 * @returns {string[]}
 */
export function addressPieces(text) {
  const s = String(text ?? '');
  /** @type {string[]} */
  const out = [];
  let cur = '';
  for (const ch of s) {
    cur += ch;
    if ('@:/%.;=?&#-'.includes(ch)) {
      out.push(cur);
      cur = '';
    }
  }
  if (cur) out.push(cur);
  return out;
}

// ---------------------------------------------------------------------------------------
// Outcomes and reasons

/** @type {Record<string, string>} */
export const OUTCOME_WORDS = {
  delivered: 'delivered',
  queued: 'queued',
  refused: 'refused by the target network',
  'rate-limited': 'rate-limited',
  denied: 'denied by policy',
  unroutable: 'not routable',
  unsupported: 'not supported by the target',
  invalid: 'invalid',
  expired: 'expired',
  bounced: 'bounced',
  failed: 'failed',
  pending: 'pending',
};

/**
 * Fold each `outcome` record into the decision record of the same event, when both are in
 * `records` (a page, newest first). Returns the rows to show: decisions carry the later
 * record as `outcomeRecord`; outcome records whose decision is not here stay rows.
 * @param {AuditRecord[]} records
 * @returns {{ rows: AuditRecord[]; folded: number }}
 */
export function foldOutcomes(records) {
  /** @type {Map<string, AuditRecord>} */
  const decisions = new Map();
  for (const r of records) if (r.category === 'decision' && r.eventId) decisions.set(r.eventId, r);
  /** @type {AuditRecord[]} */
  const rows = [];
  let folded = 0;
  for (const r of records) {
    const d = r.category === 'outcome' ? decisions.get(r.eventId) : undefined;
    if (d && d.seq < r.seq) {
      // The newest outcome of an event wins (records are newest first).
      if (!d.outcomeRecord || d.outcomeRecord.seq < r.seq) d.outcomeRecord = r;
      folded += 1;
    } else {
      rows.push(r);
    }
  }
  return { rows, folded };
}

/**
 * What finally happened to the event: the folded outcome record's, else the record's own.
 * @param {AuditRecord} r
 * @returns {{ outcome: string; reason: string | null; seq: number } | null}
 */
export function outcomeOf(r) {
  const later = r.outcomeRecord;
  if (later?.outcome) return { outcome: later.outcome, reason: later.outcomeReason ?? null, seq: later.seq };
  if (r.outcome) return { outcome: r.outcome, reason: r.outcomeReason ?? null, seq: r.seq };
  return null;
}

/**
 * The Reason column: why the event was not delivered (outcome and its reason) when it was
 * not, else the decision's reason; `describe(ruleId)` gives a rule's own description when
 * the record carries no reason.
 * @param {AuditRecord} r
 * @param {(ruleId: string) => string | null} [describe]
 * @returns {string}
 */
export function reasonText(r, describe = () => null) {
  if (r.category === 'admin') {
    const d = r.details ?? {};
    return typeof d.first === 'string' ? d.first : typeof d.reason === 'string' ? d.reason : '';
  }
  const o = outcomeOf(r);
  if (o && o.outcome !== 'delivered' && o.outcome !== 'pending') {
    const word = OUTCOME_WORDS[o.outcome] ?? o.outcome;
    const why = o.reason ?? (r.decision === 'deny' ? r.reason : null);
    return why ? `${word}: ${why}` : word;
  }
  if (r.reason) return r.reason;
  if (r.rule) return describe(r.rule) ?? '';
  return r.category === 'decision' ? 'No rule matched: the policy default decided.' : '';
}

/**
 * Each rule that changed the event, with its reason: [{ rule, effect, reason }].
 * @param {{ transforms?: Transform[] }} r
 * @param {(ruleId: string) => string | null} [describe]
 * @returns {{ rule: string; effect: string; reason: string | null }[]}
 */
export function transformsOf(r, describe = () => null) {
  const list = Array.isArray(r.transforms) ? r.transforms : [];
  return list.map((t) => ({
    rule: t.rule,
    effect: t.effect,
    reason: t.reason ?? describe(t.rule) ?? null,
  }));
}

/** @type {Record<string, string>} */
export const EFFECT_WORDS = {
  redact: 'Redacted',
  'presence-basic': 'Presence reduced to online/offline',
  'presence-coarse': 'Presence reduced to online/away/busy/offline',
  disclaimer: 'Disclaimer added',
};

/**
 * An `obligations.presence` level in words (docs/policy.md, "Presence levels").
 * @type {Record<string, string>}
 */
export const PRESENCE_WORDS = {
  basic: 'presence reduced to online/offline (no away or busy, status text or idle time)',
  coarse: 'presence reduced to online, away, busy or offline (no status text or idle time)',
  full: 'presence shared in full',
};

// ---------------------------------------------------------------------------------------
// Time: one convention everywhere, UTC unless the reader chose local time.

/** @param {number} n */
const pad = (n, w = 2) => String(n).padStart(w, '0');

/**
 * "UTC+05:30" for an offset in minutes east of UTC.
 * @param {number} minutesEast
 */
export function offsetName(minutesEast) {
  if (minutesEast === 0) return 'UTC';
  const sign = minutesEast > 0 ? '+' : '-';
  const m = Math.abs(minutesEast);
  return `UTC${sign}${pad(Math.floor(m / 60))}:${pad(m % 60)}`;
}

/**
 * `2026-12-07 15:46:33 UTC` (zone 'utc') or `2026-12-07 21:16:33 UTC+05:30` (zone 'local':
 * the browser's zone, its offset at that instant). The text as given when it is no time.
 * @param {string} iso
 * @param {string} [zone] 'utc' | 'local'
 * @returns {string}
 */
export function formatTime(iso, zone = 'utc') {
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return String(iso ?? '');
  if (zone === 'local') {
    const off = -d.getTimezoneOffset();
    return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())} ${offsetName(off)}`;
  }
  return `${d.toISOString().slice(0, 10)} ${d.toISOString().slice(11, 19)} UTC`;
}

/**
 * A datetime-local input's value read in the zone shown: an ISO instant, or throws.
 * @param {string} value
 * @param {string} [zone] 'utc' | 'local'
 */
export function inputToIso(value, zone = 'utc') {
  const v = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}$/.test(value) ? `${value}:00` : value;
  const d = new Date(zone === 'utc' ? `${v}Z` : v);
  if (Number.isNaN(d.getTime())) throw new RangeError(`not a date: ${value}`);
  return d.toISOString();
}

// ---------------------------------------------------------------------------------------
// Order

/**
 * The event's own time (eventTime), for records that carry it; else the record's time.
 * @param {AuditRecord} r
 */
export const eventTimeOf = (r) => r.eventTime ?? r.time;

/**
 * Rows newest first, by record order (`seq`, the chain's order) or by the event's own time
 * (`event`; ties keep record order).
 * @param {AuditRecord[]} rows
 * @param {string} [by] 'seq' | 'event'
 * @returns {AuditRecord[]}
 */
export function sortRows(rows, by = 'seq') {
  const out = [...rows];
  if (by === 'event') {
    out.sort((a, b) => {
      const ta = Date.parse(eventTimeOf(a));
      const tb = Date.parse(eventTimeOf(b));
      return (Number.isNaN(tb) ? 0 : tb) - (Number.isNaN(ta) ? 0 : ta) || b.seq - a.seq;
    });
  } else {
    out.sort((a, b) => b.seq - a.seq);
  }
  return out;
}

/**
 * What the traffic view says about how a page was searched: nothing when the store searched
 * its index (every record was considered) or when no filter was applied (the page is the
 * newest records); for a scan with filters, how many of the kept records it read, and when
 * it stopped at its limit, that Older searches on.
 * @param {AuditPage['search'] | undefined} search
 * @param {boolean} filtered
 * @returns {string | null}
 */
export function searchNote(search, filtered) {
  if (search?.mode !== 'scan' || !filtered) return null;
  const n = (/** @type {number} */ x) => x.toLocaleString('en-US');
  const read = `Searched ${n(search.scanned)} of ${n(search.total)} records for this page (this store has no search index: newest first, at most 50,000 a page).`;
  return search.capped ? `${read} Stopped at that limit: “Older →” searches further back.` : read;
}
