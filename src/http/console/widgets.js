// @ts-check
// Small pieces several views show: a decision badge, an address, an outcome, a list of
// terms and their values.
import { h } from './dom.js';
import { addressPieces, nativeForm, networkName, OUTCOME_WORDS, outcomeOf } from './present.js';
/** @import { Child } from './dom.js' */
/** @import { AuditRecord } from './types.js' */

/** @param {string} decision */
export const badge = (decision) => h('span', { className: `badge ${decision}` }, decision);

/**
 * An address that wraps only at its separators (@ : / % . …), never inside a name.
 * @param {string} text
 */
export function addrText(text) {
  const span = h('span', { className: 'addr', dataset: { testid: 'address' } });
  const pieces = addressPieces(text);
  pieces.forEach((p, i) => {
    span.append(p);
    if (i < pieces.length - 1) span.append(h('wbr'));
  });
  return span;
}

/**
 * The canonical address and, beside it, the form people on its network write.
 * @param {string} uri
 */
export function addrWithNative(uri) {
  const native = nativeForm(uri);
  const net = networkName(uri);
  return h(
    'span',
    { className: 'party' },
    addrText(uri),
    native
      ? h(
          'span',
          { className: 'native muted', dataset: { testid: 'native-address' } },
          ' ',
          addrText(native),
          net ? ` on ${net}` : '',
        )
      : null,
  );
}

/**
 * What happened to the event after the decision, as a badge (or why the row cannot say).
 * @param {AuditRecord} r
 * @returns {Child}
 */
export function outcomeBadge(r) {
  const o = outcomeOf(r);
  if (o) {
    return h(
      'span',
      { className: `badge outcome ${o.outcome}`, title: OUTCOME_WORDS[o.outcome] ?? o.outcome },
      o.outcome,
    );
  }
  if (r.category !== 'decision') return '—';
  return h(
    'span',
    { className: 'muted', title: 'This record does not say what happened after the decision.' },
    r.decision === 'deny' ? 'not delivered' : 'not recorded',
  );
}

/**
 * A description list of [term, value] pairs; an undefined value leaves its pair out, a
 * null one shows a dash.
 * @param {[string, Child][]} rows
 */
export function dl(rows) {
  const d = h('dl');
  for (const [k, v] of rows) {
    if (v === undefined) continue;
    d.append(h('dt', {}, k), h('dd', {}, v ?? '—'));
  }
  return d;
}
