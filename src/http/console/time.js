// @ts-check
// Times: every timestamp shown and every date-time typed is in one zone, UTC unless the
// reader chose local time; changing the zone relabels them all.
import { h } from './dom.js';
import { formatTime, inputToIso, offsetName } from './present.js';
import { state } from './state.js';
import { drawCharts } from './view-charts.js';
/** @import { Zone } from './state.js' */

/** @param {string} iso */
export const fmtTime = (iso) => formatTime(iso, state.zone);

/**
 * Every timestamp shown is one of these, so that changing the zone relabels them all.
 * @param {string} iso
 */
export const timeEl = (iso) =>
  h('time', { dateTime: iso, dataset: { iso, testid: 'timestamp' } }, fmtTime(iso));

/** The zone shown, in words: "UTC", or the browser's offset and zone name. */
export const zoneName = () => {
  if (state.zone === 'utc') return 'UTC';
  const tz = Intl.DateTimeFormat().resolvedOptions().timeZone;
  const off = offsetName(-new Date().getTimezoneOffset());
  return tz ? `${off}, ${tz}` : off;
};

/**
 * A form's filled fields; date-times are read in the zone shown (see the labels).
 * @param {HTMLFormElement} form
 * @returns {Record<string, string>}
 */
export function readFilter(form) {
  /** @type {Record<string, string>} */
  const f = {};
  for (const el of form.elements) {
    if (!(el instanceof HTMLInputElement || el instanceof HTMLSelectElement)) continue;
    if (!el.name || !el.value) continue;
    const v = el.value.trim();
    if (!v) continue;
    f[el.name] = el.type === 'datetime-local' ? inputToIso(v, state.zone) : v;
  }
  return f;
}

/**
 * Show every time in `zone`, in every view.
 * @param {Zone} zone
 */
export function setZone(zone) {
  const old = state.zone;
  // Date-time inputs keep naming the same instant in the new zone.
  const inputs = [...document.querySelectorAll('input[type="datetime-local"]')]
    .filter((i) => i instanceof HTMLInputElement)
    .filter((i) => i.value);
  const instants = inputs.map((i) => {
    try {
      return inputToIso(i.value, old);
    } catch {
      return null;
    }
  });
  state.zone = zone;
  inputs.forEach((input, k) => {
    const iso = instants[k];
    if (iso) input.value = formatTime(iso, zone).slice(0, 19).replace(' ', 'T');
  });
  for (const t of document.querySelectorAll('time[data-iso]'))
    if (t instanceof HTMLElement) t.textContent = fmtTime(t.dataset.iso ?? '');
  for (const l of document.querySelectorAll('.tz-label')) l.textContent = `(${zoneName()})`;
  if (state.chartRecords) drawCharts(state.chartRecords);
}
