// The hs_token guards every route of the appservice API however its path is spelt: the
// router decodes `%5F`, `%61`..., so a check on the raw URL text would let
// `/%5Fmatrix/app/v1/transactions/x` through. These requests go to the real listener of a
// running Matrix adapter, wired to a pipeline and an audit trail.
import { mkdtempSync, writeFileSync } from 'node:fs';
import { request } from 'node:http';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { MatrixAdapter } from '../../../src/adapters/matrix/adapter.js';
import { buildAppserviceApp } from '../../../src/adapters/matrix/appservice.js';
import { makeRegistration, resolveMatrixConfig } from '../../../src/adapters/matrix/config.js';
import type { HomeserverApi } from '../../../src/adapters/matrix/homeserver.js';
import { AuditWriter } from '../../../src/core/audit/writer.js';
import { namespacedState } from '../../../src/core/delivery/state.js';
import { silentLogger } from '../../../src/core/logger.js';
import { Pipeline } from '../../../src/core/pipeline.js';
import { compilePolicySource } from '../../../src/core/policy/index.js';
import { MemoryStore } from '../../../src/store/memory.js';
import { encodedVariants } from '../../fixtures/encoded-paths.js';
import { MemoryAdapter } from '../../fixtures/memory-adapter.js';

const POLICY = `
apiVersion: parley/v1
kind: Policy
metadata: { name: t, version: "1" }
zones:
  enterprise: { domains: [corp.test] }
  partner: { domains: [hs.test] }
defaults: { decision: deny }
rules:
  - id: partners
    match: { between: [{ zone: enterprise }, { zone: partner }] }
    effect: allow
`;

/** A homeserver that answers every call and remembers it. */
function fakeHomeserver(calls: string[]): HomeserverApi {
  const answers: Record<string, unknown> = {
    ping: true,
    createDirectRoom: '!room:hs.test',
    joinedRooms: [],
    membership: null,
    sendEvent: '$sent',
  };
  return new Proxy({} as HomeserverApi, {
    get: (_target, name) => async () => {
      calls.push(String(name));
      return answers[String(name)];
    },
  });
}

/** Send one raw request: the path goes on the wire exactly as written. */
function send(
  base: string,
  method: string,
  path: string,
  body: string | null,
  headers: Record<string, string> = {},
): Promise<{ status: number; body: string }> {
  const u = new URL(base);
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
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body: text }));
      },
    );
    req.on('error', reject);
    req.end(body ?? undefined);
  });
}

async function setup() {
  const dir = mkdtempSync(join(tmpdir(), 'parley-matrix-paths-'));
  const cfg = resolveMatrixConfig(
    {
      type: 'matrix',
      homeserver: 'http://127.0.0.1:1',
      serverName: 'hs.test',
      registration: 'reg.yaml',
      listen: '127.0.0.1:0',
      domains: ['hs.test'],
    },
    dir,
  );
  const registration = makeRegistration('hs', cfg);
  writeFileSync(join(dir, 'reg.yaml'), JSON.stringify(registration));
  const calls: string[] = [];
  const store = new MemoryStore();
  const audit = new AuditWriter(store.audit, {});
  const policy = compilePolicySource(POLICY, 'p.yaml');
  const pipeline = new Pipeline({ policy: () => policy, audit, store, logger: silentLogger });
  const corp = new MemoryAdapter('corp', 'xmpp', ['corp.test']);
  const matrix = new MatrixAdapter({
    name: 'hs',
    config: cfg,
    registration,
    homeserver: fakeHomeserver(calls),
    logger: silentLogger,
  });
  await corp.start(pipeline.register(corp));
  await matrix.start(pipeline.register(matrix));
  t.teardown(async () => {
    await matrix.stop();
    await audit.close();
  });
  calls.length = 0;
  return { store, corp, matrix, calls, hsToken: registration.hs_token, base: matrix.url as string };
}

// A direct room mapped by an invite to a ghost, then a message in it: what a forger sends.
const forged = (n: number) =>
  JSON.stringify({
    events: [
      {
        type: 'm.room.member',
        event_id: `$inv${n}`,
        room_id: '!dm:hs.test',
        sender: '@ceo:hs.test',
        state_key: '@_parley_boss=40corp.test:hs.test',
        content: { membership: 'invite', is_direct: true },
      },
      {
        type: 'm.room.message',
        event_id: `$forged${n}`,
        room_id: '!dm:hs.test',
        sender: '@ceo:hs.test',
        origin_server_ts: 1_700_000_000_000,
        content: { msgtype: 'm.text', body: 'wire the money' },
      },
    ],
  });

