// What the HTTP surfaces need from the gateway. The composition root (src/gateway.ts)
// implements it; tests may give a small fake. The HTTP layer never reaches further in.

import { type Static, Type } from '@sinclair/typebox';
import type { LinkStatus } from '../core/adapter.js';
import type { SearchMode } from '../core/audit/query.js';
import { AuditRecord } from '../core/audit/record.js';
import type { AuditFilter, ExportFormat, VerifyResult } from '../core/audit/types.js';
import { CanonicalEvent } from '../core/model.js';
import type { Decision, Explanation } from '../core/policy/types.js';

export type { AuditFilter, Explanation, ExportFormat, SearchMode, VerifyResult };

export interface AuditPage {
  records: AuditRecord[];
  /** Pass as `before` to get the next (older) page; null at the end. */
  next: number | null;
  /** How the page was found: the store's index, or a (capped) scan of the newest records. */
  search: SearchMode;
}

export interface PolicyInfo {
  name: string;
  version: string;
  file: string | null;
  rules: number;
  loadedAt: string;
  /** The policy document as parsed (for display). */
  document: unknown;
  /** The last reload that failed, if the running policy is older than the file. */
  lastError: { at: string; message: string } | null;
}

export interface PolicyProblem {
  file: string;
  line: number | null;
  column: number | null;
  path: string;
  message: string;
}

export interface ReadyReport {
  ready: boolean;
  store: { ok: boolean; kind: string };
  adapters: Record<string, LinkStatus & { network: string }>;
}

export interface AdminServices {
  policy: {
    current(): PolicyInfo;
    /** Check a policy text without loading it. */
    validate(
      text: string,
      name?: string,
    ): { ok: true; rules: number } | { ok: false; problems: PolicyProblem[] };
    /**
     * Re-read the policy file; a bad file keeps the old policy. `record`: the details of
     * the audit record (old and new version, sha256 of the file), when the runtime gives them.
     */
    reload(): Promise<
      ({ ok: true; version: string } | { ok: false; problems: PolicyProblem[] }) & {
        record?: Record<string, unknown>;
      }
    >;
    /** Decide one event (CLI event JSON) against the running policy; throws EventInputError on bad input. */
    evaluate(event: unknown): Decision;
    /** Every rule's verdict on one event, with the decision (`parley policy explain`). Optional. */
    explain?(event: unknown): Explanation;
  };
  audit: {
    query(filter: AuditFilter, before: number | null, limit: number): Promise<AuditPage>;
    verify(): Promise<VerifyResult>;
    /** Stream an export, chunk by chunk. */
    export(format: ExportFormat, filter: AuditFilter): AsyncIterable<string>;
    /** Record an administrative action (sign-in, export, reload...) in the trail. */
    recordAdmin(action: string, actor: string, details: Record<string, unknown>): Promise<void>;
    /**
     * Records appended after `afterSeq` (null: after the head at the time of the call) that
     * match `filter`, as they are appended, until `signal` aborts. Optional (live view).
     */
    follow?(filter: AuditFilter, afterSeq: number | null, signal: AbortSignal): AsyncIterable<AuditRecord>;
  };
  /** Retention and legal holds. Optional: without it the hold and trim routes are not offered. */
  retention?: RetentionServices;
  health(): { live: true };
  readiness(): Promise<ReadyReport>;
  /** Prometheus text exposition. */
  metrics(): Promise<{ contentType: string; body: string }>;
}

/** A legal hold: records matching every criterion given are never trimmed. */
export interface LegalHold {
  id: string;
  /** Either party: a URI (that network only) or `user@domain` (any network). */
  user?: string;
  /** Either party's domain (exact). */
  domain?: string;
  /** Records at or after this instant. */
  from?: string;
  /** Records before this instant. */
  to?: string;
  reason: string;
  createdAt: string;
  createdBy: string;
}

export type LegalHoldInput = Pick<LegalHold, 'user' | 'domain' | 'from' | 'to' | 'reason'>;

export interface TrimReport {
  /** `audit.retentionDays` (null: keep forever, nothing is trimmed). */
  retentionDays: number | null;
  /** Records before this instant are past retention (null when there is no retention). */
  cutoff: string | null;
  /** Records deleted. */
  removed: number;
  /** Records past retention kept because a hold covers them. */
  held: number;
  /** The trim anchor afterwards: the record the first kept record of the chain follows. */
  anchor: { seq: number; hash: string } | null;
}

export interface RetentionServices {
  retentionDays(): number | null;
  listHolds(): Promise<LegalHold[]>;
  /** Store a new hold; throws RangeError when the input is unusable. */
  setHold(input: LegalHoldInput, actor: string): Promise<LegalHold>;
  /** Remove a hold; null when there is none with that id. */
  releaseHold(id: string): Promise<LegalHold | null>;
  /** Delete records past retention that no hold covers, keeping the chain verifiable. */
  trim(): Promise<TrimReport>;
}

