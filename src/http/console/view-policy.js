// @ts-check
// The policy view: the policy in force in plain words (zones, segments, rules) and the
// history of its versions as the audit trail records them.
import { api, query } from './api.js';
import { $, fill, h } from './dom.js';
import { describeRule, orList } from './policy-words.js';
import { state } from './state.js';
import { timeEl } from './time.js';
import { badge, dl } from './widgets.js';
/** @import { AuditPage, PolicyDocument, PolicyInfo } from './types.js' */

/** Read the policy in force (kept for the rules' descriptions elsewhere). */
export async function loadPolicyInfo() {
  /** @type {PolicyInfo} */
  const p = await api('/policy');
  state.policy = p;
  return p;
}

/**
 * A what-if event between this policy's own zones, as a starting point.
 * @param {PolicyDocument} doc
 */
function exampleEvent(doc) {
  const zones = doc?.zones ?? {};
  /** @param {string | undefined} name */
  const plain = (name) => (zones[name ?? '']?.domains ?? []).find((d) => !d.includes('*'));
  const names = Object.keys(zones);
  const ent = plain('enterprise') ?? plain(names[0]) ?? 'corp.example';
  const other = plain('partner') ?? plain(names[1]) ?? 'partner.example';
  return { kind: 'message', from: `xmpp:alice@${ent}`, to: `matrix:u/bob:${other}`, body: 'Hello' };
}

export async function loadPolicy() {
  state.policyShown = true;
  const p = await loadPolicyInfo();
  const doc = p.document ?? {};
  const body = $('#policy-body');
  const zones = Object.entries(doc.zones ?? {});
  const segments = Object.entries(doc.segments ?? {});
  const rules = doc.rules ?? [];
  fill(
    body,
    dl([
      ['Name', p.name],
      ['Version', h('strong', { dataset: { testid: 'policy-version' } }, p.version)],
      ['File', p.file ?? '—'],
      ['Loaded', timeEl(p.loadedAt)],
      ['Default', `${doc.defaults?.decision ?? '?'} anything no rule decides`],
    ]),
    p.lastError
      ? h(
          'p',
          { className: 'error', role: 'alert' },
          'The last reload failed (',
          timeEl(p.lastError.at),
          `): ${p.lastError.message}. The version above is still in force.`,
        )
      : null,
    h('h3', {}, 'Zones'),
    h(
      'p',
      { className: 'muted' },
      'A party belongs to the zone with the most specific pattern matching its domain.',
    ),
    h(
      'ul',
      {},
      ...zones.map(([name, z]) =>
        h(
          'li',
          {},
          h('strong', {}, name),
          `: ${orList(z.domains.map((d) => (d === '*' ? 'every other domain' : d)))}`,
          z.description ? ` — ${z.description}` : '',
        ),
      ),
    ),
    h('h3', {}, 'Segments (information barriers)'),
    segments.length
      ? h(
          'ul',
          {},
          ...segments.map(([name, s]) => h('li', {}, h('strong', {}, name), `: ${orList(s.users, 'and')}`)),
        )
      : h('p', { className: 'muted' }, 'None.'),
    h('h3', {}, `Rules (${rules.length})`),
    h(
      'p',
      { className: 'muted' },
      'A matching deny wins; otherwise matching allow and redact rules apply; otherwise the default.',
    ),
    h(
      'ol',
      { className: 'rules', dataset: { testid: 'policy-rules' } },
      ...rules.map((r) =>
        h(
          'li',
          { dataset: { rule: r.id } },
          badge(r.effect),
          ' ',
          h('code', {}, r.id),
          ': ',
          describeRule(r),
          r.description ? h('div', { className: 'muted' }, r.description) : null,
        ),
      ),
    ),
    h('h3', {}, 'Version history'),
    h('div', { id: 'policy-history' }, 'Loading…'),
  );
  const ta = $('#whatif-event', HTMLTextAreaElement);
  if (!ta.value.trim()) ta.value = JSON.stringify(exampleEvent(doc), null, 2);
  loadHistory(p).catch((e) => {
    $('#policy-history').textContent =
      `Could not read the history: ${e instanceof Error ? e.message : String(e)}`;
  });
}

/** @type {Record<string, string>} */
const CHANGE_WORDS = {
  start: 'in force at start',
  watch: 'file edited, reloaded',
  api: 'reloaded through the API',
};

/**
 * A policy record's details in words: how it changed, from which version to which.
 * @param {Record<string, unknown>} d
 */
function policyChangeWords(d) {
  /** @param {unknown} x */
  const hash = (x) => (typeof x === 'string' ? ` (sha256 ${x.slice(0, 12)}…)` : '');
  if (d.ok) {
    const how = CHANGE_WORDS[String(d.trigger)] ?? 'reloaded';
    const from = d.previousVersion ? `version ${d.previousVersion} → ` : '';
    return `${how}: ${from}version ${d.version}${hash(d.sha256)}`;
  }
  const how = d.trigger === 'watch' ? 'file edit refused' : 'reload refused';
  const kept = d.keptVersion ? `; version ${d.keptVersion} stays in force` : '';
  return `${how} (${d.first ?? 'invalid policy'})${kept}`;
}

/** @param {PolicyInfo} p */
async function loadHistory(p) {
  /** @type {AuditPage} */
  const page = await api(`/audit?${query({ category: 'admin', kind: 'policy.reload', limit: 50 })}`);
  const items = page.records.map((r) =>
    h('li', {}, timeEl(r.time), ': ', policyChangeWords(r.details ?? {}), ` by ${r.actor ?? r.from}`),
  );
  fill(
    $('#policy-history'),
    h('p', {}, `In force: version ${p.version}, loaded `, timeEl(p.loadedAt), '.'),
    items.length
      ? h('ul', {}, ...items)
      : h('p', { className: 'muted' }, 'No policy changes recorded since the audit trail began.'),
  );
}
