import t from 'tap';
import { DEFAULT_CONFIG_FILE, loadConfig, parseConfig } from '../src/config.js';
import { silentLogger } from '../src/core/logger.js';
import { SourceError } from '../src/core/yaml-source.js';
import { createAdapters } from '../src/gateway.js';

const problemsOf = (text: string, env: Record<string, string> = {}) => {
  try {
    parseConfig(text, '/etc/parley.yaml', env);
  } catch (err) {
    if (err instanceof SourceError) return err.problems;
    throw err;
  }
  return [];
};

t.test('the embedded default loads with nothing set', async (t) => {
  const c = loadConfig(DEFAULT_CONFIG_FILE, {});
  t.same(c.listen, { host: '127.0.0.1', port: 8080 });
  t.equal(c.config.store, undefined, 'no store section: the SQLite file by default');
  t.match(c.policyFile, /policies\/default\.yaml$/);
  t.same(
    c.config.http?.tokens,
    { admin: '', auditor: '' },
    'unset tokens fall back to empty (role disabled)',
  );
});

t.test(
  'environment substitution, with defaults; unset variables are named with their key and line',
  async (t) => {
    const text =
      // biome-ignore lint/suspicious/noTemplateCurlyInString: the config's own ${VAR} syntax
      'http:\n  tokens:\n    admin: "${ADMIN_T}"\n    auditor: "${AUD_T:-fallback}"\npolicy: { file: p.yaml }\n';
    const c = parseConfig(text, '/etc/parley.yaml', { ADMIN_T: 's3cret' });
    t.same(c.config.http?.tokens, { admin: 's3cret', auditor: 'fallback' });
    const [p] = problemsOf(text);
    t.match(p, {
      file: '/etc/parley.yaml',
      line: 3,
      path: 'http.tokens.admin',
      message: /ADMIN_T is not set/,
    });
  },
);

t.test('schema errors name the file, line and key path', async (t) => {
  const problems = problemsOf(
    'policy: { file: p.yaml }\nhttp:\n  listen: "localhost"\naudit:\n  content: everything\n  failclosed: true\n',
  );
  t.equal(problems.length, 3, JSON.stringify(problems));
  t.match(problems[0], { line: 3, path: 'http.listen' });
  t.match(problems[1], { line: 5, path: 'audit.content' });
  t.match(problems[2], { line: 6, message: /unknown key "failclosed"/ });
});

t.test('a missing policy, an empty file and a domain served twice are refused', async (t) => {
  t.match(problemsOf('http: { listen: "127.0.0.1:1" }\n')[0], { message: /policy/ });
  t.match(problemsOf('')[0], { message: /empty/ });
  const dup = problemsOf(
    'policy: { file: p.yaml }\nadapters:\n  a: { type: xmpp, domains: [corp.test] }\n  b: { type: sip, domains: [Corp.Test] }\n',
  );
  t.match(dup[0], { line: 4, message: /also served by adapter "a"/ });
  t.match(problemsOf('policy: { file: p.yaml }\nhttp: { listen: "1.2.3.4:70000" }\n')[0], {
    message: /above 65535/,
  });
});

t.test('YAML syntax errors carry a line', async (t) => {
  const [p] = problemsOf('policy: { file: p.yaml\nhttp: [\n');
  t.ok(p && p.line >= 1);
});

t.test('a missing config file is a clear error', async (t) => {
  t.throws(() => loadConfig('/nonexistent/parley.yaml', {}), { message: /no such config file/ });
});

t.test('relative paths resolve against the config file', async (t) => {
  const c = parseConfig('policy: { file: ../policies/x.yaml }\n', '/opt/parley/config/parley.yaml', {});
  t.equal(c.policyFile, '/opt/parley/policies/x.yaml');
});

t.test('a misspelt key in an adapter block is named with the key it meant, at its line', async (t) => {
  const blocks: [string, string, string, string][] = [
    [
      'xmpp',
      'type: xmpp\n    service: "xmpp://127.0.0.1:5347"\n    componnet: gw.corp.test\n    secret: s3cret\n    domains: [corp.test]',
      'componnet',
      'component',
    ],
    [
      'matrix',
      'type: matrix\n    homeserver: "http://127.0.0.1:8008"\n    serverName: hs.test\n    registraton: reg.yaml\n    listen: "127.0.0.1:9000"\n    domains: [hs.test]',
      'registraton',
      'registration',
    ],
    [
      'sip',
      'type: sip\n    lisen: ["udp://127.0.0.1:0"]\n    domains: [partner.test]\n    peers: ["127.0.0.1/32"]',
      'lisen',
      'listen',
    ],
  ];
  for (const [type, block, wrong, meant] of blocks) {
    const text = `policy: { file: p.yaml }\nadapters:\n  link:\n    ${block}\n`;
    const line = text.split('\n').findIndex((l) => l.trim().startsWith(`${wrong}:`)) + 1;
    const loaded = parseConfig(text, '/etc/parley.yaml', {});
    const err = await createAdapters(loaded, silentLogger).then(
      () => t.fail(`${type}: refused`),
      (e: unknown) => e,
    );
    t.ok(err instanceof SourceError, `${type}: a SourceError`);
    if (!(err instanceof SourceError)) continue;
    t.match(
      err.problems[0],
      {
        file: '/etc/parley.yaml',
        line,
        path: `adapters.link.${wrong}`,
        message: new RegExp(
          `^unknown key "${wrong}": did you mean "${meant}"\\? \\(allowed: .*\\b${meant}\\b`,
        ),
      },
      type,
    );
    t.match(
      err.message,
      new RegExp(`^/etc/parley\\.yaml:${line}:5: adapters\\.link\\.${wrong}: unknown key`),
      type,
    );
    t.notMatch(err.message, /missing required key/, `${type}: the misspelling, not its consequence`);
  }
});

t.test('an unknown key with no valid key near it lists the allowed ones', async (t) => {
  const text =
    'policy: { file: p.yaml }\nadapters:\n  link:\n    type: sip\n    listen: ["udp://127.0.0.1:0"]\n    domains: [partner.test]\n    peers: ["127.0.0.1/32"]\n    colour: blue\n';
  const err = await createAdapters(parseConfig(text, '/etc/parley.yaml', {}), silentLogger).catch(
    (e: unknown) => e,
  );
  t.match(err, {
    problems: [{ line: 8, message: /^unknown key "colour" \(allowed: type, listen, domains/ }],
  });
});
