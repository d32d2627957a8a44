// The audit record: one per decision on an event that crosses the boundary (and one per
// administrative action), hash-chained so that edits, deletions and truncation show.
import { type Static, Type } from '@sinclair/typebox';

export const AuditDecision = Type.Union([
  Type.Literal('allow'),
  Type.Literal('redact'),
  Type.Literal('deny'),
]);
export type AuditDecision = Static<typeof AuditDecision>;

export const AuditContent = Type.Union([
  Type.Object({ mode: Type.Literal('full'), body: Type.String() }, { additionalProperties: false }),
  Type.Object({ mode: Type.Literal('hash'), sha256: Type.String() }, { additionalProperties: false }),
  Type.Object({ mode: Type.Literal('none') }, { additionalProperties: false }),
]);
export type AuditContent = Static<typeof AuditContent>;

/**
 * `decision`: the policy's decision on an event (and its outcome when known then);
 * `outcome`: what happened to an event after its decision record was written (same eventId);
 * `admin`: an action through the API/console/CLI.
 */
export const AuditCategory = Type.Union([
  Type.Literal('decision'),
  Type.Literal('outcome'),
  Type.Literal('admin'),
]);
export type AuditCategory = Static<typeof AuditCategory>;

/**
 * What happened to an event (docs/decisions/0009-decision-and-outcome.md):
 * - `delivered`: the target network accepted it; `queued`: it waits in the target adapter's
 *   queue (link down); `pending`: handed to the target adapter, its answer not yet known
 *   (the decision record of every allowed event; an `outcome` record follows);
 * - `refused`: the target network (or its adapter, on its behalf) declined it, with its reason;
 *   `failed`: the target link failed or timed out;
 * - `denied`: by policy; `rate-limited`: a rule's rateLimit was exceeded; `unroutable`: no
 *   network here serves the recipient; `unsupported`: the target network cannot carry it;
 * - `invalid`: the event could not be expressed on the target network;
 * - `bounced`, `expired`: accepted (queued) earlier, then returned by the network or
 *   expired in the queue (written by AdapterContext.bounce).
 */
export const AuditOutcome = Type.Union([
  Type.Literal('delivered'),
  Type.Literal('queued'),
  Type.Literal('pending'),
  Type.Literal('refused'),
  Type.Literal('failed'),
  Type.Literal('denied'),
  Type.Literal('rate-limited'),
  Type.Literal('unroutable'),
  Type.Literal('unsupported'),
  Type.Literal('invalid'),
  Type.Literal('bounced'),
  Type.Literal('expired'),
]);
export type AuditOutcome = Static<typeof AuditOutcome>;
/** Every outcome value, for option lists and request schemas. */
export const AUDIT_OUTCOMES: readonly AuditOutcome[] = AuditOutcome.anyOf.map((s) => s.const);

/** A rule that changed the event on its way (a redaction, a disclaimer, reduced presence). */
export const AuditTransform = Type.Object(
  {
    rule: Type.String(),
    /** `redact`, `disclaimer`, `presence-basic`, ... */
    effect: Type.String(),
    /** The rule's reason, else its description. */
    reason: Type.Union([Type.String(), Type.Null()]),
  },
  { additionalProperties: false },
);
export type AuditTransform = Static<typeof AuditTransform>;

/** What the writer is given; it adds seq, prev and hash. */
export const AuditEntry = Type.Object(
  {
    category: AuditCategory,
    /** When the record was written (ISO 8601). */
    time: Type.String(),
    /**
     * The event's own time (its `time`: when its adapter received it, or the network's own
     * timestamp where it carries one). Absent on admin records and on records written before
     * the field existed.
     */
    eventTime: Type.Optional(Type.String()),
    traceId: Type.String(),
    eventId: Type.String(),
    kind: Type.String(),
    from: Type.String(),
    to: Type.String(),
    fromNetwork: Type.String(),
    toNetwork: Type.String(),
    /** inbound | outbound | internal | external (relative to the enterprise zone; docs/policy.md). */
    direction: Type.String(),
    /** The policy's decision (an outcome record repeats its event's). */
    decision: AuditDecision,
    /** The deciding rule (the first matching deny, else the first allow/redact rule). */
    rule: Type.Union([Type.String(), Type.Null()]),
    reason: Type.Union([Type.String(), Type.Null()]),
    /** Every rule that changed the event, each with its reason (absent: none did). */
    transforms: Type.Optional(Type.Array(AuditTransform)),
    /** What happened (absent on admin records and records written before the field existed). */
    outcome: Type.Optional(AuditOutcome),
    /** Why, when it was not delivered: the target network's answer, which limit, ... */
    outcomeReason: Type.Optional(Type.Union([Type.String(), Type.Null()])),
    policyVersion: Type.String(),
    content: AuditContent,
    /** Adapter names the event came from / went to. */
    sourceAdapter: Type.String(),
    targetAdapter: Type.Union([Type.String(), Type.Null()]),
    /** Admin records: who did it (role or token name) and free-form details. */
    actor: Type.Optional(Type.String()),
    details: Type.Optional(Type.Record(Type.String(), Type.Unknown())),
  },
  { additionalProperties: false },
);
export type AuditEntry = Static<typeof AuditEntry>;

export const AuditRecord = Type.Composite([
  Type.Object({
    /** 1, 2, 3, ... with no gaps. */
    seq: Type.Integer({ minimum: 1 }),
    /** Hash of the previous record (64 zeros before the first). */
    prev: Type.String(),
    /** SHA-256 hex over the canonical encoding of every other field. */
    hash: Type.String(),
  }),
  AuditEntry,
]);
export type AuditRecord = Static<typeof AuditRecord>;

export { GENESIS_HASH } from './genesis.js';
