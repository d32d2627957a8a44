// The admin HTTP surface: health, readiness, metrics and the /api/v1 admin and audit
// routes with bearer-token auth (roles admin and auditor) and an OpenAPI document
// generated from the same TypeBox schemas that validate every request and response.
// It reaches the gateway only through AdminServices.
import { createHash, timingSafeEqual } from 'node:crypto';
import { Readable } from 'node:stream';
import swagger from '@fastify/swagger';
import { FormatRegistry, type Static, type TSchema, Type } from '@sinclair/typebox';
import { TypeCompiler } from '@sinclair/typebox/compiler';
import Fastify, {
  type FastifyBaseLogger,
  type FastifyError,
  type FastifyInstance,
  type FastifyReply,
  type FastifyRequest,
  type onRequestAsyncHookHandler,
  type preSerializationAsyncHookHandler,
} from 'fastify';
import type { AuditRecord } from '../core/audit/record.js';
import type { LogFn, Logger } from '../core/logger.js';
import { registerConsole } from './console/serve.js';
import {
  type AdminServices,
  AuditPageSchema,
  DecisionSchema,
  ExplanationSchema,
  type ExportFormat,
  LegalHoldInputSchema,
  LegalHoldSchema,
  PolicyInfoSchema,
  PolicyProblemSchema,
  ReadyReportSchema,
  TrimReportSchema,
  VerifyResultSchema,
} from './services.js';

export type Role = 'admin' | 'auditor';

export interface HttpAppOptions {
  services: AdminServices;
  /** Bearer tokens; a role whose token is unset (or empty) cannot sign in. */
  tokens: { admin?: string; auditor?: string };
  /**
   * A pino logger (or any logger of the core's port shape); false for none. Authorization
   * headers are redacted either way.
   */
  logger: Logger | FastifyBaseLogger | false;
  /** Largest accepted request body in bytes (default 1 MiB). */
  bodyLimit?: number;
  /**
   * Serve the compliance console at /console and its sign-in route `/api/v1/session`
   * (default: when the services can follow the log for the console's live view, as the
   * gateway's do).
   */
  console?: boolean;
  /** Comment lines sent on an idle live stream (`/api/v1/audit/stream`), ms (default 15 s). */
  streamHeartbeatMs?: number;
}

export const DEFAULT_BODY_LIMIT = 1024 * 1024;
const API = '/api/v1';
const REALM = 'parley';

// ---------------------------------------------------------------------------------------
// Schemas (request and response); the OpenAPI document is generated from these.

const StringEnum = <T extends string>(values: readonly T[], options: { description?: string } = {}) =>
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

const PolicyRejectedSchema = Type.Object(
  {
    ok: Type.Literal(false),
    error: Type.Literal('invalid_policy'),
    message: Type.String(),
    problems: Type.Array(PolicyProblemSchema),
  },
  { additionalProperties: false },
);

const DateTime = (description: string) => Type.String({ format: 'date-time', description });

const FilterProperties = {
  from: Type.Optional(DateTime('Records at or after this ISO 8601 instant.')),
  to: Type.Optional(DateTime('Records before this ISO 8601 instant (exclusive).')),
  user: Type.Optional(
    Type.String({ minLength: 1, maxLength: 3071, description: 'Either party: a URI or `user@domain`.' }),
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
      description: 'Free text searched (case-insensitive) in kept content.',
    }),
  ),
  category: Type.Optional(
    StringEnum(['decision', 'admin'] as const, {
      description: '`decision`: an event crossing the boundary; `admin`: an administrative action.',
    }),
  ),
};

const AuditQuerySchema = Type.Object(
  {
    ...FilterProperties,
    before: Type.Optional(
      Type.Integer({ minimum: 1, description: 'Only records with a smaller sequence number (paging).' }),
    ),
    limit: Type.Integer({ minimum: 1, maximum: 1000, default: 100, description: 'Page size, 1..1000.' }),
  },
  { additionalProperties: false },
);

const EXPORT_FORMATS = ['jsonl', 'csv', 'eml'] as const satisfies readonly ExportFormat[];
const ExportQuerySchema = Type.Object(
  {
    ...FilterProperties,
    format: StringEnum(EXPORT_FORMATS, {
      description:
        '`jsonl` (one record a line), `csv`, or `eml` (an mbox stream, one EML message per conversation).',
    }),
  },
  { additionalProperties: false },
);

