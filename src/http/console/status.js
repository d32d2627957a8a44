// @ts-check
// The status line under the header: what just happened, or what failed.
import { $ } from './dom.js';
import { state } from './state.js';
/** @import { View } from './state.js' */

/**
 * @param {string} text
 * @param {boolean} [isError]
 */
export function say(text, isError = false) {
  const s = $('#status');
  s.textContent = text;
  s.classList.toggle('error', isError);
}

/** @param {unknown} e */
export const fail = (e) => say(e instanceof Error ? e.message : String(e), true);

/**
 * Report a failure only while its view is still shown (no stale lines on another tab).
 * @param {View} view
 * @returns {(e: unknown) => void}
 */
export const failIn = (view) => (e) => {
  if (state.view === view) fail(e);
};
