import { existsSync, mkdtempSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import t from 'tap';
import { parse } from 'yaml';
import type { CliIO } from '../../src/cli/io.js';
import { matrixCommand } from '../../src/cli/matrix.js';
import { loadConfig } from '../../src/config.js';

const CONFIG = `policy: { file: policy.yaml }
adapters:
  hs:
    type: matrix
    homeserver: "http://127.0.0.1:8008"
    serverName: hs.test
    registration: matrix-registration.yaml
    listen: "127.0.0.1:9000"
    domains: [hs.test]
`;

async function run(argv: string[], dir: string) {
  let out = '';
  let err = '';
  const io: CliIO = {
    stdout: (s) => {
      out += s;
    },
    stderr: (s) => {
      err += s;
    },
    cwd: dir,
    env: {},
  };
  const code = await matrixCommand(argv, io, (file) => loadConfig(resolve(dir, file ?? 'parley.yaml'), {}));
  return { code, out, err };
}

function dirWith(config: string): string {
  const dir = mkdtempSync(join(tmpdir(), 'parley-cli-matrix-'));
  writeFileSync(join(dir, 'parley.yaml'), config);
  return dir;
}

t.test('registration writes the YAML next to the config, private, and refuses to overwrite', async (t) => {
  const dir = dirWith(CONFIG);
  const r = await run(['registration', '-c', 'parley.yaml'], dir);
  t.equal(r.code, 0, r.err);
  t.match(r.out, /wrote matrix-registration\.yaml/);
  const file = join(dir, 'matrix-registration.yaml');
  const reg = parse(readFileSync(file, 'utf8')) as Record<string, unknown>;
  t.match(reg, {
    id: 'parley-hs',
    url: 'http://127.0.0.1:9000',
    sender_localpart: 'parley',
    rate_limited: false,
    receive_ephemeral: true,
    'de.sorunome.msc2409.push_ephemeral': true,
    namespaces: { users: [{ exclusive: true, regex: '@_parley_.*:hs\\.test' }] },
  });
  t.match(reg.as_token, /^[A-Za-z0-9_-]{40,}$/);
  t.equal(statSync(file).mode & 0o777, 0o600);
  const again = await run(['registration', '-c', 'parley.yaml'], dir);
  t.equal(again.code, 2);
  t.match(again.err, /exists; pass --force/);
  const forced = await run(['registration', '-c', 'parley.yaml', '--force'], dir);
  t.equal(forced.code, 0);
  t.not((parse(readFileSync(file, 'utf8')) as { as_token: string }).as_token, reg.as_token, 'new tokens');
});

t.test('--out FILE and --out - (stdout)', async (t) => {
  const dir = dirWith(CONFIG);
  const r = await run(['registration', '-c', 'parley.yaml', '--out', 'elsewhere/reg.yaml'], dir);
  t.equal(r.code, 0);
  t.ok(existsSync(join(dir, 'elsewhere/reg.yaml')));
  t.match(r.err, /point adapters\.hs\.registration/);
  const s = await run(['registration', '-c', 'parley.yaml', '--out', '-'], dir);
  t.equal(s.code, 0);
  t.match(parse(s.out), { id: 'parley-hs' });
});

t.test('bad input exits 2 with what to change', async (t) => {
  const dir = dirWith(CONFIG);
  t.match(await run([], dir), { code: 2, out: /Usage: parley matrix registration/ });
  t.match(await run(['--help'], dir), { code: 0 });
  t.match(await run(['registration', '--help'], dir), { code: 0 });
  t.match(await run(['frobnicate'], dir), { code: 2, err: /unknown command/ });
  t.match(await run(['registration'], dir), { code: 2, err: /-c CONFIG is required/ });
  t.match(await run(['registration', '-c', 'parley.yaml', '--bogus'], dir), { code: 2, err: /bogus/ });
  t.match(await run(['registration', '-c', 'missing.yaml'], dir), { code: 2, err: /invalid configuration/ });
  t.match(await run(['registration', '-c', 'parley.yaml', '--adapter', 'x'], dir), {
    code: 2,
    err: /no Matrix adapter "x".*there is: hs/,
  });
  const noMatrix = dirWith('policy: { file: p.yaml }\n');
  t.match(await run(['registration', '-c', 'parley.yaml'], noMatrix), {
    code: 2,
    err: /no adapter of type matrix/,
  });
  const bad = dirWith(CONFIG.replace('"127.0.0.1:9000"', '"nowhere"'));
  t.match(await run(['registration', '-c', 'parley.yaml'], bad), { code: 2, err: /adapters\.hs\.listen/ });
  const two = dirWith(
    `${CONFIG}  hs2:\n    type: matrix\n    homeserver: "http://h:1"\n    serverName: two.test\n    registration: r2.yaml\n    listen: "127.0.0.1:9001"\n    domains: [two.test]\n`,
  );
  t.match(await run(['registration', '-c', 'parley.yaml'], two), { code: 2, err: /several Matrix links/ });
  t.match(await run(['registration', '-c', 'parley.yaml', '--adapter', 'hs2'], two), {
    code: 0,
    out: /r2\.yaml/,
  });
});
