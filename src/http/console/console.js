// The compliance console: a small vanilla ES module over Parley's /api/v1 routes.
// The bearer token lives in sessionStorage only (this tab, until sign-out or close).
import { bucketize, stackedBarChart } from './charts.js';
import { describeRule, orList } from './policy-words.js';
import {
  addressPieces,
  EFFECT_WORDS,
  eventTimeOf,
  foldOutcomes,
  formatTime,
  inputToIso,
  nativeForm,
  networkName,
  OUTCOME_WORDS,
  offsetName,
  outcomeOf,
  PRESENCE_WORDS,
  reasonText,
  sortRows,
  transformsOf,
} from './present.js';

const API = '/api/v1';
const TOKEN_KEY = 'parley.console.token';
const SESSION_KEY = 'parley.console.session';
const PAGE_SIZE = 50;

const $ = (sel) => {
  const e = document.querySelector(sel);
  if (!e) throw new Error(`console: missing element ${sel}`);
  return e;
};

/** Create an element: h('td', { className: 'x', dataset: { testid: 'y' } }, 'text', child, ...). */
function h(tag, props = {}, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(props)) {
    if (v === undefined || v === null) continue;
    if (k === 'dataset') Object.assign(e.dataset, v);
    else if (k === 'on') for (const [ev, fn] of Object.entries(v)) e.addEventListener(ev, fn);
    else if (k in e && typeof v !== 'string') e[k] = v;
    else if (k === 'className' || k === 'textContent' || k === 'type' || k === 'title') e[k] = v;
    else e.setAttribute(k, v);
  }
  for (const c of children) if (c !== null && c !== undefined && c !== false) e.append(c);
  return e;
}

/** Replace an element's children, leaving out null/undefined/false ones. */
function fill(el, ...children) {
  el.replaceChildren(...children.filter((c) => c !== null && c !== undefined && c !== false));
  return el;
}

class ApiProblem extends Error {
  constructor(status, message, body) {
    super(message);
    this.status = status;
    this.body = body;
  }
}

const state = {
  role: null,
  features: { explain: false, stream: false, retention: false },
  filter: {},
  /** `before` cursors of the pages shown so far (null: the newest page). */
  pages: [null],
  next: null,
  records: new Map(),
  live: null,
  policy: null,
  policyShown: false,
  exportAbort: null,
  /** The view shown: a status line belongs to the view it was said in. */
  view: 'traffic',
  /** Every time is shown in UTC unless the reader chose local time. */
  zone: 'utc',
  /** Rows in record order (seq) or by the event's own time (event). */
  sort: 'seq',
  /** The rows of the page shown (outcome records folded into their decisions). */
  rows: [],
  folded: 0,
  /** Seqs that arrived live since the last render (flashed once). */
  fresh: new Set(),
  /** The records the charts were drawn from (redrawn when the time zone changes). */
  chartRecords: null,
};

// ---------------------------------------------------------------------------------------
// API access

function token() {
  return sessionStorage.getItem(TOKEN_KEY);
}

async function call(path, { method = 'GET', body, signal, bearer = token() } = {}) {
  const headers = { authorization: `Bearer ${bearer ?? ''}`, 'x-parley-client': 'console' };
  if (body !== undefined) headers['content-type'] = 'application/json';
  const res = await fetch(`${API}${path}`, {
    method,
    headers,
    body: body === undefined ? undefined : JSON.stringify(body),
    signal,
    cache: 'no-store',
    credentials: 'omit',
  });
  return res;
}

async function api(path, opts = {}) {
  const res = await call(path, opts);
  const data = res.status === 204 ? null : await res.json().catch(() => null);
  if (!res.ok) {
    if (res.status === 401 && opts.bearer === undefined && state.role) {
      forget('Your token is no longer accepted; sign in again.');
    }
    throw new ApiProblem(res.status, data?.message ?? `${res.status} ${res.statusText}`, data);
  }
  return data;
}

