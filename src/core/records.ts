// What the audit records of one event say about it apart from its decision and outcome
// (the pipeline fills those in): the common fields, the transforms a decision lists, and
// the decision a bounced copy read back from a queue stands for.
import type { Adapter } from './adapter.js';
import { tryParseAddress } from './address.js';
import type { AuditEntry, AuditTransform } from './audit/record.js';
import type { CanonicalEvent } from './model.js';
import type { AppliedTransform, Classification } from './policy/types.js';

/** What of the policy the records name: its version and the event's direction. */
export interface RecordingPolicy {
  readonly version: string;
  classify(event: CanonicalEvent): Classification;
}

/** An audit entry without its decision fields, completed once the outcome is known. */
export type BaseEntry = Omit<AuditEntry, 'decision' | 'rule' | 'reason' | 'content'> & Partial<AuditEntry>;

export const NO_CONTENT: AuditEntry['content'] = Object.freeze({ mode: 'none' as const });

/** What every record of an event says about it, before the decision and its outcome. */
export function baseEntry(
  event: CanonicalEvent,
  policy: RecordingPolicy,
  fromNetwork: string,
  toNetwork: string,
  sourceAdapter: string,
  targetAdapter: string | null,
): BaseEntry {
  return {
    category: 'decision',
    time: '',
    eventTime: event.time,
    traceId: event.traceId,
    eventId: event.id,
    kind: event.kind,
    from: event.from,
    to: event.to,
    fromNetwork,
    toNetwork,
    direction: policy.classify(event).direction,
    policyVersion: policy.version,
    sourceAdapter,
    targetAdapter,
  };
}

/**
 * The transforms a record lists: every rule that changed the event, each with its reason.
 * A disclaimer counts only when it was added (the first message of a conversation).
 */
export function recordedTransforms(
  all: readonly AppliedTransform[],
  disclaimed: boolean,
): AuditTransform[] | undefined {
  if (all.length === 0) return undefined;
  const out: AuditTransform[] = [];
  for (const t of all) {
    if (t.effect === 'disclaimer' && !disclaimed) continue;
    out.push({ rule: t.rule, effect: t.effect, reason: t.reason });
  }
  return out.length > 0 ? out : undefined;
}

/**
 * The decision a bounced copy read back from a queue (maybe another replica's) stands
 * for: it was delivered, so the policy allowed it; the deciding rule is not in the copy,
 * so the outcome record names none (its decision record, same eventId, does).
 */
export function decidedCopy(event: CanonicalEvent, target: Adapter, policy: RecordingPolicy): AuditEntry {
  const from = tryParseAddress(event.from)?.network ?? '';
  const to = tryParseAddress(event.to)?.network ?? target.network;
  const base = baseEntry(event, policy, from, to, event.adapter, target.name);
  return { ...base, decision: 'allow', rule: null, reason: null, content: NO_CONTENT };
}
