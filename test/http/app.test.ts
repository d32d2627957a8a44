import { Writable } from 'node:stream';
import { Value } from '@sinclair/typebox/value';
import type { FastifyInstance, InjectOptions } from 'fastify';
import { pino } from 'pino';
import t, { type Test } from 'tap';
import { AuditRecord } from '../../src/core/audit/record.js';
import type { Logger } from '../../src/core/logger.js';
import { buildHttpApp, ErrorSchema, type HttpAppOptions } from '../../src/http/app.js';
import {
  AuditPageSchema,
  DecisionSchema,
  PolicyInfoSchema,
  ReadyReportSchema,
  VerifyResultSchema,
} from '../../src/http/services.js';
import {
  type FakeOptions,
  FakeServices,
  POLICY_INFO,
  PROBLEMS,
  READY,
  RECORDS,
} from '../fixtures/fake-services.js';

const ADMIN = 'adm-5f1c9e0b7a2d4c68b3e1';
const AUDITOR = 'aud-0c7d2e9f4b1a6358d2c4';
const asAdmin = { authorization: `Bearer ${ADMIN}` };
const asAuditor = { authorization: `Bearer ${AUDITOR}` };

async function build(
  fake: FakeOptions | FakeServices = {},
  extra: Partial<HttpAppOptions> = {},
): Promise<{ app: FastifyInstance; services: FakeServices }> {
  const services = fake instanceof FakeServices ? fake : new FakeServices(fake);
  const app = await buildHttpApp({
    services,
    tokens: { admin: ADMIN, auditor: AUDITOR },
    logger: false,
    ...extra,
  });
  t.teardown(() => app.close());
  return { app, services };
}

function isError(t: Test, body: unknown, code: string): void {
  t.ok(Value.Check(ErrorSchema, body), 'error body has the {error, message, details?} shape');
  t.equal((body as { error: string }).error, code);
  t.notMatch(JSON.stringify(body), /\bat .*\.(ts|js):\d+/, 'no stack trace');
}

t.test('health, readiness and metrics need no token', async (t) => {
  const { app } = await build();
  const h = await app.inject({ url: '/healthz' });
  t.equal(h.statusCode, 200);
  t.same(h.json(), { status: 'ok' });

  const r = await app.inject({ url: '/readyz' });
  t.equal(r.statusCode, 200);
  t.same(r.json(), READY);
  t.ok(Value.Check(ReadyReportSchema, r.json()));

  const m = await app.inject({ url: '/metrics' });
  t.equal(m.statusCode, 200);
  t.match(m.headers['content-type'], /^text\/plain/);
  t.match(m.body, /^up 1$/m);
});

t.test('readyz is 503 with the report when not ready', async (t) => {
  const notReady = {
    ready: false,
    store: { ok: true, kind: 'redis' },
    adapters: {
      corp: {
        state: 'down' as const,
        detail: 'ECONNREFUSED 127.0.0.1:5347',
        since: '2026-11-25T09:00:00.000Z',
        network: 'xmpp',
      },
    },
  };
  const { app } = await build({ ready: notReady });
  const r = await app.inject({ url: '/readyz' });
  t.equal(r.statusCode, 503);
  t.same(r.json(), notReady);
});

t.test('readyz is 503 (not 500) when the readiness check throws', async (t) => {
  const services = new FakeServices();
  services.readiness = async () => {
    throw new Error('boom');
  };
  const { app } = await build(services);
  const r = await app.inject({ url: '/readyz' });
  t.equal(r.statusCode, 503);
  t.equal(r.json().ready, false);
});

t.test('401 without a valid bearer token', async (t) => {
  const { app } = await build();
  const cases: [string, Record<string, string>][] = [
    ['missing', {}],
    ['wrong token', { authorization: 'Bearer not-the-token' }],
    ['wrong scheme', { authorization: `Basic ${Buffer.from(`admin:${ADMIN}`).toString('base64')}` }],
    ['token without scheme', { authorization: ADMIN }],
    ['empty bearer', { authorization: 'Bearer ' }],
    ['token prefix', { authorization: `Bearer ${ADMIN.slice(0, -1)}` }],
  ];
  for (const [name, headers] of cases) {
    const r = await app.inject({ url: '/api/v1/policy', headers });
    t.equal(r.statusCode, 401, name);
    t.match(r.headers['www-authenticate'], /^Bearer realm="parley"/, `${name}: WWW-Authenticate`);
    isError(t, r.json(), 'unauthorized');
  }
  const wrong = await app.inject({ url: '/api/v1/policy', headers: { authorization: 'Bearer nope' } });
  t.match(wrong.headers['www-authenticate'], /error="invalid_token"/);
  t.ok(
    await app
      .inject({ url: '/api/v1/policy', headers: { authorization: `bearer ${ADMIN}` } })
      .then((r) => r.statusCode === 200),
    'scheme is case-insensitive',
  );
});

