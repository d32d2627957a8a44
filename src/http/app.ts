// The admin HTTP surface: health, readiness, metrics and the /api/v1 admin and audit
// routes with bearer-token auth (roles admin and auditor) and an OpenAPI document
// generated from the same TypeBox schemas that validate every request and response.
// It reaches the gateway only through AdminServices.
//
// Shape: every /api/v1 route lives in one fastify scope (prefix /api/v1) whose hooks
// authenticate and set `Cache-Control: no-store` for whichever route matched — never by
// looking at the URL text, which the router decodes (`/%61pi/v1/audit` is `/api/v1/audit`).
// Admin-only routes sit in a child scope; the routes are in routes/*.ts.
import swagger from '@fastify/swagger';
import Fastify, { type FastifyBaseLogger, type FastifyInstance, type FastifyRequest } from 'fastify';
import type { Logger } from '../core/logger.js';
import { registerConsole } from './console/serve.js';
import { ApiError, installErrorHandlers } from './errors.js';
import { httpLogger } from './logging.js';
import { apiAuth, roleOf, type Tokens } from './plugins/auth.js';
import { responseValidation } from './plugins/response-validation.js';
import { recordRoutes } from './plugins/route-list.js';
import { auditRoutes } from './routes/audit.js';
import { errorMessage, type RouteContext } from './routes/context.js';
import { healthRoutes, openApiRoute } from './routes/health.js';
import { policyRoutes } from './routes/policy.js';
import { retentionRoutes } from './routes/retention.js';
import { sessionRoutes } from './routes/session.js';
import type { AdminServices } from './services.js';

export { ApiError } from './errors.js';
export type { Role } from './plugins/auth.js';
export { registeredRoutes } from './plugins/route-list.js';
export { type ErrorBody, ErrorSchema } from './schemas.js';

/**
 * How long a client may take and how many may connect (the `http` config section). A
 * client that sends its request slowly is cut off; connections past the cap are closed at once.
 */
export interface HttpLimits {
  /** Time to receive a whole request, headers and body, ms (default 30 s); then 408 and close. */
  requestTimeoutMs?: number;
  /** Time to receive the request headers, ms (default 10 s; at most requestTimeoutMs). */
  headersTimeoutMs?: number;
  /** How long an idle keep-alive connection is kept for the next request, ms (default 5 s). */
  keepAliveTimeoutMs?: number;
  /** A connection with no traffic either way for this long is closed, ms (default 120 s). */
  idleTimeoutMs?: number;
  /** Open connections at most (default 1024); a connection past the cap is closed at once. */
  maxConnections?: number;
}

export const DEFAULT_LIMITS: Required<HttpLimits> = {
  requestTimeoutMs: 30_000,
  headersTimeoutMs: 10_000,
  keepAliveTimeoutMs: 5_000,
  idleTimeoutMs: 120_000,
  maxConnections: 1024,
};

export interface HttpAppOptions {
  services: AdminServices;
  /** Bearer tokens; a role whose token is unset (or empty) cannot sign in. */
  tokens: Tokens;
  /**
   * A pino logger (or any logger of the core's port shape); false for none. Authorization
   * headers are redacted either way.
   */
  logger: Logger | FastifyBaseLogger | false;
  /** Largest accepted request body in bytes (default 1 MiB). */
  bodyLimit?: number;
  /** Timeouts and the connection cap (defaults: DEFAULT_LIMITS). */
  limits?: HttpLimits;
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

/**
 * Build the admin HTTP app (not listening: the gateway calls `app.listen({ host, port })`).
 */
export async function buildHttpApp(opts: HttpAppOptions): Promise<FastifyInstance> {
  const { services } = opts;
  const bodyLimit = opts.bodyLimit ?? DEFAULT_BODY_LIMIT;
  const loggerInstance = opts.logger === false ? undefined : httpLogger(opts.logger);
  const limits = { ...DEFAULT_LIMITS };
  // Only the known keys: the gateway passes its whole `http` config section.
  for (const key of Object.keys(DEFAULT_LIMITS) as (keyof HttpLimits)[]) {
    const v = opts.limits?.[key];
    if (v !== undefined) limits[key] = v;
  }
  const headersTimeout = Math.min(limits.headersTimeoutMs, limits.requestTimeoutMs);

  const app: FastifyInstance = Fastify({
    ...(loggerInstance ? { loggerInstance } : { logger: false }),
    bodyLimit,
    return503OnClosing: true,
    // Without these a client that trickles its request holds its connection forever.
    requestTimeout: limits.requestTimeoutMs,
    connectionTimeout: limits.idleTimeoutMs,
    keepAliveTimeout: limits.keepAliveTimeoutMs,
    http: {
      headersTimeout,
      requestTimeout: limits.requestTimeoutMs,
      // Node enforces the two timeouts above on this interval (default 30 s).
      connectionsCheckingInterval: Math.max(25, Math.min(1000, Math.floor(headersTimeout / 4))),
    },
    ajv: {
      // Reject unknown query parameters and body fields (a misspelt filter must not
      // silently widen an audit query) instead of dropping them.
      customOptions: { removeAdditional: false, coerceTypes: 'array', useDefaults: true, allErrors: false },
    },
  });
  app.server.maxConnections = limits.maxConnections;
  recordRoutes(app);
  responseValidation(app);

  if (!opts.tokens.admin && !opts.tokens.auditor) {
    app.log.warn(
      'no admin or auditor token is configured: every /api/v1 request will be refused (401); set PARLEY_ADMIN_TOKEN (and PARLEY_AUDITOR_TOKEN for read-only access), which the embedded config and the Helm chart read into http.tokens.admin and http.tokens.auditor',
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

  const auth = apiAuth(opts.tokens);
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

  installErrorHandlers(app, bodyLimit);
  app.addHook('onSend', async (request, reply, payload) => {
    reply.header('x-request-id', request.id);
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
          '`/api/v1` routes (except this document) need `Authorization: Bearer <token>`: the admin token may do everything; ' +
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

  const ctx: RouteContext = {
    services,
    adminScope: auth.adminScope,
    recordAdmin,
    bodyLimit,
    streamHeartbeatMs: opts.streamHeartbeatMs ?? 15_000,
  };

  await healthRoutes(app, ctx);
  const consoleOn = opts.console ?? typeof services.audit.follow === 'function';
  if (consoleOn) registerConsole(app);

  await app.register(
    async (api) => {
      // Hooks of this scope run for every route in it, however its path was spelt.
      api.addHook('onSend', async (_request, reply, payload) => {
        reply.header('cache-control', 'no-store');
        return payload;
      });
      await openApiRoute(api);
      await api.register(async (authed) => {
        auth.guard(authed);
        await policyRoutes(authed, ctx);
        await auditRoutes(authed, ctx);
        if (consoleOn) await sessionRoutes(authed, ctx);
        await retentionRoutes(authed, ctx);
      });
    },
    { prefix: API },
  );

  return app;
}
