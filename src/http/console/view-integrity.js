// @ts-check
// The integrity view: verify the whole hash chain (the check itself is recorded) and, when
// it is broken, open the first record that does not match.
import { api } from './api.js';
import { $, fill, h } from './dom.js';
import { show } from './nav.js';
import { openRecord } from './record-detail.js';
/** @import { VerifyResult } from './types.js' */

export async function verify() {
  const out = $('#verify-result');
  const btn = $('#verify', HTMLButtonElement);
  btn.disabled = true;
  out.className = 'result';
  fill(out, 'Verifying…');
  try {
    /** @type {VerifyResult} */
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
    fill(out, `Could not verify: ${e instanceof Error ? e.message : String(e)}`);
  } finally {
    btn.disabled = false;
  }
}