t.test('a role without a configured token cannot sign in', async (t) => {
  const { app } = await build({}, { tokens: { admin: ADMIN } });
  t.equal((await app.inject({ url: '/api/v1/policy', headers: asAuditor })).statusCode, 401);
  t.equal(
    (await app.inject({ url: '/api/v1/policy', headers: { authorization: 'Bearer ' } })).statusCode,
    401,
  );
  t.equal((await app.inject({ url: '/api/v1/policy', headers: asAdmin })).statusCode, 200);
});

t.test('no tokens at all: a warning at startup and every API call is 401', async (t) => {
  const lines: string[] = [];
  const stream = new Writable({
    write(chunk, _enc, cb) {
      lines.push(String(chunk));
      cb();
    },
  });
  const { app } = await build({}, { tokens: {}, logger: pino({ level: 'info' }, stream) });
  t.ok(
    lines.some((l) => JSON.parse(l).level === 40 && /no admin or auditor token/.test(l)),
    'warned',
  );
  t.equal(
    (await app.inject({ url: '/api/v1/policy', headers: { authorization: 'Bearer ' } })).statusCode,
    401,
  );
  t.equal(
    (await app.inject({ url: '/api/v1/policy', headers: { authorization: 'Bearer undefined' } })).statusCode,
    401,
  );
  t.equal((await app.inject({ url: '/healthz' })).statusCode, 200);
});

t.test('role matrix', async (t) => {
  const { app, services } = await build();
  const routes: { req: InjectOptions; auditor: boolean }[] = [
    { req: { method: 'GET', url: '/api/v1/policy' }, auditor: true },
    {
      req: { method: 'POST', url: '/api/v1/policy/validate', payload: { text: 'rules: []' } },
      auditor: true,
    },
    { req: { method: 'POST', url: '/api/v1/policy/reload' }, auditor: false },
    {
      req: {
        method: 'POST',
        url: '/api/v1/policy/eval',
        payload: {
          kind: 'message',
          from: 'xmpp:alice@corp.example',
          to: 'sip:carol@partner.example',
          body: 'hi',
        },
      },
      auditor: true,
    },
    { req: { method: 'GET', url: '/api/v1/audit' }, auditor: true },
    { req: { method: 'GET', url: '/api/v1/audit/verify' }, auditor: true },
    { req: { method: 'GET', url: '/api/v1/audit/export?format=jsonl' }, auditor: true },
  ];
  for (const { req, auditor } of routes) {
    const name = `${req.method} ${req.url}`;
    const a = await app.inject({ ...req, headers: asAdmin });
    t.equal(a.statusCode, 200, `admin: ${name}`);
    const u = await app.inject({ ...req, headers: asAuditor });
    t.equal(u.statusCode, auditor ? 200 : 403, `auditor: ${name}`);
    const n = await app.inject(req);
    t.equal(n.statusCode, 401, `anonymous: ${name}`);
  }
  const doc = await app.inject({ method: 'GET', url: '/api/v1/openapi.json' });
  t.equal(doc.statusCode, 200, 'anyone may read the OpenAPI document (the 404 message points to it)');
  t.equal(doc.headers['cache-control'], 'no-store');
  const denied = await app.inject({ method: 'POST', url: '/api/v1/policy/reload', headers: asAuditor });
  isError(t, denied.json(), 'forbidden');
  t.match(denied.json().message, /auditor role may not do this; it needs the admin role/);
  t.notOk(
    services.adminCalls.some((c) => c.action === 'policy.reload' && c.actor === 'auditor'),
    'a refused reload did not run',
  );
});

