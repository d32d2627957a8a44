// @ts-check
// The charts view: traffic decisions matching the traffic filters (the latest 5,000),
// over time, by decision and by network; intervals follow the zone shown.
import { api, query } from './api.js';
import { bucketize, stackedBarChart } from './charts.js';
import { $, fill, h } from './dom.js';
import { formatTime } from './present.js';
import { state } from './state.js';

/** @import { AuditPage, AuditRecord } from './types.js' */

const DECISIONS = [
  { key: 'allow', label: 'allowed', color: '#1e7a3c' },
  { key: 'redact', label: 'redacted', color: '#c07a00' },
  { key: 'deny', label: 'denied', color: '#b3261e' },
];
const NETWORKS = [
  { key: 'xmpp', label: 'XMPP', color: '#1f5fbf' },
  { key: 'matrix', label: 'Matrix', color: '#0b8a8a' },
  { key: 'sip', label: 'SIP', color: '#7a3fb8' },
  { key: 'other', label: 'other', color: '#8a8f98' },
];

/**
 * The network on the far side of the boundary (the enterprise's own side is not news).
 * @param {AuditRecord} r
 */
function networkOf(r) {
  const n =
    r.direction === 'inbound'
      ? r.fromNetwork
      : r.direction === 'outbound'
        ? r.toNetwork
        : r.toNetwork || r.fromNetwork;
  return NETWORKS.some((x) => x.key === n) ? n : 'other';
}

export async function loadCharts() {
  const box = $('#charts');
  fill(box, 'Loading…');
  const { q: _q, category: _c, ...filter } = state.filter;
  /** @type {AuditRecord[]} */
  const records = [];
  /** @type {number | null} */
  let before = null;
  for (let i = 0; i < 5; i++) {
    /** @type {AuditPage} */
    const page = await api(`/audit?${query({ ...filter, category: 'decision', before, limit: 1000 })}`);
    records.push(...page.records);
    if (page.next === null) break;
    before = page.next;
  }
  state.chartRecords = records;
  drawCharts(records);
}

/**
 * A chart's interval label in the zone shown: the date, the minute or the second.
 * @param {number} t
 * @param {number} step
 */
function tick(t, step) {
  const text = formatTime(new Date(t).toISOString(), state.zone);
  const zone = text.slice(20);
  if (step >= 86_400_000) return `${text.slice(0, 10)} ${zone}`;
  if (step < 60_000) return `${text.slice(11, 19)} ${zone}`;
  return `${text.slice(5, 16)} ${zone}`;
}

/** @param {AuditRecord[]} records */
export function drawCharts(records) {
  const box = $('#charts');
  const first = records[0];
  if (!first) {
    fill(box, h('p', { className: 'muted' }, 'No traffic decisions match the filters.'));
    return;
  }
  // Intervals start at whole days/hours of the zone shown.
  const offsetMs =
    state.zone === 'local' ? -new Date(Date.parse(first.time)).getTimezoneOffset() * 60_000 : 0;
  fill(
    box,
    stackedBarChart({
      title: 'Decisions over time, by decision',
      series: DECISIONS,
      data: bucketize(records, (r) => r.decision, 40, offsetMs),
      testid: 'chart-decision',
      fmtTime: tick,
    }),
    stackedBarChart({
      title: 'Decisions over time, by network (the side outside the enterprise)',
      series: NETWORKS,
      data: bucketize(records, networkOf, 40, offsetMs),
      testid: 'chart-network',
      fmtTime: tick,
    }),
  );
}