t.test('a forged transaction on a percent-encoded path is refused and reaches nothing', async (t) => {
  const { store, corp, calls, hsToken, base } = await setup();
  const paths = [
    '/%5Fmatrix/app/v1/transactions/x1',
    '/%5fmatrix/app/v1/transactions/x2',
    '/_matrix/%61pp/v1/transactions/x3',
    '/_%6Datrix/app/v1/transactions/x4',
    '/_matrix/app/%761/transactions/x5',
    '/_matrix/app/v1/%74ransactions/x6',
    '/%5F%6d%61%74%72%69%78/%61%70%70/v1/transactions/x7',
  ];
  for (const [i, path] of paths.entries()) {
    const none = await send(base, 'PUT', path, forged(i));
    t.equal(none.status, 401, `${path} without a token`);
    t.match(JSON.parse(none.body), { errcode: 'M_UNAUTHORIZED' });
    const wrong = await send(base, 'PUT', path, forged(i), { authorization: 'Bearer forged' });
    t.equal(wrong.status, 403, `${path} with a wrong token`);
    const wrongQuery = await send(base, 'PUT', `${path}?access_token=forged`, forged(i));
    t.equal(wrongQuery.status, 403, `${path} with a wrong access_token`);
  }
  t.same(corp.delivered, [], 'nothing was delivered');
  t.equal(await store.audit.head(), null, 'nothing was audited');
  t.same(calls, [], 'the homeserver was not called (no ghost joined a forged room)');

  // The same transaction with the token is taken: the refusals above are the token's doing.
  const ok = await send(base, 'PUT', '/%5Fmatrix/app/v1/transactions/real', forged(99), {
    authorization: `Bearer ${hsToken}`,
  });
  t.equal(ok.status, 200);
  t.equal(corp.delivered.length, 1, 'delivered with the token');
  t.not(await store.audit.head(), null, 'and audited');
});

t.test('every appservice route refuses every spelling of its path without the token', async (t) => {
  const seen: string[] = [];
  const app = buildAppserviceApp({
    hsToken: 'hs-token-0123456789abcdef',
    state: namespacedState(new MemoryStore(), 'matrix:hs:'),
    bodyLimit: 65536,
    logger: silentLogger,
    handlers: {
      onTransaction: async (txn) => {
        seen.push(txn.txnId);
      },
      onUserQuery: async (userId) => {
        seen.push(userId);
        return true;
      },
    },
  });
  const routes: { method: string; url: string }[] = [];
  app.addHook('onRoute', (r) => {
    for (const method of [r.method].flat()) routes.push({ method, url: r.url });
  });
  const base = await app.listen({ host: '127.0.0.1', port: 0 });
  t.teardown(() => app.close());
  t.ok(routes.length >= 4, `routes collected: ${routes.map((r) => `${r.method} ${r.url}`).join(', ')}`);
  for (const route of routes) {
    const path = route.url.replace(/:(\w+)/g, (_m, name: string) => `${name}-1`);
    const body = route.method === 'PUT' || route.method === 'POST' ? '{"events":[]}' : null;
    for (const variant of [path, ...encodedVariants(path)]) {
      const r = await send(base, route.method, variant, body);
      t.equal(r.status, 401, `${route.method} ${variant}`);
    }
  }
  t.same(seen, [], 'no handler ran');
});

t.test(
  'a request trickled to the appservice listener is cut off (408), the handler never runs',
  async (t) => {
    const seen: string[] = [];
    const app = buildAppserviceApp({
      hsToken: 'hs-token-0123456789abcdef',
      state: namespacedState(new MemoryStore(), 'matrix:hs:'),
      bodyLimit: 65536,
      logger: silentLogger,
      requestTimeoutMs: 400,
      handlers: {
        onTransaction: async (txn) => {
          seen.push(txn.txnId);
        },
        onUserQuery: async () => true,
      },
    });
    const base = new URL(await app.listen({ host: '127.0.0.1', port: 0 }));
    t.teardown(() => app.close());
    const socket = connect({ host: '127.0.0.1', port: Number(base.port) });
    await new Promise((r) => socket.once('connect', r));
    let received = '';
    let closed = false;
    socket.on('data', (d) => {
      received += d.toString('latin1');
    });
    socket.on('error', () => {});
    socket.on('close', () => {
      closed = true;
    });
    const body = JSON.stringify({ events: [{ type: 'm.room.message', pad: 'x'.repeat(200) }] });
    socket.write(
      'PUT /_matrix/app/v1/transactions/slow HTTP/1.1\r\nHost: x\r\n' +
        'Authorization: Bearer hs-token-0123456789abcdef\r\nContent-Type: application/json\r\n' +
        `Content-Length: ${body.length}\r\n\r\n`,
    );
    // One byte per 50 ms: the body would take over 10 s, far past the 400 ms allowed.
    for (const ch of body) {
      if (closed) break;
      socket.write(ch);
      await new Promise((r) => setTimeout(r, 50));
    }
    t.ok(closed, 'the listener closed the connection');
    t.match(received, /^HTTP\/1\.1 408 /);
    t.same(seen, [], 'the transaction was not processed');
  },
);