const ValidateQuerySchema = Type.Object(
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
const ValidateJsonBodySchema = Type.Object(
  {
    text: Type.String({ description: 'The policy YAML text.' }),
    name: Type.Optional(Type.String({ minLength: 1, maxLength: 255 })),
  },
  { additionalProperties: false },
);
const YAML_TYPES = ['text/yaml', 'application/yaml', 'application/x-yaml', 'text/plain'] as const;

const EvalBodySchema = Type.Object(
  {},
  {
    additionalProperties: true,
    description:
      'An event as `parley policy eval` reads it (canonical event fields: kind, from, to, body, ...). ' +
      'Missing ids, times and trace ids are filled in.',
  },
);

const HealthSchema = Type.Object({ status: Type.Literal('ok') }, { additionalProperties: false });
const OpenApiSchema = Type.Object(
  { openapi: Type.String(), info: Type.Unknown(), paths: Type.Unknown() },
  { additionalProperties: true },
);

const ReloadOkSchema = Type.Object(
  { ok: Type.Literal(true), version: Type.String() },
  { additionalProperties: false },
);
const ValidateOkSchema = Type.Object(
  { ok: Type.Literal(true), rules: Type.Integer({ minimum: 0 }) },
  { additionalProperties: false },
);

const withDescription = <T extends TSchema>(schema: T, description: string): T => ({
  ...schema,
  description,
});

const err = (description: string) => withDescription(ErrorSchema, description);
const E401 = err('No valid bearer token (`WWW-Authenticate: Bearer`).');
const E403 = err('The token is valid but its role may not do this.');
const E400 = err('A query parameter or body field is invalid; the message names it.');
const E500 = err('The gateway failed; details are in its log.');
const authErrors = { 401: E401, 403: E403, 500: E500 };

// ---------------------------------------------------------------------------------------
// Errors

/** An error with an HTTP status and an API error code, rendered as ErrorBody. */
export class ApiError extends Error {
  constructor(
    readonly statusCode: number,
    readonly code: string,
    message: string,
    readonly details?: unknown,
  ) {
    super(message);
    this.name = 'ApiError';
  }
}

interface AjvError {
  instancePath?: string;
  keyword?: string;
  message?: string;
  params?: Record<string, unknown>;
}

function describeValidation(context: string, errors: readonly AjvError[]): ErrorBody {
  const problems = errors.map((e) => {
    const segments = (e.instancePath ?? '').split('/').filter((s) => s !== '');
    const params = e.params ?? {};
    if (e.keyword === 'required' && typeof params.missingProperty === 'string') {
      segments.push(params.missingProperty);
    }
    if (e.keyword === 'additionalProperties' && typeof params.additionalProperty === 'string') {
      segments.push(params.additionalProperty);
    }
    const name = segments.join('.');
    let text: string;
    switch (e.keyword) {
      case 'required':
        text = 'is required';
        break;
      case 'additionalProperties':
        text = 'is not accepted here; remove it (check its spelling)';
        break;
      case 'enum':
        text = `must be one of: ${Array.isArray(params.allowedValues) ? params.allowedValues.join(', ') : '?'}`;
        break;
      case 'format':
        text =
          params.format === 'date-time'
            ? 'must be an ISO 8601 date-time such as 2026-01-31T09:00:00Z'
            : `must be a valid ${String(params.format)}`;
        break;
      case 'type':
        text = `must be ${params.type === 'integer' ? 'an integer' : params.type === 'object' ? 'a JSON object' : `a ${String(params.type)}`}`;
        break;
      default:
        text = e.message ?? 'is invalid';
    }
    return { parameter: name || null, message: text };
  });
  const first = problems[0] ?? { parameter: null, message: 'is invalid' };
  const where =
    context === 'querystring'
      ? first.parameter
        ? `Query parameter '${first.parameter}'`
        : 'The query string'
      : context === 'body'
        ? first.parameter
          ? `Body field '${first.parameter}'`
          : 'The request body'
        : first.parameter
          ? `${context} '${first.parameter}'`
          : `The ${context}`;
  return {
    error:
      context === 'querystring'
        ? 'invalid_parameter'
        : context === 'body'
          ? 'invalid_body'
          : 'invalid_request',
    message: `${where} ${first.message}.`,
    details: { in: context === 'querystring' ? 'query' : context, problems },
  };
}

function isFastifyError(e: unknown): e is FastifyError {
  return e instanceof Error;
}

const STATUS_CODES: Record<number, string> = {
  400: 'bad_request',
  401: 'unauthorized',
  403: 'forbidden',
  404: 'not_found',
  405: 'method_not_allowed',
  406: 'not_acceptable',
  413: 'payload_too_large',
  415: 'unsupported_media_type',
  422: 'unprocessable',
  429: 'too_many_requests',
  503: 'unavailable',
};

// ---------------------------------------------------------------------------------------
// Auth

function digest(token: string): Buffer {
  return createHash('sha256').update(token, 'utf8').digest();
}

type AuthResult = { role: Role } | { fail: 'missing' | 'scheme' | 'invalid' };

function makeAuthenticator(tokens: HttpAppOptions['tokens']): (header: string | undefined) => AuthResult {
  const configured: { role: Role; hash: Buffer }[] = [];
  // Admin first: if both roles were given the same token it grants admin.
  if (tokens.admin) configured.push({ role: 'admin', hash: digest(tokens.admin) });
  if (tokens.auditor) configured.push({ role: 'auditor', hash: digest(tokens.auditor) });
  return (header) => {
    if (header === undefined || header.trim() === '') return { fail: 'missing' };
    const match = /^(\S+)\s+(.+)$/.exec(header.trim());
    if (!match || match[1]!.toLowerCase() !== 'bearer') return { fail: 'scheme' };
    const presented = digest(match[2]!.trim());
    let role: Role | null = null;
    // Compare against every configured token (fixed-length hashes, constant time).
    for (const c of configured) {
      if (timingSafeEqual(presented, c.hash) && role === null) role = c.role;
    }
    return role ? { role } : { fail: 'invalid' };
  };
}

// ---------------------------------------------------------------------------------------
// Logging

// A child logger's redaction replaces its parent's, so this also repeats the usual secrets.
const REDACT_PATHS = [
  'secret',
  'password',
  'token',
  '*.secret',
  '*.password',
  '*.token',
  'authorization',
  'headers.authorization',
  'req.headers.authorization',
  'request.headers.authorization',
  'res.headers.authorization',
  '*.authorization',
  '*.headers.authorization',
  'tokens',
  '*.tokens',
];

/** Query parameters that look like credentials are masked in logged URLs. */
function maskUrl(url: string): string {
  return url.replace(/([?&](?:access_token|token|auth|key|secret)=)[^&]*/gi, '$1[redacted]');
}

interface LoggableRequest {
  method?: string;
  url?: string;
  ip?: string;
  host?: string;
  socket?: { remotePort?: number };
}

function requestSerializer(req: LoggableRequest): Record<string, unknown> {
  return {
    method: req.method,
    url: typeof req.url === 'string' ? maskUrl(req.url) : undefined,
    host: req.host,
    remoteAddress: req.ip,
    remotePort: req.socket?.remotePort,
  };
}

function isPinoLike(l: Logger | FastifyBaseLogger): l is FastifyBaseLogger {
  const probe = l as { level?: unknown; silent?: unknown };
  return typeof probe.level === 'string' && typeof probe.silent === 'function';
}

/** What a non-pino logger is given: requests reduced to safe fields, no headers. */
function sanitizeLogObject(obj: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(obj)) {
    if (k === 'authorization' || k === 'headers' || k === 'tokens') continue;
    if (k === 'req' && typeof v === 'object' && v !== null) out.req = requestSerializer(v as LoggableRequest);
    else if (k === 'res' && typeof v === 'object' && v !== null) {
      out.res = { statusCode: (v as { statusCode?: unknown }).statusCode };
    } else if (k === 'err' && v instanceof Error) out.err = { type: v.name, message: v.message };
    else out[k] = v;
  }
  return out;
}

