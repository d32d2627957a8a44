// @ts-check
// The record panel beside the traffic table: the event, the rule that decided and every
// rule that changed it, what happened afterwards, and the record's link in the hash chain.
import { api, query } from './api.js';
import { $, fill, h } from './dom.js';
import { EFFECT_WORDS, networkName, OUTCOME_WORDS, outcomeOf, transformsOf } from './present.js';
import { describe, state } from './state.js';
import { fail } from './status.js';
import { timeEl } from './time.js';
import { loadPolicyInfo } from './view-policy.js';
import { addrWithNative, badge, dl } from './widgets.js';

/** @import { AuditPage, AuditRecord, Content } from './types.js' */

/**
 * Fetch one record by seq (null when it is not kept); `fresh`: not from the page shown.
 * @param {number} seq
 * @returns {Promise<AuditRecord | null>}
 */
async function fetchRecord(seq, fresh = false) {
  const shown = fresh ? undefined : state.records.get(seq);
  if (shown) return shown;
  /** @type {AuditPage} */
  const page = await api(`/audit?${query({ before: seq + 1, limit: 1 })}`);
  const r = page.records[0];
  return r && r.seq === seq ? r : null;
}

/** @param {AuditRecord} r */
function ruleReason(r) {
  if (r.reason) return r.reason;
  const d = r.rule ? describe(r.rule) : null;
  if (d) return `${d} (rule description)`;
  return r.rule ? null : 'No rule matched: the policy default decided.';
}

/**
 * The rule that decided and every rule that changed the event, each with its reason.
 * @param {AuditRecord} r
 */
function decisionSection(r) {
  const transforms = transformsOf(r, describe);
  let changed;
  if (transforms.length) {
    changed = h(
      'ul',
      { className: 'transforms', dataset: { testid: 'record-transforms' } },
      ...transforms.map((t) =>
        h(
          'li',
          {},
          `${EFFECT_WORDS[t.effect] ?? t.effect} by rule `,
          h('code', {}, t.rule),
          t.reason ? `: ${t.reason}` : '',
        ),
      ),
    );
  } else if (r.decision === 'redact') {
    changed = h(
      'span',
      { className: 'muted', dataset: { testid: 'record-transforms' } },
      'Redacted; this record does not name the rule that redacted it.',
    );
  } else {
    changed = h('span', { dataset: { testid: 'record-transforms' } }, 'None');
  }
  const deciding = r.decision === 'deny' ? 'Denied by rule' : 'Allowed by rule';
  return h(
    'div',
    {},
    h('h4', {}, 'Decision'),
    dl([
      ['Decision', badge(r.decision)],
      [deciding, r.rule ?? '(none: the default decision)'],
      ['Reason', ruleReason(r) ?? '—'],
      ['Changed by', changed],
      ['Policy version', r.policyVersion],
    ]),
  );
}

/**
 * What happened to the event after the decision, when the trail says.
 * @param {AuditRecord} r
 */
function outcomeSection(r) {
  const o = outcomeOf(r);
  if (!o) {
    return r.category === 'decision'
      ? h(
          'div',
          {},
          h('h4', {}, 'Outcome'),
          h(
            'p',
            { className: 'muted', dataset: { testid: 'record-outcome' } },
            'Not recorded with this record.',
          ),
        )
      : null;
  }
  const later = o.seq !== r.seq;
  return h(
    'div',
    {},
    h('h4', {}, 'Outcome'),
    dl([
      [
        'Outcome',
        h('span', { dataset: { testid: 'record-outcome' } }, OUTCOME_WORDS[o.outcome] ?? o.outcome),
      ],
      ['Reason', o.reason ?? undefined],
      [
        'Recorded in',
        later
          ? h(
              'button',
              { type: 'button', className: 'secondary', on: { click: () => openRecord(o.seq) } },
              `Record ${o.seq}`,
            )
          : undefined,
      ],
    ]),
  );
}

/** @param {Content} c */
function contentView(c) {
  if (c.mode === 'full') return h('pre', { dataset: { testid: 'record-content' } }, c.body);
  if (c.mode === 'hash') return h('span', {}, 'SHA-256 of the content: ', h('code', {}, c.sha256));
  return h('span', { className: 'muted' }, 'Not kept (audit.content: none)');
}

