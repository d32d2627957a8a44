// API errors: one error body shape ({error, message, details?}), one table of codes, and
// the error and not-found handlers that render every failure in it.
import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { EventInputError } from '../core/policy/event-input.js';
import { maskUrl } from './logging.js';
import type { ErrorBody } from './schemas.js';

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

export interface AjvError {
  instancePath?: string;
  keyword?: string;
  message?: string;
  params?: Record<string, unknown>;
}

/** A request that fails its schema: a query parameter, a body field, or another part. */
function validationKind(context: string): ErrorKind {
  return context === 'querystring'
    ? 'invalidParameter'
    : context === 'body'
      ? 'invalidBody'
      : 'invalidRequest';
}

export function describeValidation(context: string, errors: readonly AjvError[]): ErrorBody {
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
    error: ERROR_KINDS[validationKind(context)].code,
    message: `${where} ${first.message}.`,
    details: { in: context === 'querystring' ? 'query' : context, problems },
  };
}

export function isFastifyError(e: unknown): e is FastifyError {
  return e instanceof Error;
}

/**
 * The one table of error codes: each kind of failure the API renders, with its HTTP status
 * and the `error` code of its body. An ApiError names its own status and code. For a status
 * that several kinds share, the first kind listed is the plain one (see codeOfStatus).
 */
export const ERROR_KINDS = {
  badRequest: { status: 400, code: 'bad_request' },
  invalidParameter: { status: 400, code: 'invalid_parameter' },
  invalidBody: { status: 400, code: 'invalid_body' },
  invalidRequest: { status: 400, code: 'invalid_request' },
  invalidEvent: { status: 400, code: 'invalid_event' },
  invalidJson: { status: 400, code: 'invalid_json' },
  unauthorized: { status: 401, code: 'unauthorized' },
  forbidden: { status: 403, code: 'forbidden' },
  notFound: { status: 404, code: 'not_found' },
  methodNotAllowed: { status: 405, code: 'method_not_allowed' },
  notAcceptable: { status: 406, code: 'not_acceptable' },
  payloadTooLarge: { status: 413, code: 'payload_too_large' },
  unsupportedMediaType: { status: 415, code: 'unsupported_media_type' },
  unprocessable: { status: 422, code: 'unprocessable' },
  tooManyRequests: { status: 429, code: 'too_many_requests' },
  internal: { status: 500, code: 'internal_error' },
} as const satisfies Record<string, { status: number; code: string }>;

export type ErrorKind = keyof typeof ERROR_KINDS;

const PLAIN_BY_STATUS = new Map<number, string>();
for (const { status, code } of Object.values(ERROR_KINDS)) {
  if (!PLAIN_BY_STATUS.has(status)) PLAIN_BY_STATUS.set(status, code);
}

/** The code of a client error Fastify raised (no more specific kind applies), by its status. */
export function codeOfStatus(status: number): string {
  return PLAIN_BY_STATUS.get(status) ?? ERROR_KINDS.badRequest.code;
}

interface ErrorClass {
  kind: ErrorKind;
  /** The body's details for this error, or undefined; null when `error` is not of this class. */
  match(error: Error): { details: unknown } | null;
}

function byClass<E extends Error>(
  type: abstract new (...args: never[]) => E,
  kind: ErrorKind,
  details: (error: E) => unknown = () => undefined,
): ErrorClass {
  return { kind, match: (error) => (error instanceof type ? { details: details(error) } : null) };
}

/** The error classes the services throw for bad input, matched with instanceof. */
const ERROR_CLASSES: readonly ErrorClass[] = [
  byClass(EventInputError, 'invalidEvent', (e) => (e.field === undefined ? undefined : { field: e.field })),
];

/** An ErrorBody of a kind in the table; details only when there are some. */
function bodyOf(kind: ErrorKind, message: string, details?: unknown): ErrorBody {
  const body: ErrorBody = { error: ERROR_KINDS[kind].code, message };
  if (details !== undefined) body.details = details;
  return body;
}

/**
 * Render every failure as an ErrorBody: API errors, request validation (naming the
 * parameter), bodies too large for the route, bad JSON, and unknown routes. No stack traces.
 */
export function installErrorHandlers(app: FastifyInstance, bodyLimit: number): void {
  const send = (reply: FastifyReply, kind: ErrorKind, message: string, details?: unknown) =>
    reply.code(ERROR_KINDS[kind].status).send(bodyOf(kind, message, details));

  app.setErrorHandler((error: unknown, request: FastifyRequest, reply: FastifyReply) => {
    if (error instanceof ApiError) {
      const body: ErrorBody = { error: error.code, message: error.message };
      if (error.details !== undefined) body.details = error.details;
      if (error.statusCode >= 500) request.log.error({ code: error.code }, error.message);
      return reply.code(error.statusCode).send(body);
    }
    if (!isFastifyError(error)) {
      request.log.error({ problem: String(error) }, 'request failed');
      return send(reply, 'internal', 'The gateway failed; see its log.');
    }
    const validation = (error as FastifyError & { validation?: AjvError[] }).validation;
    if (validation) {
      const context = String(error.validationContext ?? 'request');
      return reply
        .code(ERROR_KINDS[validationKind(context)].status)
        .send(describeValidation(context, validation));
    }
    for (const c of ERROR_CLASSES) {
      const hit = c.match(error);
      if (hit) return send(reply, c.kind, error.message, hit.details);
    }
    const status = typeof error.statusCode === 'number' ? error.statusCode : 500;
    if (status === ERROR_KINDS.payloadTooLarge.status) {
      return send(
        reply,
        'payloadTooLarge',
        `The request body is larger than ${request.routeOptions.bodyLimit ?? bodyLimit} bytes; send a smaller body.`,
      );
    }
    if (status === ERROR_KINDS.unsupportedMediaType.status) {
      return send(
        reply,
        'unsupportedMediaType',
        `Content-Type ${JSON.stringify(request.headers['content-type'] ?? '')} is not accepted here; see /api/v1/openapi.json for the accepted types.`,
      );
    }
    if (error.code === 'FST_ERR_CTP_INVALID_JSON_BODY' || (status === 400 && error instanceof SyntaxError)) {
      return send(reply, 'invalidJson', `The body is not valid JSON (${error.message}); fix it.`);
    }
    if (status >= 400 && status < 500) {
      return reply.code(status).send({ error: codeOfStatus(status), message: error.message });
    }
    request.log.error({ err: error }, 'request failed');
    return send(
      reply,
      'internal',
      `The gateway failed to handle the request (id ${request.id}); see its log.`,
    );
  });

  app.setNotFoundHandler((request, reply) => {
    reply.header('cache-control', 'no-store');
    send(
      reply,
      'notFound',
      `There is no route ${request.method} ${maskUrl(request.url.split('?')[0] ?? '')}; see /api/v1/openapi.json (no token needed) for the routes.`,
    );
  });
}