// ---------------------------------------------------------------------------------------
// Wire schemas of what AdminServices returns. The admin API validates its responses and
// builds its OpenAPI document from these; the checks below keep them equal to the
// interfaces above (a change to one without the other fails the typecheck).

export const PolicyProblemSchema = Type.Object(
  {
    file: Type.String({ description: 'File (or name given to validate) the problem is in.' }),
    line: Type.Union([Type.Integer({ minimum: 1 }), Type.Null()]),
    column: Type.Union([Type.Integer({ minimum: 1 }), Type.Null()]),
    path: Type.String({ description: 'JSON path of the offending node, e.g. `/rules/2/match/kind`.' }),
    message: Type.String({ description: 'What is wrong and what to change.' }),
  },
  { additionalProperties: false },
);

export const PolicyInfoSchema = Type.Object(
  {
    name: Type.String(),
    version: Type.String(),
    file: Type.Union([Type.String(), Type.Null()]),
    rules: Type.Integer({ minimum: 0 }),
    loadedAt: Type.String({ description: 'ISO 8601 instant the running policy was loaded.' }),
    document: Type.Unknown({ description: 'The policy document as parsed.' }),
    lastError: Type.Union([
      Type.Object({ at: Type.String(), message: Type.String() }, { additionalProperties: false }),
      Type.Null(),
    ]),
  },
  { additionalProperties: false },
);

export const PolicyObligationsSchema = Type.Object(
  {
    disclaimer: Type.Optional(Type.String()),
    presence: Type.Optional(
      Type.Union([Type.Literal('basic'), Type.Literal('coarse'), Type.Literal('full')]),
    ),
    rateLimit: Type.Optional(Type.String()),
  },
  { additionalProperties: false },
);

export const DecisionSchema = Type.Object(
  {
    decision: Type.Union([Type.Literal('allow'), Type.Literal('deny')]),
    rule: Type.Union([Type.String(), Type.Null()], {
      description: 'The deciding rule; null for the default.',
    }),
    reason: Type.Union([Type.String(), Type.Null()]),
    obligations: PolicyObligationsSchema,
    rateLimits: Type.Array(
      Type.Object(
        { rule: Type.String(), limit: Type.Integer({ minimum: 0 }), windowMs: Type.Integer({ minimum: 0 }) },
        { additionalProperties: false },
      ),
    ),
    redacted: Type.Boolean(),
    transforms: Type.Array(
      Type.Object(
        {
          rule: Type.String(),
          effect: Type.Union([
            Type.Literal('redact'),
            Type.Literal('presence-basic'),
            Type.Literal('presence-coarse'),
            Type.Literal('disclaimer'),
          ]),
          reason: Type.Union([Type.String(), Type.Null()], {
            description: "The rule's reason, else its description.",
          }),
        },
        { additionalProperties: false },
      ),
    ),
    event: CanonicalEvent,
  },
  { additionalProperties: false },
);

export const SearchModeSchema = Type.Union(
  [
    Type.Object({ mode: Type.Literal('index') }, { additionalProperties: false }),
    Type.Object(
      {
        mode: Type.Literal('scan'),
        scanned: Type.Integer({ minimum: 0, description: 'Records read for this page.' }),
        total: Type.Integer({ minimum: 0, description: 'Records kept in the trail.' }),
        capped: Type.Boolean({
          description: 'The scan stopped at its limit before the page was full: continue with `next`.',
        }),
      },
      { additionalProperties: false },
    ),
  ],
  {
    description:
      '`index`: the store searched its index, every kept record was considered. `scan`: the newest records ' +
      'from `before` were read one by one, at most 50,000 a page (stores without a search index).',
  },
);

export const AuditPageSchema = Type.Object(
  {
    records: Type.Array(AuditRecord),
    next: Type.Union([Type.Integer({ minimum: 1 }), Type.Null()], {
      description: 'Pass as `before` to get the next (older) page; null at the end.',
    }),
    search: SearchModeSchema,
  },
  { additionalProperties: false },
);

export const VerifyResultSchema = Type.Union([
  Type.Object(
    {
      ok: Type.Literal(true),
      records: Type.Integer({ minimum: 0 }),
      head: Type.Union([
        Type.Object(
          { seq: Type.Integer({ minimum: 1 }), hash: Type.String() },
          { additionalProperties: false },
        ),
        Type.Null(),
      ]),
    },
    { additionalProperties: false },
  ),
  Type.Object(
    {
      ok: Type.Literal(false),
      records: Type.Integer({ minimum: 0 }),
      firstBad: Type.Integer({
        minimum: 0,
        description: 'Sequence number of the first record that does not match.',
      }),
      problem: Type.String(),
    },
    { additionalProperties: false },
  ),
]);

