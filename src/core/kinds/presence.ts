// Presence: carried as is where the target carries it, reduced to the level a policy
// lets through (docs/policy.md, "Presence levels").
import { canonicalJson } from '../audit/hash.js';
import { PresenceEvent, type PresenceShow } from '../model.js';
import { asIs, type KindRules } from './rules.js';

export const presence: KindRules<'presence'> = {
  schema: PresenceEvent,
  inputDefaults: () => ({ show: 'available' }),
  fit: asIs,
  /**
   * `basic` says only whether the user is online; `coarse` also away/dnd (extended away
   * reads as away). Neither carries status text, activity or idle time (lastActive):
   * those say more about a person than whether they can be reached.
   */
  reducePresence(event, level) {
    const { status: _s, activity: _a, lastActive: _l, ...rest } = event;
    const show: PresenceShow =
      level === 'basic'
        ? event.show === 'offline'
          ? 'offline'
          : 'available'
        : event.show === 'xa'
          ? 'away'
          : event.show;
    return { ...rest, show };
  },
  auditText: (event) =>
    canonicalJson({
      show: event.show,
      status: event.status,
      activity: event.activity,
      lastActive: event.lastActive,
    }),
};
