// The routes the compliance console uses, on the HTTP layer with fake services: the page
// and its assets, sign-in/out, search recording, explain, the live stream, holds and trim,
// each with its 401/403 answers.
import { readFileSync } from 'node:fs';
import { Value } from '@sinclair/typebox/value';
import type { FastifyInstance } from 'fastify';
import t from 'tap';
import type { AuditRecord } from '../../src/core/audit/record.js';
import { buildHttpApp, ErrorSchema } from '../../src/http/app.js';
import { CONSOLE_CSP, CONSOLE_FILES, findConsoleDir } from '../../src/http/console/serve.js';
import {
  type AdminServices,
  type AuditFilter,
  ExplanationSchema,
  type LegalHold,
  type LegalHoldInput,
  type RetentionServices,
  type TrimReport,
} from '../../src/http/services.js';
import { FakeServices, RECORDS } from '../fixtures/fake-services.js';

const ADMIN = 'adm-5f1c9e0b7a2d4c68b3e1';
const AUDITOR = 'aud-0c7d2e9f4b1a6358d2c4';
const asAdmin = { authorization: `Bearer ${ADMIN}` };
const asAuditor = { authorization: `Bearer ${AUDITOR}` };

class FakeRetention implements RetentionServices {
  holds = new Map<string, LegalHold>();
  trims = 0;
  n = 0;
  retentionDays = () => 30;
  listHolds = async () => [...this.holds.values()];
  setHold = async (input: LegalHoldInput, actor: string): Promise<LegalHold> => {
    if (!input.user && !input.domain && !input.from && !input.to) {
      throw new RangeError('a hold needs at least one of user, domain, from or to');
    }
    this.n += 1;
    const hold: LegalHold = {
      id: `h${this.n}`,
      ...input,
      createdAt: '2026-11-26T00:00:00.000Z',
      createdBy: actor,
    };
    this.holds.set(hold.id, hold);
    return hold;
  };
  releaseHold = async (id: string) => {
    const h = this.holds.get(id) ?? null;
    this.holds.delete(id);
    return h;
  };
  trim = async (): Promise<TrimReport> => {
    this.trims += 1;
    return {
      retentionDays: 30,
      cutoff: '2026-10-27T00:00:00.000Z',
      removed: 2,
      held: 1,
      anchor: { seq: 2, hash: RECORDS[1]!.hash },
    };
  };
}

interface Console {
  fake: FakeServices;
  services: AdminServices;
  retention: FakeRetention;
  /** Records the live stream will send as they are pushed. */
  push(r: AuditRecord): void;
  follows: { filter: AuditFilter; afterSeq: number | null; closed: boolean }[];
}

function consoleServices(opts: { recordAdminFails?: boolean } = {}): Console {
  const fake = new FakeServices(opts);
  const retention = new FakeRetention();
  const pushed: AuditRecord[] = [...RECORDS];
  const follows: Console['follows'] = [];
  const services: AdminServices = {
    ...fake,
    policy: {
      ...fake.policy,
      explain: (event: unknown) => ({
        classification: { fromZone: 'enterprise', toZone: 'partner', direction: 'outbound' as const },
        rules: [
          {
            id: 'partners-talk',
            effect: 'allow' as const,
            matched: true,
            because: ['holds: kind message is one of message'],
          },
          {
            id: 'block-rival',
            effect: 'deny' as const,
            matched: false,
            because: ['fails: party does not match'],
          },
        ],
        decision: fake.policy.evaluate(event),
      }),
    },
    audit: {
      ...fake.audit,
      follow: (filter, afterSeq, signal) => {
        const f = { filter, afterSeq, closed: false };
        follows.push(f);
        return (async function* () {
          try {
            let last = afterSeq ?? pushed.length;
            while (!signal.aborted) {
              for (const r of pushed) {
                if (r.seq > last && (!filter.decision || r.decision === filter.decision)) {
                  last = r.seq;
                  yield r;
                }
              }
              await new Promise((r) => setTimeout(r, 10));
            }
          } finally {
            f.closed = true;
          }
        })();
      },
    },
    retention,
  };
  return { fake, services, retention, push: (r) => pushed.push(r), follows };
}

async function build(c: Console, extra: { streamHeartbeatMs?: number } = {}): Promise<FastifyInstance> {
  const app = await buildHttpApp({
    services: c.services,
    tokens: { admin: ADMIN, auditor: AUDITOR },
    logger: false,
    ...extra,
  });
  t.teardown(() => app.close());
  return app;
}