t.test('GET /api/v1/policy', async (t) => {
  const { app } = await build();
  const r = await app.inject({ url: '/api/v1/policy', headers: asAuditor });
  t.equal(r.statusCode, 200);
  t.same(r.json(), POLICY_INFO);
  t.ok(Value.Check(PolicyInfoSchema, r.json()));
  t.equal(r.headers['cache-control'], 'no-store');
});

t.test('POST /api/v1/policy/validate', async (t) => {
  const { app, services } = await build();
  const okYaml = await app.inject({
    method: 'POST',
    url: '/api/v1/policy/validate?name=draft.yaml',
    headers: { ...asAuditor, 'content-type': 'text/yaml; charset=utf-8' },
    payload: 'apiVersion: parley/v1\nkind: Policy\n',
  });
  t.equal(okYaml.statusCode, 200);
  t.same(okYaml.json(), { ok: true, rules: 6 });
  t.same(services.validated[0], { text: 'apiVersion: parley/v1\nkind: Policy\n', name: 'draft.yaml' });

  const badJson = await app.inject({
    method: 'POST',
    url: '/api/v1/policy/validate',
    headers: asAdmin,
    payload: { text: 'rules:\n  - id: x\n    effect: permit\n', name: 'draft.yaml' },
  });
  t.equal(badJson.statusCode, 422);
  const body = badJson.json();
  t.equal(body.ok, false);
  t.equal(body.error, 'invalid_policy');
  t.match(body.message, /1 problem/);
  t.same(body.problems, PROBLEMS, 'problems pass through unchanged');

  const noText = await app.inject({
    method: 'POST',
    url: '/api/v1/policy/validate',
    headers: asAdmin,
    payload: { txt: 'x' },
  });
  t.equal(noText.statusCode, 400);
  isError(t, noText.json(), 'invalid_body');
  t.match(noText.json().message, /'txt'|'text'/);

  const wrongType = await app.inject({
    method: 'POST',
    url: '/api/v1/policy/validate',
    headers: { ...asAdmin, 'content-type': 'application/xml' },
    payload: '<policy/>',
  });
  t.equal(wrongType.statusCode, 415);
  isError(t, wrongType.json(), 'unsupported_media_type');
});

t.test('POST /api/v1/policy/reload', async (t) => {
  await t.test('success is recorded', async (t) => {
    const { app, services } = await build();
    const r = await app.inject({ method: 'POST', url: '/api/v1/policy/reload', headers: asAdmin });
    t.equal(r.statusCode, 200);
    t.same(r.json(), { ok: true, version: '2026-11-25.2' });
    t.same(services.adminCalls, [
      { action: 'policy.reload', actor: 'admin', details: { ok: true, version: '2026-11-25.2' } },
    ]);
  });
  await t.test('a bad file is 422 with the problems, and recorded', async (t) => {
    const { app, services } = await build({ reload: { ok: false, problems: PROBLEMS } });
    const r = await app.inject({ method: 'POST', url: '/api/v1/policy/reload', headers: asAdmin });
    t.equal(r.statusCode, 422);
    t.same(r.json().problems, PROBLEMS);
    t.match(r.json().message, /running policy stays in force/);
    t.equal(services.adminCalls[0]?.action, 'policy.reload');
    t.equal(services.adminCalls[0]?.details.ok, false);
  });
});

t.test('POST /api/v1/policy/eval', async (t) => {
  const { app } = await build();
  const ok = await app.inject({
    method: 'POST',
    url: '/api/v1/policy/eval',
    headers: asAuditor,
    payload: {
      kind: 'message',
      from: 'xmpp:alice@corp.example',
      to: 'sip:carol@partner.example',
      body: 'hi',
    },
  });
  t.equal(ok.statusCode, 200);
  t.ok(Value.Check(DecisionSchema, ok.json()));
  t.equal(ok.json().rule, 'partners-talk');

  const bad = await app.inject({
    method: 'POST',
    url: '/api/v1/policy/eval',
    headers: asAuditor,
    payload: { kind: 'mesage', from: 'xmpp:alice@corp.example' },
  });
  t.equal(bad.statusCode, 400);
  isError(t, bad.json(), 'invalid_event');
  t.match(bad.json().message, /kind must be one of/);
  t.same(bad.json().details, { field: '/kind' });

  const notObject = await app.inject({
    method: 'POST',
    url: '/api/v1/policy/eval',
    headers: { ...asAuditor, 'content-type': 'application/json' },
    payload: '[1,2]',
  });
  t.equal(notObject.statusCode, 400);
  isError(t, notObject.json(), 'invalid_body');

  const notJson = await app.inject({
    method: 'POST',
    url: '/api/v1/policy/eval',
    headers: { ...asAuditor, 'content-type': 'application/json' },
    payload: '{"kind": ',
  });
  t.equal(notJson.statusCode, 400);
  isError(t, notJson.json(), 'invalid_json');
});

