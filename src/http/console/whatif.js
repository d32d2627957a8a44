// @ts-check
// What if…: an event typed as JSON, decided by the policy in force (nothing is delivered
// or recorded), with the deciding rule, the rules that changed it, and, where the gateway
// explains, every rule's verdict clause by clause.
import { api } from './api.js';
import { $, fill, h } from './dom.js';
import { EFFECT_WORDS, PRESENCE_WORDS, transformsOf } from './present.js';
import { describe, state } from './state.js';
import { badge } from './widgets.js';
/** @import { Explanation } from './types.js' */

/** @param {Event} ev */
export async function whatIf(ev) {
  ev.preventDefault();
  const out = $('#whatif-result');
  let event;
  try {
    event = JSON.parse($('#whatif-event', HTMLTextAreaElement).value);
  } catch (e) {
    out.className = 'result bad';
    fill(out, `The event is not valid JSON: ${e instanceof Error ? e.message : String(e)}`);
    return;
  }
  try {
    /** @type {Explanation} */
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
    fill(out, `Cannot evaluate: ${e instanceof Error ? e.message : String(e)}`);
  }
}
