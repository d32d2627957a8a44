// Retention: legal holds (auditors list them, admins set and release them) and trimming
// records past retention (admin). Every change is recorded in the audit trail.
import { type Static, Type } from '@sinclair/typebox';
import type { FastifyInstance } from 'fastify';
import { ApiError } from '../errors.js';
import { roleOf } from '../plugins/auth.js';
import { authErrors, E400, err, security, withDescription } from '../schemas.js';
import { LegalHoldInputSchema, LegalHoldSchema, TrimReportSchema } from '../services.js';
import { errorMessage, type RouteContext } from './context.js';

export async function retentionRoutes(api: FastifyInstance, ctx: RouteContext): Promise<void> {
  const { services, recordAdmin } = ctx;
  const retention = services.retention;
  if (!retention) return;
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

  api.get(
    `/holds`,
    {
      schema: {
        tags: ['retention'],
        summary: 'Legal holds and the retention period',
        description: 'Every hold in force, oldest first. Role: admin or auditor.',
        security,
        response: { 200: withDescription(HoldListSchema, 'The holds.'), ...authErrors },
      },
    },
    async () => ({ retentionDays: retention.retentionDays(), holds: await retention.listHolds() }),
  );

  await ctx.adminScope(api, (admin) => {
    admin.post<{ Body: Static<typeof LegalHoldInputSchema> }>(
      `/holds`,
      {
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

    admin.delete<{ Params: Static<typeof HoldParamsSchema> }>(
      `/holds/:id`,
      {
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

    admin.post(
      `/audit/trim`,
      {
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
  });
}
