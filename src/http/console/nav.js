// @ts-check
// Switching views: one shown at a time, its tab marked, its data loaded on arrival.
import { state } from './state.js';
import { failIn, say } from './status.js';
import { loadCharts } from './view-charts.js';
import { loadHolds } from './view-holds.js';
import { loadPolicy } from './view-policy.js';
/** @import { View } from './state.js' */

/** @param {View} view */
export function show(view) {
  // A status line speaks of the view it was said in: leaving that view clears it.
  if (view !== state.view) say('');
  state.view = view;
  for (const b of document.querySelectorAll('.tabs button')) {
    if (b instanceof HTMLElement && b.dataset.view === view) b.setAttribute('aria-current', 'page');
    else b.removeAttribute('aria-current');
  }
  for (const s of document.querySelectorAll('.view'))
    if (s instanceof HTMLElement) s.hidden = s.id !== `view-${view}`;
  if (view === 'policy' && !state.policyShown) loadPolicy().catch(failIn('policy'));
  if (view === 'charts') loadCharts().catch(failIn('charts'));
  if (view === 'holds') loadHolds().catch(failIn('holds'));
}

/**
 * The view a tab names (its data-view), if it is one.
 * @param {string | undefined} name
 * @returns {View | null}
 */
export function viewNamed(name) {
  return name === 'traffic' ||
    name === 'integrity' ||
    name === 'policy' ||
    name === 'charts' ||
    name === 'holds'
    ? name
    : null;
}