function say(text, isError = false) {
  const s = $('#status');
  s.textContent = text;
  s.classList.toggle('error', isError);
}

const fail = (e) => say(e instanceof Error ? e.message : String(e), true);

/** Report a failure only while its view is still shown (no stale lines on another tab). */
const failIn = (view) => (e) => {
  if (state.view === view) fail(e);
};

// ---------------------------------------------------------------------------------------
// Sign-in / sign-out

async function signIn(ev) {
  ev.preventDefault();
  const input = $('#token');
  const candidate = input.value.trim();
  const err = $('#signin-error');
  err.textContent = '';
  if (!candidate) {
    err.textContent = 'Enter your access token.';
    input.focus();
    return;
  }
  try {
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
        : `Could not sign in: ${e.message}`;
    input.select();
  }
}

async function enter(session) {
  state.role = session.role;
  state.features = session.features;
  document.body.classList.toggle('role-admin', session.role === 'admin');
  document.body.classList.toggle('role-auditor', session.role === 'auditor');
  $('#role').textContent = session.role;
  $('#whoami').hidden = false;
  $('#signin-view').hidden = true;
  $('#app').hidden = false;
  $('#live').disabled = !session.features.stream;
  show('traffic');
  await loadTraffic();
}

/** Forget the token and everything shown (no request). */
function forget(message) {
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

async function signOut() {
  try {
    await api('/session', { method: 'DELETE' });
  } catch {
    // Signing out forgets the token whatever the server says.
  }
  forget('Signed out: the token is forgotten.');
}

// ---------------------------------------------------------------------------------------
// Views

function show(view) {
  // A status line speaks of the view it was said in: leaving that view clears it.
  if (view !== state.view) say('');
  state.view = view;
  for (const b of document.querySelectorAll('.tabs button')) {
    if (b.dataset.view === view) b.setAttribute('aria-current', 'page');
    else b.removeAttribute('aria-current');
  }
  for (const s of document.querySelectorAll('.view')) s.hidden = s.id !== `view-${view}`;
  if (view === 'policy' && !state.policyShown) loadPolicy().catch(failIn('policy'));
  if (view === 'charts') loadCharts().catch(failIn('charts'));
  if (view === 'holds') loadHolds().catch(failIn('holds'));
}

// ---------------------------------------------------------------------------------------
// Traffic

/** A form's filled fields; date-times are read in the zone shown (see the labels). */
function readFilter(form) {
  const f = {};
  for (const el of form.elements) {
    if (!el.name || !el.value) continue;
    const v = el.value.trim();
    if (!v) continue;
    f[el.name] = el.type === 'datetime-local' ? inputToIso(v, state.zone) : v;
  }
  return f;
}

const query = (params) => {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params))
    if (v !== undefined && v !== null && v !== '') q.set(k, String(v));
  return q.toString();
};

const fmtTime = (iso) => formatTime(iso, state.zone);

/** Every timestamp shown is one of these, so that changing the zone relabels them all. */
const timeEl = (iso) => h('time', { dateTime: iso, dataset: { iso, testid: 'timestamp' } }, fmtTime(iso));

const zoneName = () => {
  if (state.zone === 'utc') return 'UTC';
  const tz = Intl.DateTimeFormat().resolvedOptions().timeZone;
  const off = offsetName(-new Date().getTimezoneOffset());
  return tz ? `${off}, ${tz}` : off;
};

/** Show every time in `zone` ('utc' | 'local'), in every view. */
function setZone(zone) {
  const old = state.zone;
  // Date-time inputs keep naming the same instant in the new zone.
  const inputs = [...document.querySelectorAll('input[type="datetime-local"]')].filter((i) => i.value);
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
  for (const t of document.querySelectorAll('time[data-iso]')) t.textContent = fmtTime(t.dataset.iso);
  for (const l of document.querySelectorAll('.tz-label')) l.textContent = `(${zoneName()})`;
  if (state.chartRecords) drawCharts(state.chartRecords);
}

