// The policy document (docs/policy.md): one TypeBox schema gives the TypeScript types, the
// validation in the loader and the published JSON Schema (policies/policy.schema.json). A
// party's `network` names a registered network (core/network.ts), so the schema is built
// for the networks registered when it is asked for.
import { type Static, type TLiteral, type TSchema, type TUnion, Type } from '@sinclair/typebox';
import { CALL_ACTIONS, EVENT_KINDS } from '../model.js';
import { networkNames, registryGeneration } from '../network.js';

const strict = { additionalProperties: false } as const;

/** A value or a list of values (`zone: partner` or `zone: [partner, supplier]`). */
const OneOrMany = <T extends TSchema>(item: T, what: string) =>
  Type.Union([item, Type.Array(item, { minItems: 1 })], {
    errorMessage: `expected ${what} or a non-empty list of them`,
  });

const Name = Type.String({ minLength: 1, maxLength: 128 });
const literals = <T extends string>(values: readonly T[]): TUnion<TLiteral<T>[]> =>
  Type.Union(
    values.map((v) => Type.Literal(v)),
    { errorMessage: `expected one of ${values.join(', ')}` },
  );

export const DAYS = ['mon', 'tue', 'wed', 'thu', 'fri', 'sat', 'sun'] as const;
export const DIRECTIONS = ['inbound', 'outbound', 'internal', 'external'] as const;
export const EFFECTS = ['allow', 'deny', 'redact'] as const;

/** Conditions on one party, around the schema of a network's name. */
const partyMatch = <N extends TSchema>(network: N) =>
  Type.Object(
    {
      /** Zone name(s). */
      zone: Type.Optional(OneOrMany(Name, 'a zone name')),
      /** Domain(s): exact, `*.suffix` (subdomains only) or `*`. */
      domain: Type.Optional(OneOrMany(Type.String({ minLength: 1, maxLength: 255 }), 'a domain')),
      network: Type.Optional(OneOrMany(network, 'a network')),
      /** A user part (`alice`), a person on any network (`alice@corp.example`) or one URI. */
      user: Type.Optional(OneOrMany(Type.String({ minLength: 1, maxLength: 3071 }), 'a user')),
      /** Segment name(s). */
      segment: Type.Optional(OneOrMany(Name, 'a segment name')),
    },
    { ...strict, description: 'Conditions on one party; all given fields must hold.' },
  );

export const ContentMatch = Type.Object(
  {
    /** JavaScript regular expression found anywhere in the text body. */
    pattern: Type.Optional(Type.String({ minLength: 1, maxLength: 4096 })),
    /** The body is longer than this many characters. */
    longerThan: Type.Optional(Type.Integer({ minimum: 0 })),
  },
  strict,
);

export const AttachmentMatch = Type.Object(
  {
    /** MIME types (`image/png`, `image/*`, `*\/*`). */
    mime: Type.Optional(OneOrMany(Type.String({ minLength: 1, maxLength: 255 }), 'a MIME type')),
    /** Size in bytes. */
    largerThan: Type.Optional(Type.Integer({ minimum: 0 })),
  },
  strict,
);

export const TimeMatch = Type.Object(
  {
    days: Type.Optional(OneOrMany(literals(DAYS), 'a day (mon..sun)')),
    /** `HH:MM-HH:MM`, start inclusive, end exclusive, may wrap midnight. */
    hours: Type.Optional(Type.String({ minLength: 1, maxLength: 32 })),
    /** IANA time zone; default UTC. */
    tz: Type.Optional(Type.String({ minLength: 1, maxLength: 64 })),
  },
  strict,
);

const ruleMatch = <P extends TSchema>(party: P) =>
  Type.Object(
    {
      from: Type.Optional(party),
      to: Type.Optional(party),
      party: Type.Optional(party),
      between: Type.Optional(
        Type.Array(party, {
          minItems: 2,
          maxItems: 2,
          errorMessage: 'expected a pair: [{...one side...}, {...other side...}]',
        }),
      ),
      kind: Type.Optional(OneOrMany(literals(EVENT_KINDS), 'an event kind')),
      callAction: Type.Optional(OneOrMany(literals(CALL_ACTIONS), 'a call action')),
      direction: Type.Optional(OneOrMany(literals(DIRECTIONS), 'a direction')),
      content: Type.Optional(ContentMatch),
      attachment: Type.Optional(AttachmentMatch),
      time: Type.Optional(TimeMatch),
    },
    { ...strict, description: 'All given fields must hold; an empty match matches every event.' },
  );