t.test('an unexpected failure is a 500 JSON without a stack trace', async (t) => {
  const services = new FakeServices();
  services.policy.evaluate = () => {
    throw new TypeError('Cannot read properties of undefined');
  };
  const { app } = await build(services);
  const r = await app.inject({
    method: 'POST',
    url: '/api/v1/policy/eval',
    headers: asAdmin,
    payload: { kind: 'message' },
  });
  t.equal(r.statusCode, 500);
  isError(t, r.json(), 'internal_error');
  t.notMatch(r.body, /Cannot read properties/);
});

t.test('a response that breaks its schema is a 500, not garbage', async (t) => {
  const services = new FakeServices();
  services.policy.current = () => ({ ...POLICY_INFO, rules: -1 });
  const { app } = await build(services);
  const r = await app.inject({ url: '/api/v1/policy', headers: asAdmin });
  t.equal(r.statusCode, 500);
  isError(t, r.json(), 'internal_error');
});

t.test('GET /api/v1/audit', async (t) => {
  const { app, services } = await build();
  const r = await app.inject({ url: '/api/v1/audit', headers: asAuditor });
  t.equal(r.statusCode, 200);
  const page = r.json();
  t.ok(Value.Check(AuditPageSchema, page));
  t.equal(page.records.length, RECORDS.length);
  for (const rec of page.records) t.ok(Value.Check(AuditRecord, rec));
  t.same(services.queries[0], { filter: {}, before: null, limit: 100 }, 'limit defaults to 100');

  const q = await app.inject({
    url: '/api/v1/audit?decision=deny&category=decision&from=2026-11-25T00:00:00Z&user=xmpp%3Asam%40corp.example&before=4&limit=1',
    headers: asAuditor,
  });
  t.equal(q.statusCode, 200);
  t.same(services.queries[1], {
    filter: {
      decision: 'deny',
      category: 'decision',
      from: '2026-11-25T00:00:00Z',
      user: 'xmpp:sam@corp.example',
    },
    before: 4,
    limit: 1,
  });
  t.equal(q.json().records[0].rule, 'block-rival');

  const paged = await app.inject({ url: '/api/v1/audit?limit=2', headers: asAuditor });
  t.equal(paged.json().next, 3);
});

t.test('audit query validation names the parameter', async (t) => {
  const { app, services } = await build();
  const cases: [string, RegExp][] = [
    ['limit=0', /'limit' must be >= 1/],
    ['limit=1001', /'limit' must be <= 1000/],
    ['limit=ten', /'limit' must be an integer/],
    ['before=0', /'before' must be >= 1/],
    ['decision=maybe', /'decision' must be one of: allow, redact, deny/],
    ['category=system', /'category' must be one of: decision, outcome, admin/],
    ['from=yesterday', /'from' must be an ISO 8601 date-time/],
    ['decison=deny', /'decison' is not accepted/],
  ];
  for (const [query, message] of cases) {
    const r = await app.inject({ url: `/api/v1/audit?${query}`, headers: asAdmin });
    t.equal(r.statusCode, 400, query);
    isError(t, r.json(), 'invalid_parameter');
    t.match(r.json().message, message, query);
    t.equal(r.json().details.in, 'query');
  }
  t.equal(services.queries.length, 0, 'the service was never asked');
});