/** Adapt a logger of the core's port shape to what fastify needs. */
function fromPortLogger(l: Logger): FastifyBaseLogger {
  const wrap =
    (fn: LogFn) =>
    (first: unknown, msg?: unknown): void => {
      if (typeof first === 'string') fn(first);
      else if (typeof first === 'object' && first !== null) {
        fn(sanitizeLogObject(first as Record<string, unknown>), typeof msg === 'string' ? msg : undefined);
      } else fn(String(first));
    };
  const adapted = {
    level: 'info',
    silent: () => {},
    trace: wrap(l.trace),
    debug: wrap(l.debug),
    info: wrap(l.info),
    warn: wrap(l.warn),
    error: wrap(l.error),
    fatal: wrap(l.fatal),
    child: (bindings: Record<string, unknown>) => fromPortLogger(l.child(bindings)),
  };
  return adapted as unknown as FastifyBaseLogger;
}

function httpLogger(logger: Logger | FastifyBaseLogger): FastifyBaseLogger {
  if (!isPinoLike(logger)) return fromPortLogger(logger);
  return logger.child(
    {},
    { redact: { paths: REDACT_PATHS, censor: '[redacted]' }, serializers: { req: requestSerializer } },
  );
}

// ---------------------------------------------------------------------------------------
// Response validation: every JSON response is checked against its route's schema.

const DATE_TIME = /^\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:\d{2}(?:\.\d+)?(?:[Zz]|[+-]\d{2}:?\d{2})$/;
if (!FormatRegistry.Has('date-time')) {
  FormatRegistry.Set('date-time', (v) => DATE_TIME.test(v) && !Number.isNaN(Date.parse(v)));
}

type ResponseSchemas = Record<number, TSchema>;

function responseValidator(schemas: ResponseSchemas): preSerializationAsyncHookHandler {
  const checks = new Map<number, ReturnType<typeof TypeCompiler.Compile>>();
  for (const [code, schema] of Object.entries(schemas))
    checks.set(Number(code), TypeCompiler.Compile(schema));
  return async (request, reply, payload) => {
    const check = checks.get(reply.statusCode);
    if (!check || check.Check(payload)) return payload;
    const first = check.Errors(payload).First();
    request.log.error(
      { statusCode: reply.statusCode, path: first?.path, problem: first?.message },
      'response does not match its schema',
    );
    throw new ApiError(500, 'internal_error', 'The gateway produced an invalid response; see its log.');
  };
}

// ---------------------------------------------------------------------------------------

const EXPORT_TYPES: Record<ExportFormat, { type: string; ext: string }> = {
  jsonl: { type: 'application/x-ndjson; charset=utf-8', ext: 'jsonl' },
  csv: { type: 'text/csv; charset=utf-8', ext: 'csv' },
  eml: { type: 'application/mbox', ext: 'mbox' },
};

function exportFilename(format: ExportFormat, now: Date): string {
  const stamp = now
    .toISOString()
    .replace(/\.\d+Z$/, 'Z')
    .replace(/[-:]/g, '');
  return `parley-audit-${stamp}.${EXPORT_TYPES[format].ext}`;
}

async function* prepend<T>(first: IteratorResult<T>, rest: AsyncIterator<T>): AsyncGenerator<T> {
  try {
    if (first.done) return;
    yield first.value;
    for (;;) {
      const r = await rest.next();
      if (r.done) return;
      yield r.value;
    }
  } finally {
    // Client went away or the stream ended: let the source release what it holds.
    await rest.return?.();
  }
}

