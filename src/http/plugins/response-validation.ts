// Every JSON response is checked against its route's response schema for its status code:
// the checks are compiled once per route when it is registered (onRoute), so a route only
// declares its schemas. A response that breaks its schema is a 500, never garbage.
import { FormatRegistry, Kind, type TSchema } from '@sinclair/typebox';
import { type TypeCheck, TypeCompiler } from '@sinclair/typebox/compiler';
import type { FastifyInstance, preSerializationAsyncHookHandler } from 'fastify';
import { ApiError } from '../errors.js';

const DATE_TIME = /^\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:\d{2}(?:\.\d+)?(?:[Zz]|[+-]\d{2}:?\d{2})$/;
if (!FormatRegistry.Has('date-time')) {
  FormatRegistry.Set('date-time', (v) => DATE_TIME.test(v) && !Number.isNaN(Date.parse(v)));
}

const isTypeBox = (s: unknown): s is TSchema => typeof s === 'object' && s !== null && Kind in s;

function validator(checks: Map<number, TypeCheck<TSchema>>): preSerializationAsyncHookHandler {
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

/** Add the check to every route registered from now on in `app` and its child scopes. */
export function responseValidation(app: FastifyInstance): void {
  app.addHook('onRoute', (route) => {
    const responses = (route.schema as { response?: Record<string, unknown> } | undefined)?.response;
    if (!responses) return;
    const checks = new Map<number, TypeCheck<TSchema>>();
    for (const [code, schema] of Object.entries(responses)) {
      // Streamed responses (`content` by media type) and empty ones are not JSON objects.
      if (/^\d{3}$/.test(code) && isTypeBox(schema)) checks.set(Number(code), TypeCompiler.Compile(schema));
    }
    if (checks.size === 0) return;
    const hook = validator(checks);
    const existing = route.preSerialization;
    route.preSerialization = existing === undefined ? [hook] : [...[existing].flat(), hook];
  });
}
