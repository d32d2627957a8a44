// The application-service API the homeserver calls (Matrix AS API v1): transactions, user
// and room-alias queries, ping. Every request carries the hs_token (Authorization: Bearer,
// or the legacy `access_token` query); transactions are processed once even when the
// homeserver retries them, across restarts and replicas (their ids live in the store).
import { createHash, timingSafeEqual } from 'node:crypto';
import { type Static, Type } from '@sinclair/typebox';
import { TypeCompiler } from '@sinclair/typebox/compiler';
import Fastify, { type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import type { AdapterState } from '../../core/delivery/state.js';
import type { Logger } from '../../core/logger.js';

export const TransactionBody = Type.Object(
  {
    events: Type.Array(Type.Unknown(), { maxItems: 100_000 }),
    ephemeral: Type.Optional(Type.Array(Type.Unknown(), { maxItems: 100_000 })),
    'de.sorunome.msc2409.ephemeral': Type.Optional(Type.Array(Type.Unknown(), { maxItems: 100_000 })),
  },
  { additionalProperties: true },
);
export type TransactionBody = Static<typeof TransactionBody>;
const checkTransaction = TypeCompiler.Compile(TransactionBody);

/** What a transaction hands the adapter: its room events and ephemeral events (unvalidated items). */
export interface Transaction {
  txnId: string;
  events: unknown[];
  ephemeral: unknown[];
}

export interface AppserviceHandlers {
  onTransaction(txn: Transaction): Promise<void>;
  /** True when the user id is one this appservice provides (the ghost then exists). */
  onUserQuery(userId: string): Promise<boolean>;
}

export interface AppserviceOptions {
  hsToken: string;
  /** The link's own keys: its transaction ids live under `txn:`. */
  state: Pick<AdapterState, 'get' | 'set' | 'del' | 'setIfAbsent'>;
  bodyLimit: number;
  logger: Logger;
  handlers: AppserviceHandlers;
  /** How long a processed transaction id is remembered (default 7 days). */
  txnTtlMs?: number;
  /** How long a claim by a replica that is processing a transaction holds (default 2 min). */
  claimTtlMs?: number;
  /** How long a request waits for another replica's claim before answering 503 (default 10 s). */
  claimWaitMs?: number;
  /** A request (headers and body) not received in full by then is answered 408 and closed (default 60 s). */
  requestTimeoutMs?: number;
}

const DONE = 'done';
const matrixError = (reply: FastifyReply, status: number, errcode: string, error: string) =>
  reply.code(status).type('application/json').send({ errcode, error });

function tokenOf(req: FastifyRequest): string | null {
  const auth = req.headers.authorization;
  if (typeof auth === 'string') {
    const m = /^Bearer\s+(\S+)\s*$/i.exec(auth);
    return m ? (m[1] as string) : null;
  }
  const q = req.query as Record<string, unknown> | undefined;
  const t = q?.access_token;
  return typeof t === 'string' && t !== '' ? t : null;
}

function sameToken(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

/** What identifies a transaction's content across retries: its events' ids and its ephemeral events. */
function fingerprint(events: unknown[], ephemeral: unknown[]): string {
  const ids = events.map((e) => {
    const id = e !== null && typeof e === 'object' ? (e as { event_id?: unknown }).event_id : undefined;
    return typeof id === 'string' ? id : JSON.stringify(e);
  });
  return createHash('sha256')
    .update(JSON.stringify([ids, ephemeral]))
    .digest('base64url')
    .slice(0, 32);
}

export function buildAppserviceApp(opts: AppserviceOptions): FastifyInstance {
  const requestTimeout = opts.requestTimeoutMs ?? 60_000;
  const app = Fastify({
    bodyLimit: opts.bodyLimit,
    logger: false,
    return503OnClosing: true,
    // Without a request timeout (fastify's default is none) a client that trickles its
    // request would hold a connection forever.
    requestTimeout,
    http: {
      requestTimeout,
      headersTimeout: requestTimeout,
      connectionsCheckingInterval: Math.max(25, Math.min(1000, Math.floor(requestTimeout / 4))),
    },
  });
  const log = opts.logger;
  const txnTtl = opts.txnTtlMs ?? 7 * 24 * 3600_000;
  const claimTtl = opts.claimTtlMs ?? 120_000;
  const claimWait = opts.claimWaitMs ?? 10_000;

  app.setErrorHandler((err: { statusCode?: number; code?: string; message: string }, req, reply) => {
    const status = err.statusCode ?? 500;
    if (status === 413)
      return matrixError(reply, 413, 'M_TOO_LARGE', `Body larger than ${opts.bodyLimit} bytes`);
    if (status === 415) return matrixError(reply, 415, 'M_NOT_JSON', 'Content-Type must be application/json');
    if (status >= 400 && status < 500) return matrixError(reply, status, 'M_NOT_JSON', err.message);
    log.error({ err, url: req.url.split('?')[0] }, 'appservice request failed');
    return matrixError(reply, 500, 'M_UNKNOWN', 'Internal error');
  });
  app.setNotFoundHandler((_req, reply) => matrixError(reply, 404, 'M_UNRECOGNIZED', 'Unrecognized request'));

  const process = async (txnId: string, body: TransactionBody, reply: FastifyReply) => {
    // Synapse numbers transactions per appservice, but on SQLite the counter restarts from
    // the highest *pending* id after a homeserver restart, so an id may come back with other
    // events. The key is therefore the id plus the event ids it carries (a retry re-serializes
    // the same events with a new `unsigned.age`, so the bodies are not byte-identical) and
    // its ephemeral events (a retry from the homeserver's recoverer carries none).
    const ephemeralEvents = body.ephemeral ?? body['de.sorunome.msc2409.ephemeral'] ?? [];
    const key = `txn:${txnId}:${fingerprint(body.events, ephemeralEvents)}`;
    const deadline = Date.now() + claimWait;
    for (;;) {
      // Claim first: a new transaction (the common case) costs one store round trip.
      if (await opts.state.setIfAbsent(key, 'processing', claimTtl)) break;
      if ((await opts.state.get(key)) === DONE) return reply.send({});
      if (Date.now() > deadline) {
        return matrixError(reply, 503, 'M_UNKNOWN', 'Transaction is being processed; retry later');
      }
      await new Promise((r) => setTimeout(r, 100));
    }
    try {
      // Synapse sends the same ephemeral events under both keys when the registration asks
      // for both: the stable one is taken when present.
      await opts.handlers.onTransaction({ txnId, events: body.events, ephemeral: ephemeralEvents });
    } catch (err) {
      // Let the homeserver retry; events already handled are deduplicated by event id.
      await opts.state.del(key).catch(() => {});
      throw err;
    }
    await opts.state.set(key, DONE, txnTtl);
    return reply.send({});
  };

  // Every route of the AS API lives in this scope, and the token is checked by a hook of the
  // scope: it runs for whichever route matched (the router decodes `%5F`, `%61`...), never
  // on the raw URL text, so no spelling of a path reaches a route without the hs_token.
  app.register(async (api) => {
    api.addHook('onRequest', async (req, reply) => {
      const token = tokenOf(req);
      if (token === null) {
        return matrixError(
          reply,
          401,
          'M_UNAUTHORIZED',
          'Missing hs_token (Authorization: Bearer <hs_token>)',
        );
      }
      if (!sameToken(token, opts.hsToken)) {
        log.warn({ ip: req.ip, route: req.routeOptions.url }, 'appservice request with a wrong hs_token');
        return matrixError(reply, 403, 'M_FORBIDDEN', 'Invalid hs_token');
      }
    });

    api.put<{ Params: { txnId: string } }>('/_matrix/app/v1/transactions/:txnId', async (req, reply) => {
      const { txnId } = req.params;
      if (!txnId || txnId.length > 255)
        return matrixError(reply, 400, 'M_INVALID_PARAM', 'Bad transaction id');
      if (!checkTransaction.Check(req.body)) {
        const first = checkTransaction.Errors(req.body).First();
        return matrixError(
          reply,
          400,
          'M_BAD_JSON',
          `Malformed transaction${first ? ` (${first.path || '/'}: ${first.message})` : ''}`,
        );
      }
      return process(txnId, req.body, reply);
    });

    api.get<{ Params: { userId: string } }>('/_matrix/app/v1/users/:userId', async (req, reply) => {
      const known = await opts.handlers.onUserQuery(req.params.userId);
      return known ? reply.send({}) : matrixError(reply, 404, 'M_NOT_FOUND', 'No such user here');
    });

    // Parley claims no room aliases.
    api.get('/_matrix/app/v1/rooms/:alias', async (_req, reply) =>
      matrixError(reply, 404, 'M_NOT_FOUND', 'No such room alias here'),
    );

    api.post('/_matrix/app/v1/ping', async (_req, reply) => reply.send({}));
  });

  return app;
}
