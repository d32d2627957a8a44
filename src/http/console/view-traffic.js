// @ts-check
// The traffic view: the records matching the filters, a page at a time, newest first.
import { api, query } from './api.js';
import { $ } from './dom.js';
import { startLive } from './live.js';
import { foldOutcomes, searchNote } from './present.js';
import { PAGE_SIZE, state } from './state.js';
import { failIn, say } from './status.js';
import { readFilter } from './time.js';
import { renderRows } from './traffic-rows.js';
/** @import { AuditPage } from './types.js' */

/** Load the page `state.pages` ends at, with the filters applied. */
export async function loadTraffic() {
  const before = state.pages[state.pages.length - 1];
  /** @type {AuditPage} */
  const page = await api(`/audit?${query({ ...state.filter, before, limit: PAGE_SIZE })}`);
  state.records.clear();
  for (const r of page.records) state.records.set(r.seq, r);
  const { rows, folded } = foldOutcomes(page.records);
  state.rows = rows;
  state.folded = folded;
  renderRows();
  state.next = page.next;
  $('#older', HTMLButtonElement).disabled = page.next === null;
  const note = searchNote(page.search, Object.keys(state.filter).length > 0);
  const info = $('#search-info');
  info.textContent = note ?? '';
  info.hidden = note === null;
  info.dataset.mode = page.search?.mode ?? '';
  $('#newer', HTMLButtonElement).disabled = state.pages.length <= 1;
  return page;
}

/** @param {Event} [ev] */
export async function applyFilters(ev) {
  ev?.preventDefault();
  try {
    state.filter = readFilter($('#filters', HTMLFormElement));
  } catch {
    say('A date in the filters is not valid.', true);
    return;
  }
  state.pages = [null];
  try {
    await loadTraffic();
    // The count is in the label under the table (the rows shown), not repeated here.
    if (state.view === 'traffic')
      say(state.filter.q ? `Searched the content for “${state.filter.q}” (this search is recorded).` : '');
    if ($('#live', HTMLInputElement).checked) startLive();
  } catch (e) {
    failIn('traffic')(e);
  }
}