t.test('GET /api/v1/audit/verify', async (t) => {
  await t.test('intact chain', async (t) => {
    const { app, services } = await build();
    const r = await app.inject({ url: '/api/v1/audit/verify', headers: asAuditor });
    t.equal(r.statusCode, 200);
    t.ok(Value.Check(VerifyResultSchema, r.json()));
    t.equal(r.json().ok, true);
    t.same(services.adminCalls, [
      { action: 'audit.verify', actor: 'auditor', details: { ok: true, records: 4, head: 4 } },
    ]);
  });
  await t.test('a broken chain is 200 with ok:false', async (t) => {
    const broken = { ok: false as const, records: 4, firstBad: 3, problem: 'hash mismatch at seq 3' };
    const { app, services } = await build({ verify: broken });
    const r = await app.inject({ url: '/api/v1/audit/verify', headers: asAdmin });
    t.equal(r.statusCode, 200);
    t.same(r.json(), broken);
    t.equal(services.adminCalls[0]?.details.firstBad, 3);
  });
  await t.test('an unreadable store is 503 JSON', async (t) => {
    const services = new FakeServices();
    services.audit.verify = async () => {
      throw new Error('ECONNREFUSED');
    };
    const { app } = await build(services);
    const r = await app.inject({ url: '/api/v1/audit/verify', headers: asAdmin });
    t.equal(r.statusCode, 503);
    isError(t, r.json(), 'audit_unavailable');
  });
});

