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

/** What the writer is given; it adds seq, prev and hash. */
export const AuditEntry = Type.Object(
  {
    /** `decision`: an event's fate; `admin`: an action through the API/console/CLI. */
    category: Type.Union([Type.Literal('decision'), Type.Literal('admin')]),
    time: Type.String(),
    traceId: Type.String(),
    eventId: Type.String(),
    kind: Type.String(),
    from: Type.String(),
    to: Type.String(),
    fromNetwork: Type.String(),
    toNetwork: Type.String(),
    /** inbound | outbound | internal | external (DESIGN: relative to the enterprise zone). */
    direction: Type.String(),
    decision: AuditDecision,
    rule: Type.Union([Type.String(), Type.Null()]),
    reason: Type.Union([Type.String(), Type.Null()]),
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

export const GENESIS_HASH = '0'.repeat(64);
