// @ts-check
// The rows of the traffic table: one per record (a decision carries its later outcome),
// in the order chosen, with a count of exactly the rows shown.
import { $, fill, h } from './dom.js';
import { eventTimeOf, outcomeOf, reasonText, sortRows } from './present.js';
import { openRecord } from './record-detail.js';
import { describe, state } from './state.js';
import { timeEl } from './time.js';
import { addrWithNative, badge, outcomeBadge } from './widgets.js';

/** @import { AuditRecord } from './types.js' */

/**
 * @param {AuditRecord} r
 * @param {boolean} [isNew] arrived live since the last render (flashed once)
 */
function recordRow(r, isNew = false) {
  const open = h(
    'button',
    {
      type: 'button',
      className: 'open-record',
      'aria-label': `Open record ${r.seq}`,
      dataset: { testid: 'open-record' },
    },
    String(r.seq),
  );
  const traffic = r.category === 'decision';
  const o = outcomeOf(r);
  const tr = h(
    'tr',
    {
      dataset: {
        testid: 'audit-row',
        seq: String(r.seq),
        decision: r.decision,
        category: r.category,
        outcome: o?.outcome ?? '',
      },
    },
    h('td', {}, open),
    h('td', {}, timeEl(state.sort === 'event' ? eventTimeOf(r) : r.time)),
    h('td', {}, traffic ? r.kind : `${r.category}: ${r.kind}`),
    h('td', {}, r.from ? addrWithNative(r.from) : '—'),
    h('td', {}, r.to ? addrWithNative(r.to) : '—'),
    h('td', {}, traffic ? badge(r.decision) : '—'),
    h('td', { dataset: { testid: 'row-outcome' } }, outcomeBadge(r)),
    h('td', {}, r.rule ?? (traffic ? '(default)' : '')),
    h('td', { className: 'reason', dataset: { testid: 'row-reason' } }, reasonText(r, describe) || '—'),
  );
  if (isNew) tr.classList.add('new');
  tr.addEventListener('click', () => openRecord(r.seq));
  return tr;
}

/** Draw the rows of the page in the order chosen, and say how many are shown. */
export function renderRows() {
  const rows = sortRows(state.rows, state.sort);
  const body = $('#rows');
  fill(body, ...rows.map((r) => recordRow(r, state.fresh.has(r.seq))));
  state.fresh.clear();
  if (rows.length === 0) {
    body.append(h('tr', {}, h('td', { colSpan: 9, className: 'muted' }, 'No records match.')));
  }
  const order = state.sort === 'event' ? 'by event time' : 'in record order';
  $('#rows-caption').textContent = `Audit records, newest first, ${order}`;
  const timeHead = body.closest('table')?.querySelector('thead th:nth-child(2)');
  if (timeHead) timeHead.textContent = state.sort === 'event' ? 'Event time' : 'Recorded';
  updateCount();
}

/** The count label: exactly the rows shown. */
function updateCount() {
  const n = state.rows.length;
  const info = $('#page-info');
  info.dataset.count = String(n);
  if (n === 0) {
    info.textContent = 'No records shown';
    return;
  }
  const seqs = state.rows.map((r) => r.seq);
  const folded = state.folded
    ? ` (${state.folded} later outcome record${state.folded === 1 ? '' : 's'} shown in ${state.folded === 1 ? 'its' : 'their'} decision row${state.folded === 1 ? '' : 's'})`
    : '';
  info.textContent = `${n} record${n === 1 ? '' : 's'} shown${folded}: #${Math.min(...seqs)}–#${Math.max(...seqs)}, page ${state.pages.length}`;
}