const badge = (decision) => h('span', { className: `badge ${decision}` }, decision);

/** An address that wraps only at its separators (@ : / % . …), never inside a name. */
function addrText(text) {
  const span = h('span', { className: 'addr', dataset: { testid: 'address' } });
  const pieces = addressPieces(text);
  pieces.forEach((p, i) => {
    span.append(p);
    if (i < pieces.length - 1) span.append(h('wbr'));
  });
  return span;
}

/** The canonical address and, beside it, the form people on its network write. */
function addrWithNative(uri) {
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

/** The policy's own description of a rule (records written before reasons were kept). */
const describe = (ruleId) => {
  const rule = state.policy?.document?.rules?.find((x) => x.id === ruleId);
  return rule?.description ?? rule?.reason ?? null;
};

function outcomeBadge(r) {
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
function renderRows() {
  const rows = sortRows(state.rows, state.sort);
  fill($('#rows'), ...rows.map((r) => recordRow(r, state.fresh.has(r.seq))));
  state.fresh.clear();
  if (rows.length === 0) {
    $('#rows').append(h('tr', {}, h('td', { colSpan: 9, className: 'muted' }, 'No records match.')));
  }
  const order = state.sort === 'event' ? 'by event time' : 'in record order';
  $('#rows-caption').textContent = `Audit records, newest first, ${order}`;
  $('#rows').closest('table').querySelector('thead th:nth-child(2)').textContent =
    state.sort === 'event' ? 'Event time' : 'Recorded';
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

async function loadTraffic() {
  const before = state.pages[state.pages.length - 1];
  const page = await api(`/audit?${query({ ...state.filter, before, limit: PAGE_SIZE })}`);
  state.records.clear();
  for (const r of page.records) state.records.set(r.seq, r);
  const { rows, folded } = foldOutcomes(page.records);
  state.rows = rows;
  state.folded = folded;
  renderRows();
  state.next = page.next;
  $('#older').disabled = page.next === null;
  $('#newer').disabled = state.pages.length <= 1;
  return page;
}

async function applyFilters(ev) {
  ev?.preventDefault();
  try {
    state.filter = readFilter($('#filters'));
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
    if ($('#live').checked) startLive();
  } catch (e) {
    failIn('traffic')(e);
  }
}

/** Fetch one record by seq (null when it is not kept); `fresh`: not from the page shown. */
async function fetchRecord(seq, fresh = false) {
  if (!fresh && state.records.has(seq)) return state.records.get(seq);
  const page = await api(`/audit?${query({ before: seq + 1, limit: 1 })}`);
  const r = page.records[0];
  return r && r.seq === seq ? r : null;
}

function dl(rows) {
  const d = h('dl');
  for (const [k, v] of rows) {
    if (v === undefined) continue;
    d.append(h('dt', {}, k), h('dd', {}, v ?? '—'));
  }
  return d;
}

function ruleReason(r) {
  if (r.reason) return r.reason;
  const d = describe(r.rule);
  if (d) return `${d} (rule description)`;
  return r.rule ? null : 'No rule matched: the policy default decided.';
}

/** The rule that decided and every rule that changed the event, each with its reason. */
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

/** What happened to the event after the decision, when the trail says. */
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

function contentView(c) {
  if (c.mode === 'full') return h('pre', { dataset: { testid: 'record-content' } }, c.body);
  if (c.mode === 'hash') return h('span', {}, 'SHA-256 of the content: ', h('code', {}, c.sha256));
  return h('span', { className: 'muted' }, 'Not kept (audit.content: none)');
}

async function openRecord(seq, fresh = false) {
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
    tr.classList.toggle('selected', tr.dataset.seq === String(seq));
  $('#detail-h').textContent = `Record ${seq}`;
  if (!r) {
    fill(body, h('p', {}, `Record ${seq} is not kept (trimmed by retention, or never written).`));
  } else {
    const isAdmin = r.category === 'admin';
    const isOutcome = r.category === 'outcome';
    const prevLink = h('span', { dataset: { testid: 'prev-link' } }, 'checking…');
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
    target.textContent = `Could not read record ${r.seq - 1}: ${e.message}`;
  }
}

function closeDetail() {
  $('#detail').hidden = true;
  $('.split').classList.remove('open');
  for (const tr of document.querySelectorAll('#rows tr.selected')) tr.classList.remove('selected');
}

// ---------------------------------------------------------------------------------------
// Live view: server-sent events read with fetch (EventSource cannot send the token).

function stopLive() {
  state.live?.abort();
  state.live = null;
  $('#live-status').textContent = '';
}

function startLive() {
  stopLive();
  const controller = new AbortController();
  state.live = controller;
  const top = Math.max(0, ...[...state.records.keys()]);
  let after = top;
  const status = $('#live-status');
  let received = 0;
  const connect = async () => {
    while (!controller.signal.aborted) {
      try {
        const res = await call(`/audit/stream?${query({ ...state.filter, after })}`, {
          signal: controller.signal,
        });
        if (!res.ok || !res.body) throw new Error(`live stream refused (${res.status})`);
        status.textContent = 'Live: connected';
        const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
        let buf = '';
        for (;;) {
          const { value, done } = await reader.read();
          if (done) break;
          buf += value;
          let i = buf.indexOf('\n\n');
          while (i >= 0) {
            const block = buf.slice(0, i);
            buf = buf.slice(i + 2);
            const ev = { event: 'message', data: '' };
            for (const line of block.split('\n')) {
              const m = /^(event|data|id): ?(.*)$/.exec(line);
              if (m) ev[m[1]] = m[1] === 'data' ? ev.data + m[2] : m[2];
            }
            if (ev.event === 'record' && ev.data) {
              const r = JSON.parse(ev.data);
              after = Math.max(after, r.seq);
              received += 1;
              showLive(r);
              status.textContent = `Live: connected, ${received} new record(s)`;
            }
            i = buf.indexOf('\n\n');
          }
        }
      } catch (e) {
        if (controller.signal.aborted) return;
        status.textContent = `Live: reconnecting (${e.message})`;
      }
      await new Promise((r) => setTimeout(r, 2000));
    }
  };
  connect();
}

function showLive(r) {
  // Only the newest page shows new records as they come.
  if (state.pages.length !== 1) return;
  state.records.set(r.seq, r);
  // A later outcome joins its decision's row when that row is shown.
  const decision =
    r.category === 'outcome'
      ? state.rows.find((x) => x.category === 'decision' && x.eventId === r.eventId && x.seq < r.seq)
      : undefined;
  if (decision) {
    if (!decision.outcomeRecord || decision.outcomeRecord.seq < r.seq) decision.outcomeRecord = r;
    state.folded += 1;
    state.fresh.add(decision.seq);
  } else {
    state.rows.unshift(r);
    state.fresh.add(r.seq);
    // Keep the page bounded: drop the oldest rows (by seq) beyond four pages.
    if (state.rows.length > PAGE_SIZE * 4) state.rows = sortRows(state.rows, 'seq').slice(0, PAGE_SIZE * 4);
  }
  renderRows();
}

// ---------------------------------------------------------------------------------------
// Exports: fetched with the token, streamed with progress, then saved as a file.

async function exportAs(format) {
  if (state.exportAbort) return;
  const controller = new AbortController();
  state.exportAbort = controller;
  const box = $('#export-box');
  const progress = $('#export-progress');
  const status = $('#export-status');
  box.hidden = false;
  progress.removeAttribute('value');
  $('#export-label').textContent = `Export ${format.toUpperCase()}`;
  status.textContent = 'Starting…';
  try {
    const res = await call(`/audit/export?${query({ ...state.filter, format })}`, {
      signal: controller.signal,
    });
    if (!res.ok || !res.body) {
      const data = await res.json().catch(() => null);
      throw new Error(data?.message ?? `export refused (${res.status})`);
    }
    const name =
      /filename="([^"]+)"/.exec(res.headers.get('content-disposition') ?? '')?.[1] ??
      `parley-audit.${format}`;
    const reader = res.body.getReader();
    const chunks = [];
    let bytes = 0;
    let lines = 0;
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      chunks.push(value);
      bytes += value.byteLength;
      for (const b of value) if (b === 10) lines += 1;
      status.textContent = `${(bytes / 1024).toFixed(1)} KB, ${lines} lines received…`;
    }
    progress.max = 1;
    progress.value = 1;
    const blob = new Blob(chunks, { type: res.headers.get('content-type') ?? 'application/octet-stream' });
    const url = URL.createObjectURL(blob);
    const a = h('a', { href: url, download: name });
    document.body.append(a);
    a.click();
    a.remove();
    setTimeout(() => URL.revokeObjectURL(url), 60_000);
    const count = format === 'csv' ? Math.max(0, lines - 1) : format === 'jsonl' ? lines : null;
    status.textContent = `Saved ${name} (${(bytes / 1024).toFixed(1)} KB${count !== null ? `, ${count} records` : ''}). The export is recorded in the trail.`;
  } catch (e) {
    progress.max = 1;
    progress.value = 0;
    status.textContent = controller.signal.aborted ? 'Export cancelled.' : `Export failed: ${e.message}`;
  } finally {
    state.exportAbort = null;
  }
}

