// API errors: one error body shape ({error, message, details?}), one table of codes, and
// the error and not-found handlers that render every failure in it.
import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
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

export function isFastifyError(e: unknown): e is FastifyError {
  return e instanceof Error;
}

export const STATUS_CODES: Record<number, string> = {
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

/**
 * Render every failure as an ErrorBody: API errors, request validation (naming the
 * parameter), bodies too large for the route, bad JSON, and unknown routes. No stack traces.
 */
export function installErrorHandlers(app: FastifyInstance, bodyLimit: number): void {
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
        message: `The request body is larger than ${request.routeOptions.bodyLimit ?? bodyLimit} bytes; send a smaller body.`,
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
    reply
      .code(404)
      .header('cache-control', 'no-store')
      .send({
        error: 'not_found',
        message: `There is no route ${request.method} ${maskUrl(request.url.split('?')[0] ?? '')}; see /api/v1/openapi.json (no token needed) for the routes.`,
      });
  });
}