/**
 * Open record `seq` in the panel; `fresh`: read it again rather than from the page shown.
 * @param {number} seq
 */
export async function openRecord(seq, fresh = false) {
  let r;
  try {
    r = await fetchRecord(seq, fresh);
  } catch (e) {
    fail(e);
    return;
  }
  if (!state.policy) await loadPolicyInfo().catch(() => {});
  const body = $('#detail-body');
  for (const tr of document.querySelectorAll('#rows tr'))
    if (tr instanceof HTMLElement) tr.classList.toggle('selected', tr.dataset.seq === String(seq));
  $('#detail-h').textContent = `Record ${seq}`;
  if (!r) {
    fill(body, h('p', {}, `Record ${seq} is not kept (trimmed by retention, or never written).`));
  } else {
    const isAdmin = r.category === 'admin';
    const isOutcome = r.category === 'outcome';
    const prevLink = h('span', { dataset: { testid: 'prev-link' } }, 'checking…');
    /**
     * @param {string} uri
     * @param {string} network
     */
    const party = (uri, network) =>
      h('span', {}, addrWithNative(uri), network && !networkName(uri) ? ` (${network})` : '');
    fill(
      body,
      h('h4', {}, isAdmin ? 'Administrative action' : isOutcome ? 'Outcome recorded later' : 'Event'),
      dl([
        ['Kind', isAdmin ? r.kind : r.direction ? `${r.kind} (${r.direction})` : r.kind],
        ['Event time', r.eventTime ? timeEl(r.eventTime) : undefined],
        [r.eventTime ? 'Recorded' : 'Time', timeEl(r.time)],
        [isAdmin ? 'Actor' : 'From', isAdmin ? (r.actor ?? r.from) : party(r.from, r.fromNetwork)],
        ['To', isAdmin || !r.to ? undefined : party(r.to, r.toNetwork)],
        [
          'Links',
          isAdmin || isOutcome ? undefined : `${r.sourceAdapter} → ${r.targetAdapter ?? 'not delivered'}`,
        ],
        ['Event id', r.eventId],
        ['Trace id', r.traceId],
        ['Content', isAdmin || isOutcome || !r.content ? undefined : contentView(r.content)],
        ['Details', r.details ? h('pre', {}, JSON.stringify(r.details, null, 2)) : undefined],
      ]),
      isAdmin || isOutcome ? null : decisionSection(r),
      isAdmin ? null : outcomeSection(r),
      h('h4', {}, 'Integrity'),
      dl([
        ['Sequence', String(r.seq)],
        ['Hash', h('code', { dataset: { testid: 'record-hash' } }, r.hash)],
        ['Previous hash', h('code', {}, r.prev)],
        ['Link', prevLink],
      ]),
    );
    checkPrev(r, prevLink);
  }
  $('#detail').hidden = false;
  $('.split').classList.add('open');
  $('#detail').focus();
}

/**
 * Say whether the record follows the one before it in the chain.
 * @param {AuditRecord} r
 * @param {HTMLElement} target
 */
async function checkPrev(r, target) {
  if (r.seq === 1) {
    target.textContent =
      r.prev === '0'.repeat(64)
        ? 'First record: follows the genesis hash ✓'
        : 'First record, but prev is not the genesis hash ✗';
    return;
  }
  try {
    const p = await fetchRecord(r.seq - 1);
    if (!p) {
      target.textContent = `Record ${r.seq - 1} is not kept (trimmed); the chain is anchored there.`;
      return;
    }
    const ok = p.hash === r.prev;
    fill(
      target,
      ok ? `Follows record ${p.seq} ✓ ` : `Does not match record ${p.seq}’s hash ✗ `,
      h(
        'button',
        { type: 'button', className: 'secondary', on: { click: () => openRecord(p.seq) } },
        `Open record ${p.seq}`,
      ),
    );
  } catch (e) {
    target.textContent = `Could not read record ${r.seq - 1}: ${e instanceof Error ? e.message : String(e)}`;
  }
}

export function closeDetail() {
  $('#detail').hidden = true;
  $('.split').classList.remove('open');
  for (const tr of document.querySelectorAll('#rows tr.selected')) tr.classList.remove('selected');
}
