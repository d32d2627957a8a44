// Probes, metrics and the OpenAPI document: the routes that need no token.
import { Type } from '@sinclair/typebox';
import type { FastifyInstance } from 'fastify';
import { E500, HealthSchema, OpenApiSchema, withDescription } from '../schemas.js';
import { ReadyReportSchema } from '../services.js';
import { errorMessage, type RouteContext } from './context.js';

/** GET /healthz, /readyz and /metrics. */
export async function healthRoutes(api: FastifyInstance, { services }: RouteContext): Promise<void> {
  api.get(
    '/healthz',
    {
      schema: {
        tags: ['health'],
        summary: 'Liveness',
        description: 'The process is alive. No token.',
        security: [],
        response: { 200: withDescription(HealthSchema, 'Alive.') },
      },
    },
    async () => {
      services.health();
      return { status: 'ok' as const };
    },
  );

  const ready503 = withDescription(ReadyReportSchema, 'Not ready: the same report, naming what is down.');
  api.get(
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

  api.get(
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
}

/** GET /openapi.json (in the /api/v1 scope, outside its auth). */
export async function openApiRoute(api: FastifyInstance): Promise<void> {
  api.get(
    `/openapi.json`,
    {
      schema: {
        tags: ['health'],
        summary: 'This OpenAPI document',
        description: 'No token: it describes the routes, not the data behind them.',
        security: [],
        response: { 200: withDescription(OpenApiSchema, 'OpenAPI 3.1 document.') },
      },
    },
    async () => api.swagger(),
  );
}
