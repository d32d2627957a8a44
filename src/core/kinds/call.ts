// Calls: carried where the target can signal the action, refused otherwise.
import { randomBytes } from 'node:crypto';
import { canonicalJson } from '../audit/hash.js';
import { CallEvent } from '../model.js';
import { asIs, type KindRules } from './rules.js';

export const call: KindRules<'call'> = {
  schema: CallEvent,
  inputDefaults: () => ({ action: 'invite', callId: `cli-${randomBytes(6).toString('hex')}` }),
  fit(event, caps) {
    if (!caps.callActions.has(event.action)) {
      return { ok: false, reason: `The recipient's network cannot signal a call ${event.action}.` };
    }
    return asIs(event);
  },
  auditText: (event) =>
    canonicalJson({
      action: event.action,
      callId: event.callId,
      reason: event.reason,
      media: event.session?.media.map((m) => ({
        media: m.media,
        direction: m.direction,
        codecs: m.codecs.map((c) => `${c.name}/${c.clockRate}${c.channels ? `/${c.channels}` : ''}`),
      })),
    }),
};
