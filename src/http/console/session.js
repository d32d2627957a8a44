// @ts-check
// Signing in and out: the token is checked by the server, kept in this tab only, and
// forgotten (with everything shown) on sign-out or when the server stops accepting it.
import { ApiProblem, api, SESSION_KEY, TOKEN_KEY, token } from './api.js';
import { $, fill } from './dom.js';
import { stopLive } from './live.js';
import { show } from './nav.js';
import { state } from './state.js';
import { fail, say } from './status.js';
import { loadTraffic } from './view-traffic.js';
/** @import { Session } from './types.js' */

/** @param {Event} ev */
export async function signIn(ev) {
  ev.preventDefault();
  const input = $('#token', HTMLInputElement);
  const candidate = input.value.trim();
  const err = $('#signin-error');
  err.textContent = '';
  if (!candidate) {
    err.textContent = 'Enter your access token.';
    input.focus();
    return;
  }
  try {
    /** @type {Session} */
    const session = await api('/session', { method: 'POST', bearer: candidate });
    sessionStorage.setItem(TOKEN_KEY, candidate);
    sessionStorage.setItem(SESSION_KEY, JSON.stringify(session));
    input.value = '';
    // The header says who is signed in; the status line does not repeat it.
    await enter(session);
  } catch (e) {
    err.textContent =
      e instanceof ApiProblem && e.status === 401
        ? 'That token is not valid. Check the token configured for your role.'
        : `Could not sign in: ${e instanceof Error ? e.message : String(e)}`;
    input.select();
  }
}

/** @param {Session} session */
async function enter(session) {
  state.role = session.role;
  state.features = session.features;
  document.body.classList.toggle('role-admin', session.role === 'admin');
  document.body.classList.toggle('role-auditor', session.role === 'auditor');
  $('#role').textContent = session.role;
  $('#whoami').hidden = false;
  $('#signin-view').hidden = true;
  $('#app').hidden = false;
  $('#live', HTMLInputElement).disabled = !session.features.stream;
  show('traffic');
  await loadTraffic();
}

/**
 * Forget the token and everything shown (no request).
 * @param {string} message
 */
export function forget(message) {
  stopLive();
  state.exportAbort?.abort();
  sessionStorage.removeItem(TOKEN_KEY);
  sessionStorage.removeItem(SESSION_KEY);
  state.role = null;
  state.records.clear();
  state.rows = [];
  state.folded = 0;
  state.chartRecords = null;
  state.policy = null;
  state.policyShown = false;
  document.body.classList.remove('role-admin', 'role-auditor');
  fill($('#rows'));
  fill($('#detail-body'));
  $('#detail').hidden = true;
  for (const id of [
    '#verify-result',
    '#whatif-result',
    '#policy-body',
    '#charts',
    '#holds',
    '#trim-result',
  ]) {
    fill($(id));
  }
  $('#whoami').hidden = true;
  $('#app').hidden = true;
  $('#signin-view').hidden = false;
  $('#token').focus();
  say(message);
}

export async function signOut() {
  try {
    await api('/session', { method: 'DELETE' });
  } catch {
    // Signing out forgets the token whatever the server says.
  }
  forget('Signed out: the token is forgotten.');
}

/** Sign in again with the token and session this tab kept (a reload). */
export async function resume() {
  const saved = sessionStorage.getItem(SESSION_KEY);
  if (!token() || !saved) return;
  try {
    await enter(JSON.parse(saved));
  } catch (e) {
    if (state.role) fail(e);
  }
}