// ---------------------------------------------------------------------------------------
// Integrity

async function verify() {
  const out = $('#verify-result');
  const btn = $('#verify');
  btn.disabled = true;
  out.className = 'result';
  fill(out, 'Verifying…');
  try {
    const v = await api('/audit/verify');
    if (v.ok) {
      out.className = 'result ok';
      out.dataset.ok = 'true';
      fill(
        out,
        h(
          'p',
          {},
          h('span', { className: 'badge ok' }, 'intact'),
          ` Chain intact: ${v.records} record(s) verified.`,
        ),
        v.head
          ? h('p', {}, `Head: record ${v.head.seq}, hash `, h('code', {}, v.head.hash))
          : h('p', {}, 'The log is empty.'),
        h(
          'p',
          { className: 'muted' },
          'Keep the head outside Parley: a later verify with it (--known-head) catches a rewritten chain.',
        ),
      );
    } else {
      out.className = 'result bad';
      out.dataset.ok = 'false';
      fill(
        out,
        h(
          'p',
          {},
          h('span', { className: 'badge bad' }, 'broken'),
          ` Chain broken at record ${v.firstBad}: ${v.problem}`,
        ),
        h(
          'button',
          {
            type: 'button',
            dataset: { testid: 'verify-open-bad' },
            on: {
              click: async () => {
                show('traffic');
                await openRecord(v.firstBad, true);
              },
            },
          },
          `Open record ${v.firstBad}`,
        ),
      );
    }
  } catch (e) {
    out.className = 'result bad';
    fill(out, `Could not verify: ${e.message}`);
  } finally {
    btn.disabled = false;
  }
}

