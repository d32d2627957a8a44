// Fuzz target: every route of the admin API and console (built as test/http/app.test.ts
// builds it), with random JSON bodies, query strings and path parameters, signed in as
// admin so that the input reaches the handlers. Whatever comes in, the answer is never a
// 5xx, and an error body is the documented {error, message} shape.

import assert from 'node:assert/strict';
import fc from 'fast-check';
import type { FastifyInstance, InjectOptions } from 'fastify';
import { eventFromInput } from '../../src/core/policy/event-input.js';
import { buildHttpApp } from '../../src/http/app.js';
import type { AdminServices, LegalHold, LegalHoldInput, TrimReport } from '../../src/http/services.js';
import { FakeServices, RECORDS } from '../fixtures/fake-services.js';
import type { FuzzTarget } from './targets.js';

const ADMIN = 'adm-5f1c9e0b7a2d4c68b3e1';
const AUDITOR = 'aud-0c7d2e9f4b1a6358d2c4';

interface Route {
  method: string;
  path: string;
}

/** The routes, from the app's own OpenAPI document (so a new route is fuzzed too). */
async function routesOf(app: FastifyInstance): Promise<Route[]> {
  const r = await app.inject({ url: '/api/v1/openapi.json', headers: { authorization: `Bearer ${ADMIN}` } });
  const doc = r.json() as { paths?: Record<string, Record<string, unknown>> };
  const out: Route[] = [];
  for (const [path, ops] of Object.entries(doc.paths ?? {})) {
    for (const method of Object.keys(ops)) {
      if (!['get', 'post', 'put', 'delete', 'patch'].includes(method)) continue;
      // The live stream never ends by design: it is not a request/answer route.
      if (/stream/.test(path)) continue;
      out.push({ method: method.toUpperCase(), path });
    }
  }
  return out;
}

const QUERY_KEYS = [
  'q',
  'before',
  'after',
  'limit',
  'from',
  'to',
  'since',
  'until',
  'kind',
  'decision',
  'rule',
  'address',
  'format',
  'seq',
  'fromSeq',
  'toSeq',
  'sort',
  'order',
  'network',
  'adapter',
];
const queryValue = fc.oneof(
  fc.string({ maxLength: 30 }),
  fc.integer().map(String),
  fc.constantFrom(
    '-1',
    '0',
    '1e309',
    'NaN',
    '9007199254740993',
    '2026-11-25T10:00:00Z',
    'csv',
    'eml',
    'json',
    '%',
    '%ZZ',
    '[]',
    'a&b=c',
  ),
);
const query = fc
  .array(fc.tuple(fc.oneof(fc.constantFrom(...QUERY_KEYS), fc.string({ maxLength: 6 })), queryValue), {
    maxLength: 6,
  })
  .map((pairs) => pairs.map(([k, v]) => `${encodeURIComponent(k)}=${encodeURIComponent(v)}`).join('&'));

const eventish = fc.record(
  {
    kind: fc.oneof(
      fc.constantFrom('message', 'presence', 'call', 'receipt', 'chatstate'),
      fc.string({ maxLength: 8 }),
    ),
    from: fc.oneof(
      fc.constantFrom('xmpp:alice@corp.test', 'matrix:u/bob:hs.test', 'sip:c@partner.test'),
      fc.string({ maxLength: 20 }),
    ),
    to: fc.oneof(
      fc.constantFrom('xmpp:alice@corp.test', 'matrix:u/bob:hs.test'),
      fc.string({ maxLength: 20 }),
    ),
    body: fc.string({ maxLength: 40 }),
    show: fc.constantFrom('available', 'dnd', 'x'),
    time: fc.oneof(fc.constant('2026-11-25T10:00:00Z'), fc.string({ maxLength: 10 })),
  },
  { requiredKeys: [] },
);
const body = fc.oneof(
  fc.json({ maxDepth: 4 }),
  eventish.map((e) => JSON.stringify(e)),
  fc.record({ event: eventish }).map((e) => JSON.stringify(e)),
  fc
    .record(
      {
        text: fc.string({ maxLength: 200 }),
        name: fc.string({ maxLength: 20 }),
        reason: fc.string({ maxLength: 20 }),
      },
      { requiredKeys: [] },
    )
    .map((e) => JSON.stringify(e)),
  fc.string({ maxLength: 100 }),
);

