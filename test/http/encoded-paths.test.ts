// Every route of the admin API, requested on every spelling of its path: the router decodes
// `%61`, `%5F`..., so auth and `Cache-Control: no-store` must hold for the route that matched,
// not for the URL text. Real HTTP requests to a listening app (the path goes on the wire as is).
import { request } from 'node:http';
import t from 'tap';
import { buildHttpApp, registeredRoutes } from '../../src/http/app.js';
import { encodedVariants } from '../fixtures/encoded-paths.js';
import { FakeServices } from '../fixtures/fake-services.js';

const ADMIN = 'adm-5f1c9e0b7a2d4c68b3e1';
const AUDITOR = 'aud-0c7d2e9f4b1a6358d2c4';

/** The routes that answer without a token; every other route must refuse. */
const PUBLIC = new Set([
  'GET /healthz',
  'GET /readyz',
  'GET /metrics',
  'GET /api/v1/openapi.json',
  'GET /console',
  'GET /console/',
  'GET /console/:file',
]);

function send(
  base: string,
  method: string,
  path: string,
  headers: Record<string, string> = {},
): Promise<{ status: number; headers: Record<string, string | string[] | undefined>; body: string }> {
  const u = new URL(base);
  const body = method === 'POST' || method === 'PUT' ? '{}' : null;
  return new Promise((resolve, reject) => {
    const req = request(
      {
        host: u.hostname,
        port: u.port,
        method,
        path,
        headers: body === null ? headers : { 'content-type': 'application/json', ...headers },
      },
      (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (c: string) => {
          text += c;
        });
        res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: text }));
      },
    );
    req.on('error', reject);
    req.end(body ?? undefined);
  });
}

t.test('no spelling of a protected route answers without a token; API answers are no-store', async (t) => {
  const services = new FakeServices();
  // Console, live stream, explain and retention routes too: every optional route is on.
  const app = await buildHttpApp({
    services: {
      ...services,
      audit: { ...services.audit, follow: async function* () {} },
      policy: {
        ...services.policy,
        explain: () => {
          throw new Error('not reached');
        },
      },
      retention: {
        retentionDays: () => null,
        listHolds: async () => [],
        setHold: async () => {
          throw new Error('not reached');
        },
        releaseHold: async () => null,
        trim: async () => {
          throw new Error('not reached');
        },
      },
    },
    tokens: { admin: ADMIN, auditor: AUDITOR },
    logger: false,
  });
  const base = await app.listen({ host: '127.0.0.1', port: 0 });
  t.teardown(() => app.close());

  const routes = registeredRoutes(app).filter((r) => r.method !== 'HEAD');
  const names = routes.map((r) => `${r.method} ${r.url}`);
  for (const expected of [
    'GET /api/v1/audit',
    'GET /api/v1/audit/stream',
    'POST /api/v1/policy/reload',
    'DELETE /api/v1/holds/:id',
    'POST /api/v1/session',
  ]) {
    t.ok(names.includes(expected), `walks ${expected}`);
  }
  const publicSeen: string[] = [];
  for (const route of routes) {
    const name = `${route.method} ${route.url}`;
    const path = route.url.replace(/:(\w+)/g, (_m, p: string) => `${p}-1`);
    const plain = await send(base, route.method, path);
    if (PUBLIC.has(name)) {
      publicSeen.push(name);
      continue;
    }
    t.equal(plain.status, 401, `${name} needs a token`);
    for (const variant of [path, ...encodedVariants(path)]) {
      const r = await send(base, route.method, variant);
      t.ok([401, 403, 404].includes(r.status), `${route.method} ${variant} without a token: ${r.status}`);
      if (route.url.startsWith('/api/')) {
        t.equal(r.headers['cache-control'], 'no-store', `${route.method} ${variant} is no-store`);
      }
      // An auditor may not reach an admin route on any spelling either.
      if (r.status === 401 && /reload|trim|holds\/:id|POST \/api\/v1\/holds/.test(name)) {
        const a = await send(base, route.method, variant, { authorization: `Bearer ${AUDITOR}` });
        t.equal(a.status, 403, `${route.method} ${variant} as auditor`);
      }
    }
  }
  t.same(publicSeen.sort(), [...PUBLIC].sort(), 'exactly the public routes answer without a token');

  // An authorised answer on an encoded path is no-store too (it carries audit data).
  for (const path of ['/%61pi/v1/audit', '/api/v1/%61udit', '/%61%70%69/v1/audit?limit=1']) {
    const r = await send(base, 'GET', path, { authorization: `Bearer ${AUDITOR}` });
    t.equal(r.status, 200, path);
    t.equal(r.headers['cache-control'], 'no-store', `${path} is no-store`);
  }
  t.same(services.adminCalls, [], 'no refused request reached a route');
});