/** How much presence a rule lets through: docs/policy.md, "Presence levels". */
export const PRESENCE_LEVELS = ['basic', 'coarse', 'full'] as const;

export const Obligations = Type.Object(
  {
    disclaimer: Type.Optional(Type.String({ minLength: 1, maxLength: 4096 })),
    presence: Type.Optional(literals(PRESENCE_LEVELS)),
    rateLimit: Type.Optional(Type.String({ minLength: 1, maxLength: 32 })),
  },
  strict,
);
export type Obligations = Static<typeof Obligations>;

const rule = <N extends TSchema>(network: N) =>
  Type.Object(
    {
      id: Type.String({ minLength: 1, maxLength: 128, pattern: '^[A-Za-z0-9][A-Za-z0-9_.:-]*$' }),
      description: Type.Optional(Type.String({ maxLength: 4096 })),
      match: ruleMatch(partyMatch(network)),
      effect: literals(EFFECTS),
      reason: Type.Optional(Type.String({ minLength: 1, maxLength: 1024 })),
      /** For `redact`: what replaces each match of `match.content.pattern` (default `[redacted]`). */
      replacement: Type.Optional(Type.String({ maxLength: 1024 })),
      obligations: Type.Optional(Obligations),
    },
    strict,
  );

export const Zone = Type.Object(
  {
    /** Exact domains, `*.suffix` (subdomains only) or `*` (everything else). */
    domains: Type.Array(Type.String({ minLength: 1, maxLength: 255 }), { minItems: 1 }),
    description: Type.Optional(Type.String({ maxLength: 4096 })),
  },
  strict,
);

export const Segment = Type.Object(
  {
    /** `user@domain` (any network) or a URI (that network only). */
    users: Type.Array(Type.String({ minLength: 1, maxLength: 3071 }), { minItems: 1 }),
    description: Type.Optional(Type.String({ maxLength: 4096 })),
  },
  strict,
);

const policyDocument = <N extends TSchema>(network: N) =>
  Type.Object(
    {
      apiVersion: Type.Literal('parley/v1'),
      kind: Type.Literal('Policy'),
      metadata: Type.Object(
        {
          name: Type.String({ minLength: 1, maxLength: 128 }),
          version: Type.String({ minLength: 1, maxLength: 128 }),
          description: Type.Optional(Type.String({ maxLength: 4096 })),
        },
        strict,
      ),
      zones: Type.Record(Type.String(), Zone),
      segments: Type.Optional(Type.Record(Type.String(), Segment)),
      defaults: Type.Object({ decision: literals(['allow', 'deny'] as const) }, strict),
      rules: Type.Array(rule(network)),
    },
    {
      ...strict,
      $id: 'https://parley.dev/schemas/policy.schema.json',
      title: 'Parley policy (parley/v1)',
    },
  );

// The types: a network is any name (the registry checks it at validation).
const TypedDocument = policyDocument(Type.String());
export type PolicyDocument = Static<typeof TypedDocument>;
export type Rule = PolicyDocument['rules'][number];
export type RuleMatch = Rule['match'];
export type PartyMatch = NonNullable<RuleMatch['from']>;

let built: { generation: number; schema: TSchema } | null = null;
/** The policy document's schema for the networks registered now. */
export function policyDocumentSchema(): TSchema {
  if (built?.generation !== registryGeneration()) {
    built = { generation: registryGeneration(), schema: policyDocument(literals(networkNames())) };
  }
  return built.schema;
}

/** The JSON Schema published as policies/policy.schema.json (for the registered networks). */
export function policyJsonSchema(): Record<string, unknown> {
  const plain = JSON.parse(JSON.stringify(policyDocumentSchema())) as Record<string, unknown>;
  return { $schema: 'http://json-schema.org/draft-07/schema#', ...plain };
}
