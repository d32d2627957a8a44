// @ts-check
// The retention view: how long records are kept, the legal holds in force (an admin sets
// and releases them) and trimming now.
import { api } from './api.js';
import { $, fill, h } from './dom.js';
import { state } from './state.js';
import { fail, say } from './status.js';
import { readFilter, timeEl } from './time.js';

/** @import { Child } from './dom.js' */
/** @import { HoldList, LegalHold, TrimReport } from './types.js' */

/**
 * A hold's criteria in words (nodes: its times follow the zone shown).
 * @param {LegalHold} hold
 * @returns {Child[]}
 */
function holdWords(hold) {
  const parts = [];
  if (hold.user) parts.push(`user ${hold.user}`);
  if (hold.domain) parts.push(`domain ${hold.domain}`);
  /** @type {Child[]} */
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

export async function loadHolds() {
  if (!state.features.retention) {
    $('#retention-info').textContent = 'Retention and holds are not available on this gateway.';
    return;
  }
  /** @type {HoldList} */
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

/** @param {Event} ev */
export async function setHold(ev) {
  ev.preventDefault();
  try {
    const form = $('#hold-form', HTMLFormElement);
    const body = readFilter(form);
    await api('/holds', { method: 'POST', body });
    form.reset();
    say('Hold set (recorded in the trail).');
    await loadHolds();
  } catch (e) {
    fail(e);
  }
}

/** @param {LegalHold} hold */
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

export async function trimNow() {
  const out = $('#trim-result');
  out.textContent = 'Trimming…';
  try {
    /** @type {TrimReport} */
    const r = await api('/audit/trim', { method: 'POST' });
    if (r.retentionDays === null) fill(out, 'Nothing trimmed: no retention period is configured.');
    else
      fill(
        out,
        `Trimmed ${r.removed} record(s) older than `,
        timeEl(r.cutoff ?? ''),
        `; ${r.held} kept by holds.${r.anchor ? ` The chain is anchored at record ${r.anchor.seq}.` : ''}`,
      );
  } catch (e) {
    out.textContent = `Trim failed: ${e instanceof Error ? e.message : String(e)}`;
  }
}