function errorMessage(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

/**
 * Server-sent events from records: `record` events with the seq as id, and a comment line
 * whenever `heartbeatMs` pass without one (keeps proxies from closing an idle stream).
 */
async function* sseEvents(
  records: AsyncIterable<AuditRecord>,
  signal: AbortSignal,
  heartbeatMs: number,
): AsyncGenerator<string> {
  yield 'retry: 3000\n: parley audit stream\n\n';
  const it = records[Symbol.asyncIterator]();
  let pending = it.next();
  try {
    while (!signal.aborted) {
      let timer: NodeJS.Timeout | undefined;
      const tick = new Promise<'tick'>((r) => {
        timer = setTimeout(() => r('tick'), heartbeatMs);
      });
      const got = await Promise.race([pending, tick]);
      clearTimeout(timer);
      if (got === 'tick') {
        yield ': keep-alive\n\n';
        continue;
      }
      if (got.done) return;
      yield `id: ${got.value.seq}\nevent: record\ndata: ${JSON.stringify(got.value)}\n\n`;
      pending = it.next();
    }
  } finally {
    await it.return?.();
  }
}

/**
 * Build the admin HTTP app (not listening: the gateway calls `app.listen({ host, port })`).
 */
export async function buildHttpApp(opts: HttpAppOptions): Promise<FastifyInstance> {
  const { services } = opts;
  const bodyLimit = opts.bodyLimit ?? DEFAULT_BODY_LIMIT;
  const loggerInstance = opts.logger === false ? undefined : httpLogger(opts.logger);

  const app: FastifyInstance = Fastify({
    ...(loggerInstance ? { loggerInstance } : { logger: false }),
    bodyLimit,
    return503OnClosing: true,
    ajv: {
      // Reject unknown query parameters and body fields (a misspelt filter must not
      // silently widen an audit query) instead of dropping them.
      customOptions: { removeAdditional: false, coerceTypes: 'array', useDefaults: true, allErrors: false },
    },
  });

  const authenticate = makeAuthenticator(opts.tokens);
  if (!opts.tokens.admin && !opts.tokens.auditor) {
    app.log.warn(
      'no admin or auditor token is configured: every /api/v1 request will be refused (401); set http.tokens.admin and/or http.tokens.auditor',
    );
  } else {
    for (const role of ['admin', 'auditor'] as const) {
      const t = opts.tokens[role];
      if (!t) app.log.info({ role }, `no ${role} token configured: the ${role} role cannot sign in`);
      else if (t.length < 16) app.log.warn({ role }, `the ${role} token is shorter than 16 characters`);
    }
    if (opts.tokens.admin && opts.tokens.admin === opts.tokens.auditor) {
      app.log.warn('the admin and auditor tokens are equal: that token grants admin');
    }
  }

  const roles = new WeakMap<FastifyRequest, Role>();
  const roleOf = (req: FastifyRequest): Role => roles.get(req) ?? 'auditor';

  const requireRole = (allowed: readonly Role[]): onRequestAsyncHookHandler =>
    async function requireRoleHook(request, reply) {
      const r = authenticate(request.headers.authorization);
      if ('fail' in r) {
        request.log.warn({ reason: r.fail }, 'authentication failed');
        const challenge =
          r.fail === 'invalid' ? `Bearer realm="${REALM}", error="invalid_token"` : `Bearer realm="${REALM}"`;
        const message =
          r.fail === 'missing'
            ? 'This route needs a token: send `Authorization: Bearer <token>`.'
            : r.fail === 'scheme'
              ? 'Only bearer tokens are accepted: send `Authorization: Bearer <token>`.'
              : 'The bearer token is not valid; check the token configured for your role.';
        return reply.code(401).header('www-authenticate', challenge).send({ error: 'unauthorized', message });
      }
      if (!allowed.includes(r.role)) {
        request.log.warn({ role: r.role, route: request.routeOptions.url }, 'role not allowed');
        return reply
          .code(403)
          .header('www-authenticate', `Bearer realm="${REALM}", error="insufficient_scope"`)
          .send({
            error: 'forbidden',
            message: `The ${r.role} role may not do this; it needs the ${allowed.join(' or ')} role.`,
          });
      }
      roles.set(request, r.role);
    };
  const anyRole = requireRole(['admin', 'auditor']);
  const adminOnly = requireRole(['admin']);
  const validated = (schemas: ResponseSchemas) => responseValidator(schemas);

  /** Record an administrative action; `required` actions fail when the trail cannot take them. */
  const recordAdmin = async (
    request: FastifyRequest,
    action: string,
    details: Record<string, unknown>,
    required: boolean,
  ): Promise<void> => {
    try {
      await services.audit.recordAdmin(action, roleOf(request), details);
    } catch (e) {
      request.log.error({ action, problem: errorMessage(e) }, 'could not record an administrative action');
      if (required) {
        throw new ApiError(
          503,
          'audit_unavailable',
          `The ${action} was not performed because the audit trail could not record it; retry when the audit store is available (see /readyz).`,
        );
      }
    }
  };

  app.setErrorHandler((error: unknown, request: FastifyRequest, reply: FastifyReply) => {
    if (error instanceof ApiError) {
      const body: ErrorBody = { error: error.code, message: error.message };
      if (error.details !== undefined) body.details = error.details;
      if (error.statusCode >= 500) request.log.error({ code: error.code }, error.message);
      return reply.code(error.statusCode).send(body);
    }
    if (!isFastifyError(error)) {
      request.log.error({ problem: String(error) }, 'request failed');
      return reply.code(500).send({ error: 'internal_error', message: 'The gateway failed; see its log.' });
    }
    const validation = (error as FastifyError & { validation?: AjvError[] }).validation;
    if (validation) {
      return reply
        .code(400)
        .send(describeValidation(String(error.validationContext ?? 'request'), validation));
    }
    if (error.name === 'EventInputError') {
      const body: ErrorBody = { error: 'invalid_event', message: error.message };
      const extra = error as unknown as { path?: unknown; field?: unknown };
      const field =
        typeof extra.path === 'string' ? extra.path : typeof extra.field === 'string' ? extra.field : null;
      if (field !== null) body.details = { field };
      return reply.code(400).send(body);
    }
    const status = typeof error.statusCode === 'number' ? error.statusCode : 500;
    if (status === 413) {
      return reply.code(413).send({
        error: 'payload_too_large',
        message: `The request body is larger than ${bodyLimit} bytes; send a smaller body.`,
      });
    }
    if (status === 415) {
      return reply.code(415).send({
        error: 'unsupported_media_type',
        message: `Content-Type ${JSON.stringify(request.headers['content-type'] ?? '')} is not accepted here; see /api/v1/openapi.json for the accepted types.`,
      });
    }
    if (error.code === 'FST_ERR_CTP_INVALID_JSON_BODY' || (status === 400 && error instanceof SyntaxError)) {
      return reply
        .code(400)
        .send({ error: 'invalid_json', message: `The body is not valid JSON (${error.message}); fix it.` });
    }
    if (status >= 400 && status < 500) {
      return reply
        .code(status)
        .send({ error: STATUS_CODES[status] ?? 'bad_request', message: error.message });
    }
    request.log.error({ err: error }, 'request failed');
    return reply.code(500).send({
      error: 'internal_error',
      message: `The gateway failed to handle the request (id ${request.id}); see its log.`,
    });
  });

  app.setNotFoundHandler((request, reply) => {
    reply.code(404).send({
      error: 'not_found',
      message: `There is no route ${request.method} ${maskUrl(request.url.split('?')[0] ?? '')}; see ${API}/openapi.json for the routes.`,
    });
  });

  app.addHook('onSend', async (request, reply, payload) => {
    reply.header('x-request-id', request.id);
    if (request.url.startsWith(`${API}/`)) reply.header('cache-control', 'no-store');
    return payload;
  });

  await app.register(swagger, {
    openapi: {
      openapi: '3.1.0',
      info: {
        title: 'Parley admin API',
        version: '1.0.0',
        description:
          'Health, readiness, metrics, policy and audit routes of the Parley federation gateway. ' +
          '`/api/v1` routes need `Authorization: Bearer <token>`: the admin token may do everything; ' +
          'the auditor token may read (policy, what-if evaluation, policy validation, audit query, verify, export) ' +
          'but not change the running gateway (policy reload). Errors are JSON `{error, message, details?}`.',
      },
      tags: [
        { name: 'health', description: 'Probes and metrics (no token).' },
        { name: 'policy', description: 'The running policy.' },
        { name: 'audit', description: 'The tamper-evident audit trail.' },
        { name: 'retention', description: 'Retention and legal holds.' },
        { name: 'session', description: 'Console sign-in and sign-out (recorded in the trail).' },
      ],
      components: {
        securitySchemes: {
          bearerAuth: {
            type: 'http',
            scheme: 'bearer',
            description: 'The admin or auditor token from the `http.tokens` config.',
          },
        },
      },
    },
  });

  const security = [{ bearerAuth: [] }];

  // --- health ----------------------------------------------------------------------------

  app.get(
    '/healthz',
    {
      schema: {
        tags: ['health'],
        summary: 'Liveness',
        description: 'The process is alive. No token.',
        security: [],
        response: { 200: withDescription(HealthSchema, 'Alive.') },
      },
      preSerialization: validated({ 200: HealthSchema }),
    },
    async () => {
      services.health();
      return { status: 'ok' as const };
    },
  );

  const ready503 = withDescription(ReadyReportSchema, 'Not ready: the same report, naming what is down.');
  app.get(
    '/readyz',
    {
      schema: {
        tags: ['health'],
        summary: 'Readiness',
        description: "Each adapter's link and the store. 200 when ready, 503 (same body) when not. No token.",
        security: [],
        response: {
          200: withDescription(ReadyReportSchema, 'Ready: every link is up and the store answers.'),
          503: ready503,
        },
      },
      preSerialization: validated({ 200: ReadyReportSchema, 503: ReadyReportSchema }),
    },
    async (request, reply) => {
      try {
        const report = await services.readiness();
        return reply.code(report.ready ? 200 : 503).send(report);
      } catch (e) {
        request.log.error({ problem: errorMessage(e) }, 'readiness check failed');
        return reply.code(503).send({ ready: false, store: { ok: false, kind: 'unknown' }, adapters: {} });
      }
    },
  );

  app.get(
    '/metrics',
    {
      schema: {
        tags: ['health'],
        summary: 'Prometheus metrics',
        description: 'Prometheus text exposition format. No token.',
        security: [],
        response: {
          200: {
            description: 'Prometheus text exposition format.',
            content: { 'text/plain': { schema: Type.String() } },
          },
          500: E500,
        },
      },
    },
    async (_request, reply) => {
      const m = await services.metrics();
      return reply.type(m.contentType).send(m.body);
    },
  );

  // --- OpenAPI ---------------------------------------------------------------------------

  app.get(
    `${API}/openapi.json`,
    {
      onRequest: anyRole,
      schema: {
        tags: ['health'],
        summary: 'This OpenAPI document',
        description: 'Role: admin or auditor.',
        security,
        response: { 200: withDescription(OpenApiSchema, 'OpenAPI 3.1 document.'), ...authErrors },
      },
    },
    async () => app.swagger(),
  );

  // --- policy ----------------------------------------------------------------------------

  app.get(
    `${API}/policy`,
    {
      onRequest: anyRole,
      schema: {
        tags: ['policy'],
        summary: 'The running policy',
        description:
          'Name, version, file, rule count, the parsed document and the last failed reload. Role: admin or auditor.',
        security,
        response: { 200: withDescription(PolicyInfoSchema, 'The running policy.'), ...authErrors },
      },
      preSerialization: validated({ 200: PolicyInfoSchema }),
    },
    async () => services.policy.current(),
  );

  const policyRejected = withDescription(
    PolicyRejectedSchema,
    'The policy is invalid; `problems` says where (file, line, column, path) and what to change.',
  );

  await app.register(async (scope) => {
    // Policy text may come as YAML (or plain text); only this route accepts it.
    scope.addContentTypeParser([...YAML_TYPES], { parseAs: 'string' }, (_req, body, done) =>
      done(null, body),
    );
    const yamlBody = Type.String({ description: 'The policy YAML text.' });
    scope.post<{
      Querystring: Static<typeof ValidateQuerySchema>;
      Body: string | Static<typeof ValidateJsonBodySchema>;
    }>(
      `${API}/policy/validate`,
      {
        onRequest: anyRole,
        schema: {
          tags: ['policy'],
          summary: 'Check a policy text without loading it',
          description:
            'Send the YAML as `text/yaml` (optionally `?name=`), or JSON `{text, name?}`. 200 `{ok: true, rules}` ' +
            'or 422 with the problems. Nothing changes in the gateway. Role: admin or auditor (it is read-only: ' +
            'compliance officers check drafts).',
          security,
          querystring: ValidateQuerySchema,
          body: {
            content: {
              'application/json': { schema: ValidateJsonBodySchema },
              ...Object.fromEntries(YAML_TYPES.map((t) => [t, { schema: yamlBody }])),
            },
          },
          response: {
            200: withDescription(ValidateOkSchema, 'The policy is valid.'),
            400: E400,
            413: err('The body is too large.'),
            422: policyRejected,
            ...authErrors,
          },
        },
        preSerialization: validated({ 200: ValidateOkSchema, 422: PolicyRejectedSchema }),
      },
      async (request, reply) => {
        const body = request.body;
        const text = typeof body === 'string' ? body : body.text;
        const name = (typeof body === 'string' ? undefined : body.name) ?? request.query.name;
        const result = services.policy.validate(text, name);
        if (result.ok) return { ok: true as const, rules: result.rules };
        return reply.code(422).send({
          ok: false,
          error: 'invalid_policy',
          message: `The policy has ${result.problems.length} problem(s); fix them and validate again.`,
          problems: result.problems,
        });
      },
    );
  });

  app.post(
    `${API}/policy/reload`,
    {
      onRequest: adminOnly,
      schema: {
        tags: ['policy'],
        summary: 'Reload the policy file',
        description:
          'Re-read the policy file. 200 `{ok: true, version}`, or 422 with the problems: the running policy ' +
          'stays in force. Recorded in the audit trail (`policy.reload`). Role: admin only.',
        security,
        response: {
          200: withDescription(ReloadOkSchema, 'The new policy is in force.'),
          422: policyRejected,
          ...authErrors,
        },
      },
      preSerialization: validated({ 200: ReloadOkSchema, 422: PolicyRejectedSchema }),
    },
    async (request, reply) => {
      const result = await services.policy.reload();
      await recordAdmin(
        request,
        'policy.reload',
        result.ok
          ? { ok: true, version: result.version }
          : { ok: false, problems: result.problems.length, first: result.problems[0]?.message ?? null },
        false,
      );
      if (result.ok) return { ok: true as const, version: result.version };
      request.log.warn({ problems: result.problems.length }, 'policy reload rejected; the old policy stays');
      return reply.code(422).send({
        ok: false,
        error: 'invalid_policy',
        message: `The policy file has ${result.problems.length} problem(s); the running policy stays in force. Fix the file and reload again.`,
        problems: result.problems,
      });
    },
  );

  app.post<{ Body: Record<string, unknown> }>(
    `${API}/policy/eval`,
    {
      onRequest: anyRole,
      schema: {
        tags: ['policy'],
        summary: 'What-if: decide one event against the running policy',
        description:
          'Evaluates the event without delivering or auditing it, like `parley policy eval`. ' +
          '400 `invalid_event` names the offending field. Role: admin or auditor.',
        security,
        body: EvalBodySchema,
        response: {
          200: withDescription(DecisionSchema, 'The decision, as the pipeline would make it.'),
          400: E400,
          413: err('The body is too large.'),
          ...authErrors,
        },
      },
      preSerialization: validated({ 200: DecisionSchema }),
    },
    async (request) => services.policy.evaluate(request.body),
  );

  // --- audit -----------------------------------------------------------------------------

  app.get<{ Querystring: Static<typeof AuditQuerySchema> }>(
    `${API}/audit`,
    {
      onRequest: anyRole,
      schema: {
        tags: ['audit'],
        summary: 'Query audit records',
        description:
          'Newest first. Every filter given must hold. Page with `before` = the previous page’s `next`. A search in ' +
          'content (`q`) is recorded in the audit trail (`audit.search`, first page only); if that fails nothing is ' +
          'searched (503). Role: admin or auditor.',
        security,
        querystring: AuditQuerySchema,
        response: {
          200: withDescription(AuditPageSchema, 'A page of records, newest first.'),
          400: E400,
          503: err('The audit trail could not record the search.'),
          ...authErrors,
        },
      },
      preSerialization: validated({ 200: AuditPageSchema }),
    },
    async (request) => {
      const { before, limit, ...filter } = request.query;
      // Searching kept content is recorded (first page only: paging is the same search).
      if (filter.q !== undefined && before === undefined) {
        await recordAdmin(request, 'audit.search', { filter }, true);
      }
      return services.audit.query(filter, before ?? null, limit);
    },
  );

  app.get(
    `${API}/audit/verify`,
    {
      onRequest: anyRole,
      schema: {
        tags: ['audit'],
        summary: 'Verify the hash chain',
        description:
          'Recomputes the chain. Always 200 when the check ran: `ok: true` with the head, or `ok: false` naming ' +
          'the first record that does not match (`firstBad`) — a broken chain is a result, not a server error. ' +
          '503 when the audit store cannot be read. Recorded in the audit trail (`audit.verify`). Role: admin or auditor.',
        security,
        response: {
          200: withDescription(VerifyResultSchema, 'The check ran: `ok` says whether the chain is intact.'),
          503: err('The audit store could not be read.'),
          ...authErrors,
        },
      },
      preSerialization: validated({ 200: VerifyResultSchema }),
    },
    async (request) => {
      let result: Static<typeof VerifyResultSchema>;
      try {
        result = await services.audit.verify();
      } catch (e) {
        request.log.error({ problem: errorMessage(e) }, 'audit verify failed');
        throw new ApiError(
          503,
          'audit_unavailable',
          'The audit trail could not be read to verify it; retry when the audit store is available (see /readyz).',
        );
      }
      await recordAdmin(
        request,
        'audit.verify',
        result.ok
          ? { ok: true, records: result.records, head: result.head?.seq ?? null }
          : { ok: false, records: result.records, firstBad: result.firstBad },
        false,
      );
      if (!result.ok) request.log.warn({ firstBad: result.firstBad }, 'audit chain verification failed');
      return result;
    },
  );

  app.get<{ Querystring: Static<typeof ExportQuerySchema> }>(
    `${API}/audit/export`,
    {
      onRequest: anyRole,
      schema: {
        tags: ['audit'],
        summary: 'Export audit records',
        description:
          'Streams the records matching the filters, oldest first, as an attachment: `jsonl` ' +
          '(application/x-ndjson), `csv` (text/csv) or `eml` (application/mbox, one EML message per conversation). ' +
          'The export is recorded in the audit trail (`audit.export`) before it starts; if that fails nothing is ' +
          'exported (503). Role: admin or auditor.',
        security,
        querystring: ExportQuerySchema,
        response: {
          200: {
            description: 'The export, streamed; `Content-Disposition` names the file.',
            content: {
              'application/x-ndjson': { schema: Type.String() },
              'text/csv': { schema: Type.String() },
              'application/mbox': { schema: Type.String() },
            },
          },
          400: E400,
          503: err('The audit trail could not record or read the export.'),
          ...authErrors,
        },
      },
    },
    async (request, reply) => {
      const { format, ...filter } = request.query;
      await recordAdmin(request, 'audit.export', { format, filter }, true);
      const iterator = services.audit.export(format, filter)[Symbol.asyncIterator]();
      let first: IteratorResult<string>;
      try {
        first = await iterator.next();
      } catch (e) {
        request.log.error({ problem: errorMessage(e) }, 'audit export failed');
        throw new ApiError(
          503,
          'audit_unavailable',
          'The audit trail could not be read for the export; retry when the audit store is available (see /readyz).',
        );
      }
      const stream = Readable.from(prepend(first, iterator), { objectMode: false });
      stream.on('error', (e) =>
        request.log.error({ problem: errorMessage(e) }, 'audit export stream failed'),
      );
      return reply
        .type(EXPORT_TYPES[format].type)
        .header('content-disposition', `attachment; filename="${exportFilename(format, new Date())}"`)
        .send(stream);
    },
  );

  // --- compliance console, session, live stream, explain, retention ---------------------

  const consoleOn = opts.console ?? typeof services.audit.follow === 'function';
  if (consoleOn) {
    registerConsole(app);

    const SessionSchema = Type.Object(
      {
        role: Type.Union([Type.Literal('admin'), Type.Literal('auditor')]),
        features: Type.Object(
          {
            explain: Type.Boolean({ description: '`POST /api/v1/policy/explain` is offered.' }),
            stream: Type.Boolean({ description: '`GET /api/v1/audit/stream` is offered.' }),
            retention: Type.Boolean({ description: 'Legal holds and trimming are offered.' }),
          },
          { additionalProperties: false },
        ),
      },
      { additionalProperties: false },
    );
    const clientOf = (request: FastifyRequest): string => {
      const c = request.headers['x-parley-client'];
      return typeof c === 'string' && /^[\w.-]{1,64}$/.test(c) ? c : 'api';
    };

    app.post(
      `${API}/session`,
      {
        onRequest: anyRole,
        schema: {
          tags: ['session'],
          summary: 'Sign in (check a token)',
          description:
            'Answers the role the bearer token grants and the optional features offered, and records the sign-in ' +
            'in the audit trail (`session.sign-in`, with the client named by the `X-Parley-Client` header). If the ' +
            'trail cannot record it the sign-in fails (503). Role: admin or auditor.',
          security,
          response: {
            200: withDescription(SessionSchema, 'Signed in.'),
            503: err('The audit trail could not record the sign-in.'),
            ...authErrors,
          },
        },
        preSerialization: validated({ 200: SessionSchema }),
      },
      async (request) => {
        await recordAdmin(request, 'session.sign-in', { client: clientOf(request) }, true);
        return {
          role: roleOf(request),
          features: {
            explain: typeof services.policy.explain === 'function',
            stream: typeof services.audit.follow === 'function',
            retention: services.retention !== undefined,
          },
        };
      },
    );

    app.delete(
      `${API}/session`,
      {
        onRequest: anyRole,
        schema: {
          tags: ['session'],
          summary: 'Sign out',
          description:
            'Records the sign-out (`session.sign-out`); the client then forgets its token (tokens are configured, ' +
            'not issued, so nothing is revoked). 204. Role: admin or auditor.',
          security,
          response: { 204: { description: 'Signed out.', type: 'null' }, ...authErrors },
        },
      },
      async (request, reply) => {
        await recordAdmin(request, 'session.sign-out', { client: clientOf(request) }, false);
        return reply.code(204).send();
      },
    );
  }

  const explain = services.policy.explain?.bind(services.policy);
  if (explain) {
    app.post<{ Body: Record<string, unknown> }>(
      `${API}/policy/explain`,
      {
        onRequest: anyRole,
        schema: {
          tags: ['policy'],
          summary: 'What-if with reasons: every rule’s verdict on one event',
          description:
            'Like `policy/eval`, and for every rule in file order whether it matched and why (each clause in ' +
            'plain words), like `parley policy explain`. Nothing is delivered or audited. Role: admin or auditor.',
          security,
          body: EvalBodySchema,
          response: {
            200: withDescription(
              ExplanationSchema,
              'The classification, each rule’s verdict and the decision.',
            ),
            400: E400,
            413: err('The body is too large.'),
            ...authErrors,
          },
        },
        preSerialization: validated({ 200: ExplanationSchema }),
      },
      async (request) => explain(request.body),
    );
  }

  const follow = services.audit.follow?.bind(services.audit);
  if (follow) {
    const StreamQuerySchema = Type.Object(
      {
        ...FilterProperties,
        after: Type.Optional(
          Type.Integer({
            minimum: 0,
            description:
              'Send records with a larger sequence number (default: the `Last-Event-ID` header, else only records appended from now on).',
          }),
        ),
      },
      { additionalProperties: false },
    );
    const heartbeatMs = opts.streamHeartbeatMs ?? 15_000;
    const open = new Set<AbortController>();
    // A live stream never ends by itself: end them all when the server closes.
    app.addHook('preClose', async () => {
      for (const c of open) c.abort();
    });
    app.get<{ Querystring: Static<typeof StreamQuerySchema> }>(
      `${API}/audit/stream`,
      {
        onRequest: anyRole,
        schema: {
          tags: ['audit'],
          summary: 'Live audit records (server-sent events)',
          description:
            'A `text/event-stream`: each new record matching the filters as an event `record` (`id` = seq, ' +
            '`data` = the record as JSON), and a comment line every 15 s while idle. Reconnecting clients send ' +
            '`Last-Event-ID` and miss nothing that is still kept. Role: admin or auditor.',
          security,
          querystring: StreamQuerySchema,
          response: {
            200: {
              description: 'The event stream.',
              content: { 'text/event-stream': { schema: Type.String() } },
            },
            400: E400,
            ...authErrors,
          },
        },
      },
      async (request, reply) => {
        const { after, ...filter } = request.query;
        const lastId = Number(request.headers['last-event-id']);
        const from = after ?? (Number.isInteger(lastId) && lastId >= 0 ? lastId : null);
        const controller = new AbortController();
        open.add(controller);
        const done = () => {
          controller.abort();
          open.delete(controller);
        };
        request.raw.on('close', done);
        const stream = Readable.from(
          sseEvents(follow(filter, from, controller.signal), controller.signal, heartbeatMs),
          { objectMode: false },
        );
        stream.on('close', done);
        stream.on('error', (e) => request.log.warn({ problem: errorMessage(e) }, 'audit stream failed'));
        // `connection: close`: a stream ended by the server (shutdown) must not leave a
        // keep-alive socket that holds the server open.
        return reply
          .type('text/event-stream; charset=utf-8')
          .header('x-accel-buffering', 'no')
          .header('connection', 'close')
          .send(stream);
      },
    );
  }

  const retention = services.retention;
  if (retention) {
    const HoldListSchema = Type.Object(
      {
        retentionDays: Type.Union([Type.Number({ minimum: 0 }), Type.Null()], {
          description: '`audit.retentionDays` (null: records are kept forever).',
        }),
        holds: Type.Array(LegalHoldSchema),
      },
      { additionalProperties: false },
    );
    const HoldParamsSchema = Type.Object(
      { id: Type.String({ minLength: 1, maxLength: 128 }) },
      { additionalProperties: false },
    );

    app.get(
      `${API}/holds`,
      {
        onRequest: anyRole,
        schema: {
          tags: ['retention'],
          summary: 'Legal holds and the retention period',
          description: 'Every hold in force, oldest first. Role: admin or auditor.',
          security,
          response: { 200: withDescription(HoldListSchema, 'The holds.'), ...authErrors },
        },
        preSerialization: validated({ 200: HoldListSchema }),
      },
      async () => ({ retentionDays: retention.retentionDays(), holds: await retention.listHolds() }),
    );

    app.post<{ Body: Static<typeof LegalHoldInputSchema> }>(
      `${API}/holds`,
      {
        onRequest: adminOnly,
        schema: {
          tags: ['retention'],
          summary: 'Set a legal hold',
          description:
            'Records matching every criterion given (user, domain, from/to) are never trimmed while the hold is in ' +
            'force. At least one criterion and a reason are needed. Recorded in the audit trail (`hold.set`); if ' +
            'the trail cannot record it the hold is not set (503). 201 with the hold. Role: admin only.',
          security,
          body: LegalHoldInputSchema,
          response: {
            201: withDescription(LegalHoldSchema, 'The hold is in force.'),
            400: E400,
            503: err('The audit trail could not record the hold.'),
            ...authErrors,
          },
        },
        preSerialization: validated({ 201: LegalHoldSchema }),
      },
      async (request, reply) => {
        let hold: Static<typeof LegalHoldSchema>;
        try {
          hold = await retention.setHold(request.body, roleOf(request));
        } catch (e) {
          if (e instanceof RangeError)
            throw new ApiError(400, 'invalid_body', `The hold is not valid: ${e.message}.`);
          throw e;
        }
        try {
          await services.audit.recordAdmin('hold.set', roleOf(request), { hold });
        } catch (e) {
          request.log.error({ problem: errorMessage(e) }, 'could not record a legal hold; releasing it');
          await retention.releaseHold(hold.id).catch(() => {});
          throw new ApiError(
            503,
            'audit_unavailable',
            'The hold was not set because the audit trail could not record it; retry when the audit store is available (see /readyz).',
          );
        }
        return reply.code(201).send(hold);
      },
    );

    app.delete<{ Params: Static<typeof HoldParamsSchema> }>(
      `${API}/holds/:id`,
      {
        onRequest: adminOnly,
        schema: {
          tags: ['retention'],
          summary: 'Release a legal hold',
          description:
            'The records it covered are trimmed by the next trim if they are past retention. Recorded in the audit ' +
            'trail (`hold.release`) before it is released; if that fails nothing is released (503). Role: admin only.',
          security,
          params: HoldParamsSchema,
          response: {
            200: withDescription(LegalHoldSchema, 'The released hold.'),
            404: err('There is no hold with this id.'),
            503: err('The audit trail could not record the release.'),
            ...authErrors,
          },
        },
        preSerialization: validated({ 200: LegalHoldSchema }),
      },
      async (request) => {
        const { id } = request.params;
        const hold = (await retention.listHolds()).find((h) => h.id === id);
        if (!hold) throw new ApiError(404, 'not_found', `There is no legal hold ${JSON.stringify(id)}.`);
        await recordAdmin(request, 'hold.release', { hold }, true);
        const released = await retention.releaseHold(id);
        if (!released) throw new ApiError(404, 'not_found', `There is no legal hold ${JSON.stringify(id)}.`);
        return released;
      },
    );

    app.post(
      `${API}/audit/trim`,
      {
        onRequest: adminOnly,
        schema: {
          tags: ['retention', 'audit'],
          summary: 'Trim records past retention now',
          description:
            'Deletes records older than `audit.retentionDays` that no legal hold covers (the gateway also does ' +
            'this every hour). The chain stays verifiable: the store anchors the record before the first kept ' +
            'one. Recorded in the audit trail (`audit.trim`, with the report). Role: admin only.',
          security,
          response: {
            200: withDescription(TrimReportSchema, 'What was trimmed and kept.'),
            503: err('The audit store could not be trimmed.'),
            ...authErrors,
          },
        },
        preSerialization: validated({ 200: TrimReportSchema }),
      },
      async (request) => {
        let report: Static<typeof TrimReportSchema>;
        try {
          report = await retention.trim();
        } catch (e) {
          request.log.error({ problem: errorMessage(e) }, 'audit trim failed');
          throw new ApiError(503, 'audit_unavailable', 'The audit store could not be trimmed; retry later.');
        }
        await recordAdmin(request, 'audit.trim', { ...report }, false);
        return report;
      },
    );
  }

  return app;
}