/**
 * The fake services with every optional part (explain, the live stream, retention), so that
 * every route is registered, the console's and the holds' included.
 */
function allServices(): AdminServices {
  const fake = new FakeServices();
  const holds = new Map<string, LegalHold>();
  let n = 0;
  return {
    ...fake,
    policy: {
      ...fake.policy,
      // As the gateway's services do: the request body is read as an event first (a bad one
      // is an EventInputError, 400); the fake alone would answer with any `from` it is given.
      evaluate: (event: unknown) => {
        eventFromInput(event, 'request body');
        return fake.policy.evaluate(event);
      },
      explain: (event: unknown) => {
        eventFromInput(event, 'request body');
        return {
          classification: { fromZone: 'enterprise', toZone: 'partner', direction: 'outbound' as const },
          rules: [],
          decision: fake.policy.evaluate(event),
        };
      },
    },
    audit: {
      ...fake.audit,
      follow: () =>
        (async function* () {
          yield* [];
        })(),
    },
    retention: {
      retentionDays: () => 30,
      listHolds: async () => [...holds.values()],
      setHold: async (input: LegalHoldInput, actor: string): Promise<LegalHold> => {
        if (!input.user && !input.domain && !input.from && !input.to) {
          throw new RangeError('a hold needs at least one of user, domain, from or to');
        }
        const hold: LegalHold = {
          id: `h${++n}`,
          ...input,
          createdAt: '2026-11-26T00:00:00.000Z',
          createdBy: actor,
        };
        if (holds.size < 100) holds.set(hold.id, hold);
        return hold;
      },
      releaseHold: async (id: string) => {
        const h = holds.get(id) ?? null;
        holds.delete(id);
        return h;
      },
      trim: async (): Promise<TrimReport> => ({
        retentionDays: 30,
        cutoff: '2026-10-27T00:00:00.000Z',
        removed: 0,
        held: 0,
        anchor: { seq: 2, hash: RECORDS[1]!.hash },
      }),
    },
  };
}

export const httpRoutes: FuzzTarget = {
  name: 'http-routes',
  ciRuns: 400,
  prepare: async () => {
    const app = await buildHttpApp({
      services: allServices(),
      tokens: { admin: ADMIN, auditor: AUDITOR },
      logger: false,
    });
    const routes = await routesOf(app);
    assert.ok(routes.length > 15, `only ${routes.length} routes found in the OpenAPI document`);
    const arb = fc.record({
      route: fc.constantFrom(...routes),
      param: fc.oneof(
        fc.string({ maxLength: 20 }),
        fc.integer().map(String),
        fc.constantFrom('..', '%2e%2e', '%00', '1'),
      ),
      query,
      body,
      role: fc.constantFrom(ADMIN, AUDITOR),
      contentType: fc.constantFrom(
        'application/json',
        'application/json',
        'text/plain',
        'application/yaml',
        'application/x-www-form-urlencoded',
      ),
    });
    const property = fc.asyncProperty(arb as fc.Arbitrary<unknown>, async (v) => {
      const c = v as {
        route: Route;
        param: string;
        query: string;
        body: string;
        role: string;
        contentType: string;
      };
      const path = c.route.path.replace(/\{[^}]+\}/g, encodeURIComponent(c.param));
      const opts: InjectOptions = {
        method: c.route.method as InjectOptions['method'],
        url: c.query ? `${path}?${c.query}` : path,
        headers: { authorization: `Bearer ${c.role}` },
      };
      if (c.route.method !== 'GET' && c.route.method !== 'DELETE') {
        opts.payload = c.body;
        opts.headers = { ...opts.headers, 'content-type': c.contentType };
      }
      const r = await app.inject(opts);
      assert.ok(
        r.statusCode < 500,
        `${opts.method} ${opts.url} answered ${r.statusCode}: ${r.body.slice(0, 300)}`,
      );
      if (r.statusCode >= 400 && /json/.test(String(r.headers['content-type']))) {
        const b = r.json() as { error?: unknown; message?: unknown };
        assert.ok(
          typeof b.error === 'string' && typeof b.message === 'string',
          `an error body without error/message: ${r.body.slice(0, 200)}`,
        );
        assert.ok(!/\bat .*\.(ts|js):\d+/.test(r.body), 'a stack trace in an error body');
      }
    });
    return { property, close: () => app.close() };
  },
};
