// The schemas the admin API shares between routes (request and response); the OpenAPI
// document is generated from these, and they validate every request and response.
import { type Static, type TSchema, Type } from '@sinclair/typebox';
import { AUDIT_OUTCOMES } from '../core/audit/record.js';
import { type ExportFormat, PolicyProblemSchema } from './services.js';

export const StringEnum = <T extends string>(values: readonly T[], options: { description?: string } = {}) =>
  Type.Unsafe<T>({ type: 'string', enum: [...values], ...options });

export const ErrorSchema = Type.Object(
  {
    error: Type.String({ description: 'Short machine-readable code, e.g. `invalid_parameter`.' }),
    message: Type.String({ description: 'What went wrong and what to change.' }),
    details: Type.Optional(Type.Unknown()),
  },
  { additionalProperties: false, description: 'Error' },
);
export type ErrorBody = Static<typeof ErrorSchema>;

export const PolicyRejectedSchema = Type.Object(
  {
    ok: Type.Literal(false),
    error: Type.Literal('invalid_policy'),
    message: Type.String(),
    problems: Type.Array(PolicyProblemSchema),
  },
  { additionalProperties: false },
);

export const DateTime = (description: string) => Type.String({ format: 'date-time', description });

export const FilterProperties = {
  from: Type.Optional(DateTime('Records at or after this ISO 8601 instant.')),
  to: Type.Optional(DateTime('Records before this ISO 8601 instant (exclusive).')),
  user: Type.Optional(
    Type.String({
      minLength: 1,
      maxLength: 3071,
      description:
        'Either party, in any address form: `carol@hs.test`, `@carol:hs.test`, `sip:carol@hs.test`, `xmpp:carol@hs.test` or `matrix:u/carol:hs.test` all find the same person on every network.',
    }),
  ),
  domain: Type.Optional(
    Type.String({ minLength: 1, maxLength: 255, description: "Either party's domain (exact)." }),
  ),
  network: Type.Optional(Type.String({ minLength: 1, maxLength: 32, description: 'xmpp, matrix or sip.' })),
  kind: Type.Optional(
    Type.String({ minLength: 1, maxLength: 64, description: 'Event kind, e.g. `message`, `call`.' }),
  ),
  decision: Type.Optional(StringEnum(['allow', 'redact', 'deny'] as const)),
  rule: Type.Optional(Type.String({ minLength: 1, maxLength: 256, description: 'Id of the deciding rule.' })),
  q: Type.Optional(
    Type.String({
      minLength: 1,
      maxLength: 1024,
      description:
        'Words searched in kept content (content mode `full`): every word must be a word of the content, ' +
        'case-insensitive, accents significant; `invoic*` matches words starting with `invoic`. Words are runs ' +
        'of letters and digits: punctuation separates them (`e-mail` is `e` and `mail`). A `q` with no word ' +
        'filters nothing.',
    }),
  ),
  category: Type.Optional(
    StringEnum(['decision', 'outcome', 'admin'] as const, {
      description:
        '`decision`: an event crossing the boundary; `outcome`: what later happened to an allowed event (same eventId); `admin`: an administrative action.',
    }),
  ),
  eventId: Type.Optional(
    Type.String({
      minLength: 1,
      maxLength: 512,
      description: "One event's records (exact id): its decision record and its outcome records.",
    }),
  ),
  traceId: Type.Optional(
    Type.String({ minLength: 1, maxLength: 128, description: 'Every record of one trace (exact id).' }),
  ),
  outcome: Type.Optional(
    StringEnum(AUDIT_OUTCOMES, {
      description:
        'What happened to the event: delivered, queued, pending, refused (by the target network), failed, denied (by policy), rate-limited, unroutable, unsupported, invalid, bounced, expired.',
    }),
  ),
};

export const AuditQuerySchema = Type.Object(
  {
    ...FilterProperties,
    before: Type.Optional(
      Type.Integer({ minimum: 1, description: 'Only records with a smaller sequence number (paging).' }),
    ),
    limit: Type.Integer({ minimum: 1, maximum: 1000, default: 100, description: 'Page size, 1..1000.' }),
  },
  { additionalProperties: false },
);

export const EXPORT_FORMATS = ['jsonl', 'csv', 'eml'] as const satisfies readonly ExportFormat[];
export const ExportQuerySchema = Type.Object(
  {
    ...FilterProperties,
    format: StringEnum(EXPORT_FORMATS, {
      description:
        '`jsonl` (one record a line), `csv`, or `eml` (an mbox stream, one EML message per conversation).',
    }),
  },
  { additionalProperties: false },
);

export const ValidateQuerySchema = Type.Object(
  {
    name: Type.Optional(
      Type.String({
        minLength: 1,
        maxLength: 255,
        description: 'Name used for the text in problems (YAML bodies; JSON bodies give `name`).',
      }),
    ),
  },
  { additionalProperties: false },
);
export const ValidateJsonBodySchema = Type.Object(
  {
    text: Type.String({ description: 'The policy YAML text.' }),
    name: Type.Optional(Type.String({ minLength: 1, maxLength: 255 })),
  },
  { additionalProperties: false },
);
export const YAML_TYPES = ['text/yaml', 'application/yaml', 'application/x-yaml', 'text/plain'] as const;

export const EvalBodySchema = Type.Object(
  {},
  {
    additionalProperties: true,
    description:
      'An event as `parley policy eval` reads it (canonical event fields: kind, from, to, body, ...). ' +
      'Missing ids, times and trace ids are filled in.',
  },
);

export const HealthSchema = Type.Object({ status: Type.Literal('ok') }, { additionalProperties: false });
export const OpenApiSchema = Type.Object(
  { openapi: Type.String(), info: Type.Unknown(), paths: Type.Unknown() },
  { additionalProperties: true },
);

export const ReloadOkSchema = Type.Object(
  { ok: Type.Literal(true), version: Type.String() },
  { additionalProperties: false },
);
export const ValidateOkSchema = Type.Object(
  { ok: Type.Literal(true), rules: Type.Integer({ minimum: 0 }) },
  { additionalProperties: false },
);

export const withDescription = <T extends TSchema>(schema: T, description: string): T => ({
  ...schema,
  description,
});

export const err = (description: string) => withDescription(ErrorSchema, description);
export const E401 = err('No valid bearer token (`WWW-Authenticate: Bearer`).');
export const E403 = err('The token is valid but its role may not do this.');
export const E400 = err('A query parameter or body field is invalid; the message names it.');
export const E500 = err('The gateway failed; details are in its log.');
export const authErrors = { 401: E401, 403: E403, 500: E500 };

/** The OpenAPI security requirement of a route that needs a token. */
export const security = [{ bearerAuth: [] }];