t.test('GET /api/v1/audit/export streams with headers', async (t) => {
  const { app, services } = await build();
  const j = await app.inject({ url: '/api/v1/audit/export?format=jsonl', headers: asAuditor });
  t.equal(j.statusCode, 200);
  t.equal(j.headers['content-type'], 'application/x-ndjson; charset=utf-8');
  t.match(j.headers['content-disposition'], /^attachment; filename="parley-audit-\d{8}T\d{6}Z\.jsonl"$/);
  const lines = j.body.trim().split('\n');
  t.equal(lines.length, RECORDS.length);
  t.same(JSON.parse(lines[0]!), RECORDS[0]);
  t.ok(services.exportClosed);

  const c = await app.inject({ url: '/api/v1/audit/export?format=csv&decision=deny', headers: asAdmin });
  t.equal(c.statusCode, 200);
  t.match(c.headers['content-type'], /^text\/csv/);
  t.match(c.headers['content-disposition'], /\.csv"$/);
  t.equal(
    c.body,
    'seq,time,from,to,decision,rule\n2,2026-11-25T09:01:00.000Z,xmpp:sam@corp.example,matrix:u/eve:rival.example,deny,block-rival\n',
  );
  t.same(services.exports[1], { format: 'csv', filter: { decision: 'deny' } });

  const e = await app.inject({ url: '/api/v1/audit/export?format=eml', headers: asAdmin });
  t.equal(e.headers['content-type'], 'application/mbox');
  t.match(e.headers['content-disposition'], /\.mbox"$/);
  t.match(e.body, /^From parley /);

  t.same(
    services.adminCalls.map((c) => [c.action, c.actor, c.details.format]),
    [
      ['audit.export', 'auditor', 'jsonl'],
      ['audit.export', 'admin', 'csv'],
      ['audit.export', 'admin', 'eml'],
    ],
  );

  for (const query of ['format=xml', '', 'format=csv&limit=5']) {
    const bad = await app.inject({ url: `/api/v1/audit/export?${query}`, headers: asAdmin });
    t.equal(bad.statusCode, 400, query);
    isError(t, bad.json(), 'invalid_parameter');
    t.match(bad.json().message, /'(format|limit)'/);
  }
});

t.test('no export when the audit trail cannot record it', async (t) => {
  const { app, services } = await build({ recordAdminFails: true });
  const r = await app.inject({ url: '/api/v1/audit/export?format=jsonl', headers: asAdmin });
  t.equal(r.statusCode, 503);
  isError(t, r.json(), 'audit_unavailable');
  t.equal(services.exports.length, 0);
});

t.test('an export whose first read fails is 503 JSON', async (t) => {
  const services = new FakeServices();
  services.audit.export = () => ({
    [Symbol.asyncIterator]: () => ({
      next: async () => {
        throw new Error('stream trimmed');
      },
    }),
  });
  const { app } = await build(services);
  const r = await app.inject({ url: '/api/v1/audit/export?format=csv', headers: asAdmin });
  t.equal(r.statusCode, 503);
  isError(t, r.json(), 'audit_unavailable');
});

t.test('openapi.json is an OpenAPI 3 document for every route', async (t) => {
  const { app } = await build();
  const r = await app.inject({ url: '/api/v1/openapi.json' });
  t.equal(r.statusCode, 200, 'no token needed');
  const doc = r.json();
  t.match(doc.openapi, /^3\.\d+\.\d+$/);
  t.type(doc.info.title, 'string');
  t.type(doc.info.version, 'string');
  t.same(doc.components.securitySchemes.bearerAuth, {
    type: 'http',
    scheme: 'bearer',
    description: doc.components.securitySchemes.bearerAuth.description,
  });
  const expected: [string, string][] = [
    ['/healthz', 'get'],
    ['/readyz', 'get'],
    ['/metrics', 'get'],
    ['/api/v1/openapi.json', 'get'],
    ['/api/v1/policy', 'get'],
    ['/api/v1/policy/validate', 'post'],
    ['/api/v1/policy/reload', 'post'],
    ['/api/v1/policy/eval', 'post'],
    ['/api/v1/audit', 'get'],
    ['/api/v1/audit/verify', 'get'],
    ['/api/v1/audit/export', 'get'],
  ];
  t.same(Object.keys(doc.paths).sort(), expected.map(([p]) => p).sort());
  for (const [path, method] of expected) {
    const op = doc.paths[path][method];
    t.ok(op, `${method} ${path}`);
    t.ok(op.responses?.['200'], `${method} ${path} documents 200`);
    t.type(op.description, 'string');
    if (path.startsWith('/api/') && path !== '/api/v1/openapi.json') {
      t.same(op.security, [{ bearerAuth: [] }], `${path} needs the bearer token`);
      t.ok(op.responses['401'] && op.responses['403'], `${path} documents 401 and 403`);
      t.match(op.description, /Role: /, `${path} says which roles`);
    } else {
      t.same(op.security, [], `${path} needs no token`);
    }
  }
  t.match(doc.paths['/api/v1/policy/reload'].post.description, /admin only/);
  const params = doc.paths['/api/v1/audit'].get.parameters.map((p: { name: string }) => p.name);
  t.same(
    params.sort(),
    [
      'before',
      'category',
      'decision',
      'domain',
      'eventId',
      'from',
      'kind',
      'limit',
      'network',
      'outcome',
      'q',
      'rule',
      'to',
      'traceId',
      'user',
    ].sort(),
  );
  t.ok(doc.paths['/api/v1/policy/validate'].post.requestBody.content['text/yaml']);
  t.ok(doc.paths['/api/v1/audit/export'].get.responses['200'].content['text/csv']);
  t.notMatch(JSON.stringify(doc), /"\$ref"/, 'self-contained');
});

t.test('unknown routes are 404 JSON', async (t) => {
  const { app } = await build();
  for (const url of ['/nope', '/api/v1/nope', '/api/v2/audit']) {
    const r = await app.inject({ url, headers: asAdmin });
    t.equal(r.statusCode, 404, url);
    isError(t, r.json(), 'not_found');
  }
  const wrongMethod = await app.inject({ method: 'DELETE', url: '/api/v1/policy', headers: asAdmin });
  t.equal(wrongMethod.statusCode, 404);
  // The 404 points to the OpenAPI document, which answers without a token.
  const nope = await app.inject({ url: '/api/v1/nope' });
  t.match(nope.json().message, /\/api\/v1\/openapi\.json \(no token needed\)/);
  t.equal(nope.headers['cache-control'], 'no-store');
  const pointed = await app.inject({ url: '/api/v1/openapi.json' });
  t.equal(pointed.statusCode, 200);
});

t.test('too large a body is 413 JSON', async (t) => {
  const { app } = await build({}, { bodyLimit: 1024 });
  const r = await app.inject({
    method: 'POST',
    url: '/api/v1/policy/validate',
    headers: { ...asAdmin, 'content-type': 'text/yaml' },
    payload: `# ${'x'.repeat(4096)}\n`,
  });
  t.equal(r.statusCode, 413);
  isError(t, r.json(), 'payload_too_large');
  t.match(r.json().message, /1024 bytes/);
  const j = await app.inject({
    method: 'POST',
    url: '/api/v1/policy/eval',
    headers: asAdmin,
    payload: { kind: 'message', body: 'x'.repeat(4096) },
  });
  t.equal(j.statusCode, 413);
});

t.test('policy/validate reads at most 256 KiB, whatever the body limit of the rest', async (t) => {
  const { app, services } = await build();
  const big = await app.inject({
    method: 'POST',
    url: '/api/v1/policy/validate',
    headers: { ...asAuditor, 'content-type': 'text/yaml' },
    payload: `# ${'x'.repeat(256 * 1024)}\n`,
  });
  t.equal(big.statusCode, 413);
  isError(t, big.json(), 'payload_too_large');
  t.match(big.json().message, /larger than 262144 bytes/);
  const json = await app.inject({
    method: 'POST',
    url: '/api/v1/policy/validate',
    headers: asAuditor,
    payload: { text: `# ${'x'.repeat(256 * 1024)}\n` },
  });
  t.equal(json.statusCode, 413, 'a JSON body too');
  t.equal(services.validated.length, 0, 'nothing was validated');
  const fits = await app.inject({
    method: 'POST',
    url: '/api/v1/policy/validate',
    headers: { ...asAuditor, 'content-type': 'text/yaml' },
    payload: `# ${'x'.repeat(200 * 1024)}\n`,
  });
  t.not(fits.statusCode, 413, 'a body under the cap is read');
  const evalBig = await app.inject({
    method: 'POST',
    url: '/api/v1/policy/eval',
    headers: asAdmin,
    payload: {
      kind: 'message',
      from: 'xmpp:a@corp.example',
      to: 'sip:c@partner.example',
      body: 'x'.repeat(300 * 1024),
    },
  });
  t.not(evalBig.statusCode, 413, 'other routes keep the app-wide limit (1 MiB)');
});

t.test('the Authorization header never reaches the logs', async (t) => {
  const lines: string[] = [];
  const stream = new Writable({
    write(chunk, _enc, cb) {
      lines.push(String(chunk));
      cb();
    },
  });
  const logger = pino({ level: 'trace' }, stream);
  const { app } = await build({}, { logger });
  await app.inject({ url: '/api/v1/policy', headers: asAdmin });
  await app.inject({ url: '/api/v1/policy', headers: { authorization: 'Bearer wrong-secret-token-123' } });
  await app.inject({ method: 'POST', url: '/api/v1/policy/reload', headers: asAuditor });
  await app.inject({ url: '/api/v1/audit?limit=0', headers: asAuditor });
  await app.inject({ url: '/nope?access_token=query-secret-456', headers: asAdmin });
  // Something that logs the headers directly is redacted too.
  app.log.info({ req: { headers: { authorization: `Bearer ${ADMIN}` } } }, 'headers');
  app.log.info({ headers: { authorization: `Bearer ${AUDITOR}` } }, 'headers');
  const all = lines.join('');
  t.ok(lines.length > 5, 'requests were logged');
  t.match(all, /incoming request/);
  t.match(all, /authentication failed/);
  t.match(all, /\[redacted\]/);
  for (const secret of [ADMIN, AUDITOR, 'wrong-secret-token-123', 'query-secret-456']) {
    t.notOk(all.includes(secret), `${secret.slice(0, 4)}… is not in the logs`);
  }
  t.notMatch(all, /Bearer /);
});

t.test('a parent pino logger keeps redacting its own secrets', async (t) => {
  const lines: string[] = [];
  const stream = new Writable({
    write(chunk, _enc, cb) {
      lines.push(String(chunk));
      cb();
    },
  });
  const logger = pino({ level: 'info', redact: { paths: ['token'], censor: '[redacted]' } }, stream);
  const { app } = await build({}, { logger });
  app.log.info({ token: 'xyz-secret-789' }, 'a token');
  t.notOk(lines.join('').includes('xyz-secret-789'));
});

t.test("a logger of the core's port shape gets no headers", async (t) => {
  const entries: unknown[] = [];
  const logFn = (a: unknown, b?: unknown) => {
    entries.push([a, b]);
  };
  const port: Logger = {
    trace: logFn,
    debug: logFn,
    info: logFn,
    warn: logFn,
    error: logFn,
    fatal: logFn,
    child: () => port,
  };
  const { app } = await build({}, { logger: port });
  await app.inject({ url: '/api/v1/policy', headers: asAdmin });
  await app.inject({ url: '/api/v1/policy', headers: { authorization: 'Bearer wrong-secret-token-123' } });
  const all = JSON.stringify(entries);
  t.match(all, /incoming request/);
  t.match(all, /"url":"\/api\/v1\/policy"/);
  t.notOk(all.includes(ADMIN));
  t.notOk(all.includes('wrong-secret-token-123'));
});
