// @ts-check
// The compliance console: a small vanilla ES module over Parley's /api/v1 routes. This
// module wires the page to the views; each view is its own module.
import { onUnauthorized } from './api.js';
import { $ } from './dom.js';
import { exportAs } from './export.js';
import { startLive, stopLive } from './live.js';
import { show, viewNamed } from './nav.js';
import { closeDetail } from './record-detail.js';
import { forget, resume, signIn, signOut } from './session.js';
import { state } from './state.js';
import { fail } from './status.js';
import { setZone, zoneName } from './time.js';
import { renderRows } from './traffic-rows.js';
import { loadCharts } from './view-charts.js';
import { setHold, trimNow } from './view-holds.js';
import { verify } from './view-integrity.js';
import { applyFilters, loadTraffic } from './view-traffic.js';
import { whatIf } from './whatif.js';

function wire() {
  onUnauthorized(forget);
  const zoneOption = $('#tz-local');
  const saved = state.zone;
  state.zone = 'local';
  zoneOption.textContent = `local time (${zoneName()})`;
  state.zone = saved;
  const tz = $('#tz', HTMLSelectElement);
  tz.value = state.zone;
  tz.addEventListener('change', () => setZone(tz.value === 'local' ? 'local' : 'utc'));
  const sort = $('#sort', HTMLSelectElement);
  sort.addEventListener('change', () => {
    state.sort = sort.value === 'event' ? 'event' : 'seq';
    renderRows();
  });
  $('#signin-form').addEventListener('submit', signIn);
  $('#sign-out').addEventListener('click', signOut);
  for (const b of document.querySelectorAll('.tabs button')) {
    if (!(b instanceof HTMLElement)) continue;
    b.addEventListener('click', () => {
      const view = viewNamed(b.dataset.view);
      if (view) show(view);
    });
  }
  $('#filters').addEventListener('submit', applyFilters);
  $('#filters').addEventListener('reset', () => setTimeout(() => applyFilters(), 0));
  $('#older').addEventListener('click', () => {
    if (state.next === null) return;
    state.pages.push(state.next);
    loadTraffic().catch(fail);
  });
  $('#newer').addEventListener('click', () => {
    if (state.pages.length > 1) state.pages.pop();
    loadTraffic().catch(fail);
  });
  $('#detail-close').addEventListener('click', closeDetail);
  $('#detail').addEventListener('keydown', (e) => {
    if (e.key === 'Escape') closeDetail();
  });
  const live = $('#live', HTMLInputElement);
  live.addEventListener('change', () => (live.checked ? startLive() : stopLive()));
  for (const b of document.querySelectorAll('[data-format]')) {
    if (!(b instanceof HTMLElement)) continue;
    b.addEventListener('click', () => exportAs(b.dataset.format ?? ''));
  }
  $('#export-cancel').addEventListener('click', () => state.exportAbort?.abort());
  $('#verify').addEventListener('click', verify);
  $('#whatif').addEventListener('submit', whatIf);
  $('#charts-refresh').addEventListener('click', () => loadCharts().catch(fail));
  $('#hold-form').addEventListener('submit', setHold);
  $('#trim').addEventListener('click', trimNow);
}

wire();
resume();
document.documentElement.dataset.ready = 'true';