t.test('the console page and its assets are served, self-contained, under a strict CSP', async (t) => {
  const app = await build(consoleServices());
  const page = await app.inject({ url: '/console' });
  t.equal(page.statusCode, 200);
  t.match(page.headers['content-type'], /^text\/html/);
  t.equal(page.headers['content-security-policy'], CONSOLE_CSP);
  t.match(CONSOLE_CSP, /default-src 'none'/);
  t.match(CONSOLE_CSP, /connect-src 'self'/);
  t.equal(page.headers['x-content-type-options'], 'nosniff');
  for (const id of [
    'token-input',
    'sign-in',
    'filter-decision',
    'search-input',
    'verify-button',
    'verify-result',
    'export-jsonl',
    'whatif-event',
    'whatif-submit',
    'whatif-result',
    'sign-out',
  ]) {
    t.match(page.body, `data-testid="${id}"`, `has ${id}`);
  }
  // audit-row is created by the script.
  t.match(readFileSync(`${findConsoleDir()}/traffic-rows.js`, 'utf8'), "testid: 'audit-row'");
  t.equal((await app.inject({ url: '/console/' })).body, page.body);

  const refs = [...page.body.matchAll(/(?:src|href)="([^"]+)"/g)].map((m) => m[1]!);
  t.ok(refs.includes('/console/console.js') && refs.includes('/console/console.css'));
  for (const ref of refs) {
    t.ok(ref.startsWith('/console/') || ref.startsWith('#') || ref === 'data:,', `${ref} is local`);
  }
  for (const [name, type] of Object.entries(CONSOLE_FILES)) {
    const r = await app.inject({ url: `/console/${name}` });
    t.equal(r.statusCode, 200, name);
    t.equal(r.headers['content-type'], type, `${name} content type`);
    // No request leaves the gateway: no absolute URL except the SVG namespace.
    const urls = r.body.match(/https?:\/\/[^\s'"`)]+/g) ?? [];
    t.same(
      urls.filter((u) => u !== 'http://www.w3.org/2000/svg'),
      [],
      `${name} names no external URL`,
    );
    const again = await app.inject({
      url: `/console/${name}`,
      headers: { 'if-none-match': String(r.headers.etag) },
    });
    t.equal(again.statusCode, 304, `${name} revalidates`);
  }
  const missing = await app.inject({ url: '/console/../package.json' });
  t.equal(missing.statusCode, 404);
  t.equal((await app.inject({ url: '/console/secrets.txt' })).statusCode, 404);
  // Console routes stay out of the API contract.
  const doc = (await app.inject({ url: '/api/v1/openapi.json', headers: asAuditor })).json();
  t.notOk(Object.keys(doc.paths).some((p) => p.startsWith('/console')));
  t.ok(doc.paths['/api/v1/session'] && doc.paths['/api/v1/holds'] && doc.paths['/api/v1/audit/stream']);
});

t.test('without console support (or with console: false) there is no console', async (t) => {
  const plain = await buildHttpApp({ services: new FakeServices(), tokens: { admin: ADMIN }, logger: false });
  t.teardown(() => plain.close());
  t.equal((await plain.inject({ url: '/console' })).statusCode, 404);
  t.equal((await plain.inject({ method: 'POST', url: '/api/v1/session', headers: asAdmin })).statusCode, 404);
  const off = await buildHttpApp({
    services: consoleServices().services,
    tokens: { admin: ADMIN },
    logger: false,
    console: false,
  });
  t.teardown(() => off.close());
  t.equal((await off.inject({ url: '/console' })).statusCode, 404);
});

t.test('sign-in checks the token, answers the role and is recorded; sign-out is recorded', async (t) => {
  const c = consoleServices();
  const app = await build(c);
  for (const headers of [{}, { authorization: 'Bearer nope' }, { authorization: `Basic ${ADMIN}` }]) {
    const r = await app.inject({ method: 'POST', url: '/api/v1/session', headers });
    t.equal(r.statusCode, 401);
    t.ok(Value.Check(ErrorSchema, r.json()));
  }
  t.equal(c.fake.adminCalls.length, 0, 'failed sign-ins record nothing');
  const a = await app.inject({
    method: 'POST',
    url: '/api/v1/session',
    headers: { ...asAuditor, 'x-parley-client': 'console' },
  });
  t.equal(a.statusCode, 200);
  t.same(a.json(), { role: 'auditor', features: { explain: true, stream: true, retention: true } });
  t.equal(a.headers['cache-control'], 'no-store');
  const b = await app.inject({ method: 'POST', url: '/api/v1/session', headers: asAdmin });
  t.equal(b.json().role, 'admin');
  t.same(c.fake.adminCalls, [
    { action: 'session.sign-in', actor: 'auditor', details: { client: 'console' } },
    { action: 'session.sign-in', actor: 'admin', details: { client: 'api' } },
  ]);
  t.equal((await app.inject({ method: 'DELETE', url: '/api/v1/session' })).statusCode, 401);
  const out = await app.inject({
    method: 'DELETE',
    url: '/api/v1/session',
    headers: { ...asAuditor, 'x-parley-client': 'bad client name!' },
  });
  t.equal(out.statusCode, 204);
  t.same(c.fake.adminCalls[2], { action: 'session.sign-out', actor: 'auditor', details: { client: 'api' } });
});

t.test('a sign-in the trail cannot record fails (503)', async (t) => {
  const app = await build(consoleServices({ recordAdminFails: true }));
  const r = await app.inject({ method: 'POST', url: '/api/v1/session', headers: asAuditor });
  t.equal(r.statusCode, 503);
  t.equal(r.json().error, 'audit_unavailable');
});

t.test('every search in content is recorded, through every route; 503 when it cannot be', async (t) => {
  const c = consoleServices();
  const app = await build(c);
  const searches = () => c.fake.adminCalls.filter((a) => a.action === 'audit.search');
  t.equal((await app.inject({ url: '/api/v1/audit?q=contract' })).statusCode, 401);
  t.same(c.fake.adminCalls, [], 'a refused request records nothing');

  // The list: the first page, and every later page (the client decides which is "first").
  const r = await app.inject({ url: '/api/v1/audit?q=contract&decision=allow', headers: asAuditor });
  t.equal(r.statusCode, 200);
  t.same(c.fake.adminCalls, [
    { action: 'audit.search', actor: 'auditor', details: { filter: { q: 'contract', decision: 'allow' } } },
  ]);
  const paged = await app.inject({ url: '/api/v1/audit?q=contract&before=3', headers: asAuditor });
  t.equal(paged.statusCode, 200);
  t.same(searches()[1], {
    action: 'audit.search',
    actor: 'auditor',
    details: { filter: { q: 'contract' }, before: 3 },
  });
  const skipped = await app.inject({ url: '/api/v1/audit?q=secret&before=999999999', headers: asAdmin });
  t.equal(skipped.statusCode, 200);
  t.same(searches()[2], {
    action: 'audit.search',
    actor: 'admin',
    details: { filter: { q: 'secret' }, before: 999999999 },
  });
  await app.inject({ url: '/api/v1/audit?decision=deny', headers: asAuditor });
  t.equal(searches().length, 3, 'filtering without q is not a content search');

  // The export: recorded with its filter, q included.
  const exp = await app.inject({ url: '/api/v1/audit/export?format=csv&q=contract', headers: asAuditor });
  t.equal(exp.statusCode, 200);
  t.same(c.fake.adminCalls.at(-1), {
    action: 'audit.export',
    actor: 'auditor',
    details: { format: 'csv', filter: { q: 'contract' } },
  });

  // The live stream (the console's live view): recorded before it opens.
  const base = await app.listen({ host: '127.0.0.1', port: 0 });
  const ac = new AbortController();
  const live = await fetch(`${base}/api/v1/audit/stream?q=contract&decision=deny`, {
    headers: { ...asAuditor, 'x-parley-client': 'console' },
    signal: ac.signal,
  });
  t.equal(live.status, 200);
  t.same(searches().at(-1), {
    action: 'audit.search',
    actor: 'auditor',
    details: { filter: { q: 'contract', decision: 'deny' }, live: true, after: null },
  });
  ac.abort();
  const before = c.fake.adminCalls.length;
  const plain = new AbortController();
  const unsearched = await fetch(`${base}/api/v1/audit/stream?decision=deny`, {
    headers: asAuditor,
    signal: plain.signal,
  });
  t.equal(unsearched.status, 200);
  t.equal(c.fake.adminCalls.length, before, 'a stream without q is not a content search');
  plain.abort();

  // Nothing is searched when the trail cannot record the search.
  const fc = consoleServices({ recordAdminFails: true });
  const failing = await build(fc);
  for (const url of ['/api/v1/audit?q=contract', '/api/v1/audit?q=contract&before=3']) {
    const f = await failing.inject({ url, headers: asAuditor });
    t.equal(f.statusCode, 503, url);
    t.equal(f.json().error, 'audit_unavailable');
  }
  const fx = await failing.inject({
    url: '/api/v1/audit/export?format=jsonl&q=contract',
    headers: asAuditor,
  });
  t.equal(fx.statusCode, 503, 'export');
  const fs = await failing.inject({ url: '/api/v1/audit/stream?q=contract', headers: asAuditor });
  t.equal(fs.statusCode, 503, 'stream');
  t.equal(fs.json().error, 'audit_unavailable');
  t.same(fc.follows, [], 'the stream was not opened');
});

t.test('policy/explain: every rule’s verdict, any role', async (t) => {
  const app = await build(consoleServices());
  const event = {
    kind: 'message',
    from: 'xmpp:alice@corp.example',
    to: 'sip:carol@partner.example',
    body: 'hi',
  };
  t.equal(
    (await app.inject({ method: 'POST', url: '/api/v1/policy/explain', payload: event })).statusCode,
    401,
  );
  const r = await app.inject({
    method: 'POST',
    url: '/api/v1/policy/explain',
    payload: event,
    headers: asAuditor,
  });
  t.equal(r.statusCode, 200);
  t.ok(Value.Check(ExplanationSchema, r.json()));
  t.match(r.json(), {
    decision: { decision: 'allow', rule: 'partners-talk' },
    rules: [{ matched: true }, { matched: false }],
  });
  const bad = await app.inject({
    method: 'POST',
    url: '/api/v1/policy/explain',
    payload: { kind: 'mesage' },
    headers: asAuditor,
  });
  t.equal(bad.statusCode, 400);
  t.match(bad.json(), { error: 'invalid_event', details: { field: '/kind' } });
});

/** Read an SSE response until `until` holds for the text so far. */
async function readUntil(res: Response, until: (text: string) => boolean, ms = 3000): Promise<string> {
  const reader = res.body!.pipeThrough(new TextDecoderStream()).getReader();
  let text = '';
  const deadline = Date.now() + ms;
  while (!until(text) && Date.now() < deadline) {
    const { value, done } = await Promise.race([
      reader.read(),
      new Promise<{ value: undefined; done: true }>((r) =>
        setTimeout(() => r({ value: undefined, done: true }), deadline - Date.now()),
      ),
    ]);
    if (done) break;
    text += value;
  }
  reader.releaseLock();
  return text;
}

t.test('audit/stream: server-sent events of new records, resumable, closed with the client', async (t) => {
  const c = consoleServices();
  const app = await build(c, { streamHeartbeatMs: 50 });
  const base = await app.listen({ host: '127.0.0.1', port: 0 });
  t.equal((await fetch(`${base}/api/v1/audit/stream`)).status, 401);
  const unknown = await fetch(`${base}/api/v1/audit/stream?decison=deny`, { headers: asAuditor });
  t.equal(unknown.status, 400);

  const ac = new AbortController();
  const res = await fetch(`${base}/api/v1/audit/stream?decision=deny`, {
    headers: asAuditor,
    signal: ac.signal,
  });
  t.equal(res.status, 200);
  t.match(res.headers.get('content-type'), /^text\/event-stream/);
  t.equal(res.headers.get('cache-control'), 'no-store');
  const newDeny: AuditRecord = { ...RECORDS[1]!, seq: 5, eventId: 'm-5' };
  const newAllow: AuditRecord = { ...RECORDS[0]!, seq: 6, eventId: 'm-6' };
  setTimeout(() => {
    c.push(newDeny);
    c.push(newAllow);
  }, 30);
  const text = await readUntil(res, (s) => s.includes('id: 5') && s.includes(': keep-alive'));
  t.match(text, /^retry: 3000\n/);
  t.match(text, /id: 5\nevent: record\ndata: \{.*"eventId":"m-5".*\}\n\n/);
  t.notMatch(text, /m-6/, 'filtered by decision');
  t.match(text, /: keep-alive\n\n/, 'heartbeat while idle');
  t.same(c.follows[0], { filter: { decision: 'deny' }, afterSeq: null, closed: false });
  ac.abort();
  const deadline = Date.now() + 2000;
  while (!c.follows[0]!.closed && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
  t.ok(c.follows[0]!.closed, 'the service stops following when the client goes away');

  // Resume with Last-Event-ID: records after it are sent again.
  const ac2 = new AbortController();
  const again = await fetch(`${base}/api/v1/audit/stream`, {
    headers: { ...asAdmin, 'last-event-id': '4' },
    signal: ac2.signal,
  });
  const resumed = await readUntil(again, (s) => s.includes('id: 6'));
  t.match(resumed, /id: 5\n[\s\S]*id: 6\n/);
  t.equal(c.follows[1]!.afterSeq, 4);
  // Closing the server ends open streams (it does not hang).
  const closed = await Promise.race([
    app.close().then(() => 'closed'),
    new Promise((r) => setTimeout(() => r('hung'), 3000)),
  ]);
  t.equal(closed, 'closed');
  ac2.abort();
});

t.test('holds: auditors list, admins set and release, each recorded', async (t) => {
  const c = consoleServices();
  const app = await build(c);
  t.equal((await app.inject({ url: '/api/v1/holds' })).statusCode, 401);
  const empty = await app.inject({ url: '/api/v1/holds', headers: asAuditor });
  t.same(empty.json(), { retentionDays: 30, holds: [] });
  const body = { user: 'alice@corp.example', reason: 'Matter 17' };
  t.equal((await app.inject({ method: 'POST', url: '/api/v1/holds', payload: body })).statusCode, 401);
  const denied = await app.inject({
    method: 'POST',
    url: '/api/v1/holds',
    payload: body,
    headers: asAuditor,
  });
  t.equal(denied.statusCode, 403);
  t.equal(denied.json().error, 'forbidden');
  const set = await app.inject({ method: 'POST', url: '/api/v1/holds', payload: body, headers: asAdmin });
  t.equal(set.statusCode, 201);
  t.match(set.json(), { id: 'h1', user: 'alice@corp.example', reason: 'Matter 17', createdBy: 'admin' });
  t.same(c.fake.adminCalls.at(-1), { action: 'hold.set', actor: 'admin', details: { hold: set.json() } });
  t.equal((await app.inject({ url: '/api/v1/holds', headers: asAuditor })).json().holds.length, 1);

  const noCriteria = await app.inject({
    method: 'POST',
    url: '/api/v1/holds',
    payload: { reason: 'everything' },
    headers: asAdmin,
  });
  t.match(noCriteria.json(), { error: 'invalid_body', message: /at least one of user, domain, from or to/ });
  const badField = await app.inject({
    method: 'POST',
    url: '/api/v1/holds',
    payload: { usr: 'x', reason: 'typo' },
    headers: asAdmin,
  });
  t.equal(badField.statusCode, 400);
  t.match(badField.json().message, /usr/);
  const badTime = await app.inject({
    method: 'POST',
    url: '/api/v1/holds',
    payload: { from: 'yesterday', reason: 'x' },
    headers: asAdmin,
  });
  t.equal(badTime.statusCode, 400);

  t.equal(
    (await app.inject({ method: 'DELETE', url: '/api/v1/holds/h1', headers: asAuditor })).statusCode,
    403,
  );
  const released = await app.inject({ method: 'DELETE', url: '/api/v1/holds/h1', headers: asAdmin });
  t.equal(released.statusCode, 200);
  t.equal(released.json().id, 'h1');
  t.same(c.fake.adminCalls.at(-1), { action: 'hold.release', actor: 'admin', details: { hold: set.json() } });
  const gone = await app.inject({ method: 'DELETE', url: '/api/v1/holds/h1', headers: asAdmin });
  t.equal(gone.statusCode, 404);
  t.equal(gone.json().error, 'not_found');
});

t.test('holds are not set or released unless the trail records them', async (t) => {
  const c = consoleServices({ recordAdminFails: true });
  const app = await build(c);
  const r = await app.inject({
    method: 'POST',
    url: '/api/v1/holds',
    payload: { domain: 'rival.example', reason: 'Inquiry' },
    headers: asAdmin,
  });
  t.equal(r.statusCode, 503);
  t.equal(c.retention.holds.size, 0, 'the hold was taken back');
  await c.retention.setHold({ domain: 'rival.example', reason: 'Inquiry' }, 'admin');
  const d = await app.inject({ method: 'DELETE', url: '/api/v1/holds/h2', headers: asAdmin });
  t.equal(d.statusCode, 503);
  t.equal(c.retention.holds.size, 1, 'still held');
});

t.test('audit/trim: admin only, answers the report, recorded', async (t) => {
  const c = consoleServices();
  const app = await build(c);
  t.equal((await app.inject({ method: 'POST', url: '/api/v1/audit/trim' })).statusCode, 401);
  t.equal(
    (await app.inject({ method: 'POST', url: '/api/v1/audit/trim', headers: asAuditor })).statusCode,
    403,
  );
  t.equal(c.retention.trims, 0);
  const r = await app.inject({ method: 'POST', url: '/api/v1/audit/trim', headers: asAdmin });
  t.equal(r.statusCode, 200);
  t.match(r.json(), { retentionDays: 30, removed: 2, held: 1, anchor: { seq: 2 } });
  t.match(c.fake.adminCalls.at(-1), { action: 'audit.trim', actor: 'admin', details: { removed: 2 } });
});
