// @ts-check
// What the console holds while it runs: one object, shared by every view.
/** @import { AuditRecord, PolicyInfo, Role, Session } from './types.js' */

/** Records per page of the traffic view. */
export const PAGE_SIZE = 50;

/**
 * @typedef {'traffic' | 'integrity' | 'policy' | 'charts' | 'holds'} View
 * @typedef {'utc' | 'local'} Zone
 */

export const state = {
  /** @type {Role | null} */
  role: null,
  /** @type {Session['features']} */
  features: { explain: false, stream: false, retention: false },
  /** @type {Record<string, string>} The traffic filters applied (query parameters). */
  filter: {},
  /** @type {(number | null)[]} `before` cursors of the pages shown so far (null: the newest page). */
  pages: [null],
  /** @type {number | null} */
  next: null,
  /** @type {Map<number, AuditRecord>} The records of the page shown, by seq. */
  records: new Map(),
  /** @type {AbortController | null} The live stream, while it runs. */
  live: null,
  /** @type {PolicyInfo | null} */
  policy: null,
  policyShown: false,
  /** @type {AbortController | null} The export under way. */
  exportAbort: null,
  /** @type {View} The view shown: a status line belongs to the view it was said in. */
  view: 'traffic',
  /** @type {Zone} Every time is shown in UTC unless the reader chose local time. */
  zone: 'utc',
  /** @type {'seq' | 'event'} Rows in record order (seq) or by the event's own time (event). */
  sort: 'seq',
  /** @type {AuditRecord[]} The rows of the page shown (outcome records folded into their decisions). */
  rows: [],
  folded: 0,
  /** @type {Set<number>} Seqs that arrived live since the last render (flashed once). */
  fresh: new Set(),
  /** @type {AuditRecord[] | null} The records the charts were drawn from (redrawn when the time zone changes). */
  chartRecords: null,
};

/**
 * The policy's own description of a rule (records written before reasons were kept).
 * @param {string} ruleId
 * @returns {string | null}
 */
export const describe = (ruleId) => {
  const rule = state.policy?.document?.rules?.find((x) => x.id === ruleId);
  return rule?.description ?? rule?.reason ?? null;
};