// ---------------------------------------------------------------------------------------
// Policy and what-if

async function loadPolicyInfo() {
  state.policy = await api('/policy');
  return state.policy;
}

function exampleEvent(doc) {
  const zones = doc?.zones ?? {};
  const plain = (name) => (zones[name]?.domains ?? []).find((d) => !d.includes('*'));
  const names = Object.keys(zones);
  const ent = plain('enterprise') ?? plain(names[0]) ?? 'corp.example';
  const other = plain('partner') ?? plain(names[1]) ?? 'partner.example';
  return { kind: 'message', from: `xmpp:alice@${ent}`, to: `matrix:u/bob:${other}`, body: 'Hello' };
}

async function loadPolicy() {
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
  const ta = $('#whatif-event');
  if (!ta.value.trim()) ta.value = JSON.stringify(exampleEvent(doc), null, 2);
  loadHistory(p).catch((e) => {
    $('#policy-history').textContent = `Could not read the history: ${e.message}`;
  });
}

const CHANGE_WORDS = {
  start: 'in force at start',
  watch: 'file edited, reloaded',
  api: 'reloaded through the API',
};

/** A policy record's details in words: how it changed, from which version to which. */
function policyChangeWords(d) {
  const hash = (x) => (typeof x === 'string' ? ` (sha256 ${x.slice(0, 12)}…)` : '');
  if (d.ok) {
    const how = CHANGE_WORDS[d.trigger] ?? 'reloaded';
    const from = d.previousVersion ? `version ${d.previousVersion} → ` : '';
    return `${how}: ${from}version ${d.version}${hash(d.sha256)}`;
  }
  const how = d.trigger === 'watch' ? 'file edit refused' : 'reload refused';
  const kept = d.keptVersion ? `; version ${d.keptVersion} stays in force` : '';
  return `${how} (${d.first ?? 'invalid policy'})${kept}`;
}

