// Console sign-in and sign-out: both recorded in the audit trail.
import { Type } from '@sinclair/typebox';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { roleOf } from '../plugins/auth.js';
import { authErrors, err, security, withDescription } from '../schemas.js';
import type { RouteContext } from './context.js';

export async function sessionRoutes(
  api: FastifyInstance,
  { services, recordAdmin }: RouteContext,
): Promise<void> {
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

  api.post(
    `/session`,
    {
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

  api.delete(
    `/session`,
    {
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
