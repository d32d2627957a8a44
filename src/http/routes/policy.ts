// The policy routes: the running policy, validation of drafts, reload (admin), and the
// what-if routes (eval, explain) that decide an event without delivering or auditing it.
import { type Static, Type } from '@sinclair/typebox';
import type { FastifyInstance } from 'fastify';
import {
  authErrors,
  E400,
  EvalBodySchema,
  err,
  PolicyRejectedSchema,
  ReloadOkSchema,
  security,
  ValidateJsonBodySchema,
  ValidateOkSchema,
  ValidateQuerySchema,
  withDescription,
  YAML_TYPES,
} from '../schemas.js';
import { DecisionSchema, ExplanationSchema, PolicyInfoSchema } from '../services.js';
import type { RouteContext } from './context.js';

/** Largest policy text `POST /api/v1/policy/validate` reads (256 KiB; less when `http.bodyLimit` is less). */
export const VALIDATE_BODY_LIMIT = 256 * 1024;

export async function policyRoutes(api: FastifyInstance, ctx: RouteContext): Promise<void> {
  const { services, recordAdmin, bodyLimit } = ctx;
  api.get(
    `/policy`,
    {
      schema: {
        tags: ['policy'],
        summary: 'The running policy',
        description:
          'Name, version, file, rule count, the parsed document and the last failed reload. Role: admin or auditor.',
        security,
        response: { 200: withDescription(PolicyInfoSchema, 'The running policy.'), ...authErrors },
      },
    },
    async () => services.policy.current(),
  );

  const policyRejected = withDescription(
    PolicyRejectedSchema,
    'The policy is invalid; `problems` says where (file, line, column, path) and what to change.',
  );

  await api.register(async (scope) => {
    // Policy text may come as YAML (or plain text); only this route accepts it.
    scope.addContentTypeParser([...YAML_TYPES], { parseAs: 'string' }, (_req, body, done) =>
      done(null, body),
    );
    const yamlBody = Type.String({ description: 'The policy YAML text.' });
    scope.post<{
      Querystring: Static<typeof ValidateQuerySchema>;
      Body: string | Static<typeof ValidateJsonBodySchema>;
    }>(
      `/policy/validate`,
      {
        // A policy is a few KiB; a large body only buys parse and check work.
        bodyLimit: Math.min(VALIDATE_BODY_LIMIT, bodyLimit),
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

  api.post<{ Body: Record<string, unknown> }>(
    `/policy/eval`,
    {
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
    },
    async (request) => services.policy.evaluate(request.body),
  );

  const explain = services.policy.explain?.bind(services.policy);
  if (explain) {
    api.post<{ Body: Record<string, unknown> }>(
      `/policy/explain`,
      {
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
      },
      async (request) => explain(request.body),
    );
  }

  await ctx.adminScope(api, (admin) => {
    admin.post(
      `/policy/reload`,
      {
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
      },
      async (request, reply) => {
        const result = await services.policy.reload();
        await recordAdmin(
          request,
          'policy.reload',
          result.record ??
            (result.ok
              ? { ok: true, version: result.version }
              : { ok: false, problems: result.problems.length, first: result.problems[0]?.message ?? null }),
          false,
        );
        if (result.ok) return { ok: true as const, version: result.version };
        request.log.warn(
          { problems: result.problems.length },
          'policy reload rejected; the old policy stays',
        );
        return reply.code(422).send({
          ok: false,
          error: 'invalid_policy',
          message: `The policy file has ${result.problems.length} problem(s); the running policy stays in force. Fix the file and reload again.`,
          problems: result.problems,
        });
      },
    );
  });
}