async function loadHistory(p) {
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

async function whatIf(ev) {
  ev.preventDefault();
  const out = $('#whatif-result');
  let event;
  try {
    event = JSON.parse($('#whatif-event').value);
  } catch (e) {
    out.className = 'result bad';
    fill(out, `The event is not valid JSON: ${e.message}`);
    return;
  }
  try {
    const x = state.features.explain
      ? await api('/policy/explain', { method: 'POST', body: event })
      : {
          decision: await api('/policy/eval', { method: 'POST', body: event }),
          rules: null,
          classification: null,
        };
    const d = x.decision;
    const verdict = d.decision === 'deny' ? 'deny' : d.redacted ? 'redact' : 'allow';
    out.className = `result ${verdict === 'deny' ? 'bad' : 'ok'}`;
    out.dataset.decision = d.decision;
    const ob = d.obligations ?? {};
    const obligations = [
      ob.disclaimer ? `disclaimer “${ob.disclaimer}”` : null,
      ob.presence ? (PRESENCE_WORDS[ob.presence] ?? `presence: ${ob.presence}`) : null,
      ob.rateLimit ? `rate limit ${ob.rateLimit}` : null,
    ].filter(Boolean);
    // The deciding rule (`rule`) is the one that allowed or denied the event; the rules
    // that changed it are the `transforms`, each named on its own line.
    const reason = d.reason ?? (d.rule ? describe(d.rule) : null);
    const transforms = transformsOf(d, describe);
    fill(
      out,
      h(
        'p',
        { dataset: { testid: 'whatif-decision' } },
        badge(verdict),
        ' ',
        h('strong', {}, d.decision === 'deny' ? 'Denied' : 'Allowed'),
        d.rule ? ` by rule ${d.rule}` : ' by the policy default (no rule matched)',
        reason ? `: ${reason}` : '',
      ),
      ...transforms.map((t) =>
        h(
          'p',
          { dataset: { testid: 'whatif-transform', rule: t.rule } },
          `${EFFECT_WORDS[t.effect] ?? t.effect} by rule ${t.rule}`,
          t.reason ? `: ${t.reason}` : '',
        ),
      ),
      x.classification
        ? h(
            'p',
            {},
            `From zone ${x.classification.fromZone ?? '(none)'} to zone ${x.classification.toZone ?? '(none)'}: ${x.classification.direction}.`,
          )
        : null,
      obligations.length ? h('p', {}, `Obligations: ${obligations.join('; ')}.`) : null,
      x.rules
        ? h(
            'ol',
            { className: 'rules' },
            ...x.rules.map((r) =>
              h(
                'li',
                { className: r.matched ? 'matched' : '' },
                `${r.id} (${r.effect}): ${r.matched ? 'matches' : 'does not match'}`,
                h('ul', { className: 'because' }, ...r.because.map((b) => h('li', {}, b))),
              ),
            ),
          )
        : null,
    );
  } catch (e) {
    out.className = 'result bad';
    out.dataset.decision = '';
    fill(out, `Cannot evaluate: ${e.message}`);
  }
}

// ---------------------------------------------------------------------------------------
// Charts

const DECISIONS = [
  { key: 'allow', label: 'allowed', color: '#1e7a3c' },
  { key: 'redact', label: 'redacted', color: '#c07a00' },
  { key: 'deny', label: 'denied', color: '#b3261e' },
];
const NETWORKS = [
  { key: 'xmpp', label: 'XMPP', color: '#1f5fbf' },
  { key: 'matrix', label: 'Matrix', color: '#0b8a8a' },
  { key: 'sip', label: 'SIP', color: '#7a3fb8' },
  { key: 'other', label: 'other', color: '#8a8f98' },
];

/** The network on the far side of the boundary (the enterprise's own side is not news). */
function networkOf(r) {
  const n =
    r.direction === 'inbound'
      ? r.fromNetwork
      : r.direction === 'outbound'
        ? r.toNetwork
        : r.toNetwork || r.fromNetwork;
  return NETWORKS.some((x) => x.key === n) ? n : 'other';
}

async function loadCharts() {
  const box = $('#charts');
  fill(box, 'Loading…');
  const { q: _q, category: _c, ...filter } = state.filter;
  const records = [];
  let before = null;
  for (let i = 0; i < 5; i++) {
    const page = await api(`/audit?${query({ ...filter, category: 'decision', before, limit: 1000 })}`);
    records.push(...page.records);
    if (page.next === null) break;
    before = page.next;
  }
  state.chartRecords = records;
  drawCharts(records);
}

/** A chart's interval label in the zone shown: the date, the minute or the second. */
function tick(t, step) {
  const text = formatTime(new Date(t).toISOString(), state.zone);
  const zone = text.slice(20);
  if (step >= 86_400_000) return `${text.slice(0, 10)} ${zone}`;
  if (step < 60_000) return `${text.slice(11, 19)} ${zone}`;
  return `${text.slice(5, 16)} ${zone}`;
}

function drawCharts(records) {
  const box = $('#charts');
  if (records.length === 0) {
    fill(box, h('p', { className: 'muted' }, 'No traffic decisions match the filters.'));
    return;
  }
  // Intervals start at whole days/hours of the zone shown.
  const offsetMs =
    state.zone === 'local' ? -new Date(Date.parse(records[0].time)).getTimezoneOffset() * 60_000 : 0;
  fill(
    box,
    stackedBarChart({
      title: 'Decisions over time, by decision',
      series: DECISIONS,
      data: bucketize(records, (r) => r.decision, 40, offsetMs),
      testid: 'chart-decision',
      fmtTime: tick,
    }),
    stackedBarChart({
      title: 'Decisions over time, by network (the side outside the enterprise)',
      series: NETWORKS,
      data: bucketize(records, networkOf, 40, offsetMs),
      testid: 'chart-network',
      fmtTime: tick,
    }),
  );
}

// ---------------------------------------------------------------------------------------
// Retention and holds

/** A hold's criteria in words (nodes: its times follow the zone shown). */
function holdWords(hold) {
  const parts = [];
  if (hold.user) parts.push(`user ${hold.user}`);
  if (hold.domain) parts.push(`domain ${hold.domain}`);
  const out = [parts.join(', ')];
  if (hold.from || hold.to) {
    out.push(
      `${parts.length ? ', ' : ''}time `,
      hold.from ? timeEl(hold.from) : 'the beginning',
      ' – ',
      hold.to ? timeEl(hold.to) : 'now',
    );
  }
  return out;
}

async function loadHolds() {
  if (!state.features.retention) {
    $('#retention-info').textContent = 'Retention and holds are not available on this gateway.';
    return;
  }
  const data = await api('/holds');
  $('#retention-info').textContent =
    data.retentionDays === null
      ? 'Retention: records are kept forever (audit.retentionDays is not set).'
      : `Retention: records older than ${data.retentionDays} day(s) are trimmed every hour, unless a hold below covers them.`;
  const rows = data.holds.map((hold) =>
    h(
      'tr',
      { dataset: { testid: 'hold-row', id: hold.id } },
      h('td', {}, ...holdWords(hold)),
      h('td', {}, hold.reason),
      h('td', {}, timeEl(hold.createdAt), ` by ${hold.createdBy}`),
      h(
        'td',
        {},
        state.role === 'admin'
          ? h(
              'button',
              {
                type: 'button',
                className: 'secondary',
                dataset: { testid: 'hold-release' },
                on: { click: () => releaseHold(hold) },
              },
              'Release',
            )
          : '',
      ),
    ),
  );
  fill(
    $('#holds'),
    ...(rows.length ? rows : [h('tr', {}, h('td', { colSpan: 4, className: 'muted' }, 'No holds.'))]),
  );
}

async function setHold(ev) {
  ev.preventDefault();
  try {
    const body = readFilter($('#hold-form'));
    await api('/holds', { method: 'POST', body });
    $('#hold-form').reset();
    say('Hold set (recorded in the trail).');
    await loadHolds();
  } catch (e) {
    fail(e);
  }
}

async function releaseHold(hold) {
  if (!window.confirm(`Release the hold “${hold.reason}”? Records it covered may then be trimmed.`)) return;
  try {
    await api(`/holds/${encodeURIComponent(hold.id)}`, { method: 'DELETE' });
    say('Hold released (recorded in the trail).');
    await loadHolds();
  } catch (e) {
    fail(e);
  }
}

async function trimNow() {
  const out = $('#trim-result');
  out.textContent = 'Trimming…';
  try {
    const r = await api('/audit/trim', { method: 'POST' });
    if (r.retentionDays === null) fill(out, 'Nothing trimmed: no retention period is configured.');
    else
      fill(
        out,
        `Trimmed ${r.removed} record(s) older than `,
        timeEl(r.cutoff),
        `; ${r.held} kept by holds.${r.anchor ? ` The chain is anchored at record ${r.anchor.seq}.` : ''}`,
      );
  } catch (e) {
    out.textContent = `Trim failed: ${e.message}`;
  }
}

// ---------------------------------------------------------------------------------------
// Wiring

function wire() {
  const zoneOption = $('#tz-local');
  const saved = state.zone;
  state.zone = 'local';
  zoneOption.textContent = `local time (${zoneName()})`;
  state.zone = saved;
  $('#tz').value = state.zone;
  $('#tz').addEventListener('change', (e) => setZone(e.target.value === 'local' ? 'local' : 'utc'));
  $('#sort').addEventListener('change', (e) => {
    state.sort = e.target.value === 'event' ? 'event' : 'seq';
    renderRows();
  });
  $('#signin-form').addEventListener('submit', signIn);
  $('#sign-out').addEventListener('click', signOut);
  for (const b of document.querySelectorAll('.tabs button'))
    b.addEventListener('click', () => show(b.dataset.view));
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
  $('#live').addEventListener('change', (e) => (e.target.checked ? startLive() : stopLive()));
  for (const b of document.querySelectorAll('[data-format]'))
    b.addEventListener('click', () => exportAs(b.dataset.format));
  $('#export-cancel').addEventListener('click', () => state.exportAbort?.abort());
  $('#verify').addEventListener('click', verify);
  $('#whatif').addEventListener('submit', whatIf);
  $('#charts-refresh').addEventListener('click', () => loadCharts().catch(fail));
  $('#hold-form').addEventListener('submit', setHold);
  $('#trim').addEventListener('click', trimNow);
}

async function resume() {
  const saved = sessionStorage.getItem(SESSION_KEY);
  if (!token() || !saved) return;
  try {
    await enter(JSON.parse(saved));
  } catch (e) {
    if (state.role) fail(e);
  }
}

wire();
resume();
document.documentElement.dataset.ready = 'true';
