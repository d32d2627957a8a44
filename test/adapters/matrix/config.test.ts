import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import {
  loadRegistration,
  MatrixConfigProblem,
  makeRegistration,
  registrationYaml,
  resolveMatrixConfig,
} from '../../../src/adapters/matrix/config.js';
import { createMatrixAdapter } from '../../../src/adapters/matrix/index.js';
import { AuditWriter } from '../../../src/core/audit/writer.js';
import { silentLogger } from '../../../src/core/logger.js';
import { Pipeline } from '../../../src/core/pipeline.js';
import { compilePolicySource } from '../../../src/core/policy/index.js';
import { MemoryStore } from '../../../src/store/memory.js';

const block = {
  type: 'matrix',
  homeserver: 'http://127.0.0.1:8008/',
  serverName: 'HS.test',
  registration: 'reg.yaml',
  listen: '127.0.0.1:9000',
  domains: ['hs.test'],
};

t.test('defaults and resolution', async (t) => {
  const c = resolveMatrixConfig(block, '/etc/parley');
  t.match(c, {
    homeserver: 'http://127.0.0.1:8008',
    serverName: 'hs.test',
    registrationFile: '/etc/parley/reg.yaml',
    listen: { host: '127.0.0.1', port: 9000 },
    url: 'http://127.0.0.1:9000',
    ghostPrefix: '_parley_',
    senderLocalpart: 'parley',
    queue: { maxLength: 10000, retryInitialMs: 500, retryMaxMs: 30000 },
  });
  t.equal(
    resolveMatrixConfig({ ...block, registration: '/abs/r.yaml' }, '/x').registrationFile,
    '/abs/r.yaml',
  );
});

t.test('problems name the key', async (t) => {
  const problem = (b: Record<string, unknown>) => {
    try {
      resolveMatrixConfig(b, '/x');
    } catch (err) {
      if (err instanceof MatrixConfigProblem) return err;
      throw err;
    }
    return null;
  };
  t.same(problem({ ...block, homeserver: 'ftp://x' })?.path, ['homeserver']);
  t.same(problem({ ...block, listen: 'nope' })?.path, ['listen']);
  t.same(problem({ ...block, listen: '127.0.0.1:70000' })?.path, ['listen']);
  t.same(problem({ ...block, queue: { maxLength: 0 } })?.path, ['queue', 'maxLength']);
  t.same(problem({ ...block, queue: { retryInitialMs: 100, retryMaxMs: 50 } })?.path, [
    'queue',
    'retryMaxMs',
  ]);
  t.same(problem({ ...block, ghostPrefix: 'UPPER' })?.path, ['ghostPrefix']);
  t.same(problem({ ...block, surprise: 1 })?.path, ['surprise']);
  const { serverName: _s, ...noServer } = block;
  t.ok(problem(noServer), 'serverName is required');
});

t.test('registration: tokens, exclusive namespace, ephemeral on, rate limits off', async (t) => {
  const cfg = resolveMatrixConfig(block, '/x');
  const a = makeRegistration('hs', cfg);
  const b = makeRegistration('hs', cfg);
  t.not(a.as_token, b.as_token, 'random tokens');
  t.not(a.as_token, a.hs_token);
  t.ok(a.as_token.length >= 40);
  t.match(a, {
    id: 'parley-hs',
    url: 'http://127.0.0.1:9000',
    sender_localpart: 'parley',
    rate_limited: false,
    receive_ephemeral: true,
    'de.sorunome.msc2409.push_ephemeral': true,
  });
  const users = a.namespaces.users ?? [];
  t.equal(users.length, 1);
  t.equal(users[0]?.exclusive, true);
  const re = new RegExp(`^${users[0]?.regex}$`);
  t.ok(re.test('@_parley_bob=40corp.test:hs.test'));
  t.notOk(re.test('@alice:hs.test'));
  t.notOk(re.test('@_parley_bob=40corp.test:hsxtest'), 'dots are escaped');

  const dir = mkdtempSync(join(tmpdir(), 'parley-reg-'));
  writeFileSync(join(dir, 'r.yaml'), registrationYaml(a));
  t.same(loadRegistration(join(dir, 'r.yaml')), a, 'round trip through YAML');
});

t.test('registration file problems point at `registration`', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'parley-reg-'));
  t.throws(() => loadRegistration(join(dir, 'missing.yaml')), {
    path: ['registration'],
    message: /parley matrix registration/,
  });
  writeFileSync(join(dir, 'bad.yaml'), 'id: [');
  t.throws(() => loadRegistration(join(dir, 'bad.yaml')), {
    path: ['registration'],
    message: /not valid YAML/,
  });
  writeFileSync(
    join(dir, 'short.yaml'),
    'id: x\nurl: null\nas_token: a\nhs_token: b\nsender_localpart: p\nnamespaces: {}\n',
  );
  t.throws(() => loadRegistration(join(dir, 'short.yaml')), { path: ['registration'], message: /as_token/ });
});

t.test('the factory validates the block and the registration', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'parley-reg-'));
  const deps = { logger: silentLogger, configDir: dir };
  t.throws(() => createMatrixAdapter('hs', { ...block, listen: 'x' }, deps), {
    path: ['listen'],
    message: /listen/,
  });
  t.throws(() => createMatrixAdapter('hs', block, deps), {
    path: ['registration'],
    message: /does not exist/,
  });
  writeFileSync(
    join(dir, 'reg.yaml'),
    registrationYaml(makeRegistration('hs', resolveMatrixConfig(block, dir))),
  );
  const a = createMatrixAdapter('hs', block, deps);
  t.match(a, { name: 'hs', network: 'matrix', domains: ['hs.test'] });
  // Built, not started: it has reported no state, so the gateway shows its link starting.
  const store = new MemoryStore();
  const policy = compilePolicySource(
    'apiVersion: parley/v1\nkind: Policy\nmetadata: { name: t, version: "1" }\nzones: { a: { domains: [hs.test] } }\ndefaults: { decision: deny }\nrules: []\n',
    'p.yaml',
  );
  const audit = new AuditWriter(store.audit, {});
  t.teardown(() => audit.close());
  const pipeline = new Pipeline({ policy: () => policy, audit, store, logger: silentLogger });
  pipeline.register(a);
  t.equal(pipeline.linkStatus().get('hs')?.state, 'starting');
  t.ok(a.capabilities.edits && a.capabilities.html && a.capabilities.attachments);
});