export const LinkStatusSchema = Type.Object(
  {
    state: Type.Union([
      Type.Literal('starting'),
      Type.Literal('up'),
      Type.Literal('down'),
      Type.Literal('stopped'),
    ]),
    detail: Type.Optional(Type.String()),
    since: Type.String(),
    network: Type.String(),
  },
  { additionalProperties: false },
);

export const ReadyReportSchema = Type.Object(
  {
    ready: Type.Boolean(),
    store: Type.Object({ ok: Type.Boolean(), kind: Type.String() }, { additionalProperties: false }),
    adapters: Type.Record(Type.String(), LinkStatusSchema),
  },
  { additionalProperties: false },
);

export const ExplanationSchema = Type.Object(
  {
    classification: Type.Object(
      {
        fromZone: Type.Union([Type.String(), Type.Null()]),
        toZone: Type.Union([Type.String(), Type.Null()]),
        direction: Type.Union([
          Type.Literal('inbound'),
          Type.Literal('outbound'),
          Type.Literal('internal'),
          Type.Literal('external'),
        ]),
      },
      { additionalProperties: false },
    ),
    rules: Type.Array(
      Type.Object(
        {
          id: Type.String(),
          effect: Type.Union([Type.Literal('allow'), Type.Literal('deny'), Type.Literal('redact')]),
          matched: Type.Boolean(),
          because: Type.Array(Type.String(), {
            description: 'Each clause of the rule in plain words, prefixed `holds:` or `fails:`.',
          }),
        },
        { additionalProperties: false },
      ),
    ),
    decision: DecisionSchema,
  },
  { additionalProperties: false },
);

const HoldCriteria = {
  user: Type.Optional(
    Type.String({
      minLength: 1,
      maxLength: 3071,
      description: 'Either party: a URI (that network only) or `user@domain` (any network).',
    }),
  ),
  domain: Type.Optional(Type.String({ minLength: 1, maxLength: 255, description: "Either party's domain." })),
  from: Type.Optional(
    Type.String({ format: 'date-time', description: 'Records at or after this ISO 8601 instant.' }),
  ),
  to: Type.Optional(
    Type.String({ format: 'date-time', description: 'Records before this ISO 8601 instant.' }),
  ),
};

export const LegalHoldInputSchema = Type.Object(
  {
    ...HoldCriteria,
    reason: Type.String({ minLength: 1, maxLength: 1024, description: 'Why (case, matter, ticket).' }),
  },
  { additionalProperties: false },
);

export const LegalHoldSchema = Type.Object(
  {
    id: Type.String(),
    ...HoldCriteria,
    reason: Type.String(),
    createdAt: Type.String({ description: 'ISO 8601 instant the hold was set.' }),
    createdBy: Type.String({ description: 'Role that set it.' }),
  },
  { additionalProperties: false },
);

export const TrimReportSchema = Type.Object(
  {
    retentionDays: Type.Union([Type.Number({ minimum: 0 }), Type.Null()]),
    cutoff: Type.Union([Type.String(), Type.Null()]),
    removed: Type.Integer({ minimum: 0 }),
    held: Type.Integer({ minimum: 0 }),
    anchor: Type.Union([
      Type.Object(
        { seq: Type.Integer({ minimum: 1 }), hash: Type.String() },
        { additionalProperties: false },
      ),
      Type.Null(),
    ]),
  },
  { additionalProperties: false },
);

type Same<A, B> = [A] extends [B] ? ([B] extends [A] ? true : false) : false;
type Assert<T extends true> = T;
export type _SchemasMatchInterfaces = [
  Assert<Same<Static<typeof PolicyProblemSchema>, PolicyProblem>>,
  Assert<Same<Static<typeof PolicyInfoSchema>, PolicyInfo>>,
  Assert<Same<Static<typeof DecisionSchema>, Decision>>,
  Assert<Same<Static<typeof AuditPageSchema>, AuditPage>>,
  Assert<Same<Static<typeof VerifyResultSchema>, VerifyResult>>,
  Assert<Same<Static<typeof ReadyReportSchema>, ReadyReport>>,
  Assert<Same<Static<typeof ExplanationSchema>, Explanation>>,
  Assert<Same<Static<typeof LegalHoldSchema>, LegalHold>>,
  Assert<Same<Static<typeof LegalHoldInputSchema>, LegalHoldInput>>,
  Assert<Same<Static<typeof TrimReportSchema>, TrimReport>>,
];
