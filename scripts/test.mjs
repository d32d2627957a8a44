#!/usr/bin/env node
// The whole test suite on a fresh machine: install what the tests need, build, typecheck,
// lint, then run every test (unit and integration against real servers the harness
// starts). Ends with one line: `N passed, N failed` (skips and todos count as failed).
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const args = process.argv.slice(2);
const quick = args.includes('--no-checks');
const files = args.filter((a) => !a.startsWith('--'));

const run = (cmd, argv, opts = {}) =>
  spawnSync(cmd, argv, { cwd: root, stdio: 'inherit', ...opts }).status ?? 1;
const have = (bin) => spawnSync('sh', ['-c', `command -v ${bin}`], { stdio: 'ignore' }).status === 0;

function step(name) {
  process.stdout.write(`\n== ${name}\n`);
}

// 1. Node dependencies.
if (!existsSync(resolve(root, 'node_modules/.package-lock.json'))) {
  step('npm ci');
  if (run('npm', ['ci', '--no-audit', '--no-fund']) !== 0) {
    console.log('0 passed, 1 failed');
    process.exit(1);
  }
}

// 2. System packages the integration tests need (the harness also checks, per server).
const apt = [];
if (!have('redis-server')) apt.push('redis-server');
// The image replay (test/container) compiles the SQLite driver as the Dockerfile's deps stage does.
for (const tool of ['python3', 'make', 'g++']) if (!have(tool)) apt.push(tool);
// The archive tests start their own PostgreSQL server from /usr/lib/postgresql/*/bin.
const pgBin = '/usr/lib/postgresql';
if (!existsSync(pgBin) || !readdirSync(pgBin).some((v) => existsSync(`${pgBin}/${v}/bin/initdb`)))
  apt.push('postgresql');
if (apt.length) {
  step(`apt-get install ${apt.join(' ')}`);
  const isRoot = process.getuid?.() === 0;
  const sudo = isRoot ? [] : ['sudo'];
  if (
    run(sudo[0] ?? 'apt-get', [...sudo.slice(1), ...(isRoot ? [] : ['apt-get']), 'install', '-y', ...apt], {
      env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' },
    }) !== 0
  ) {
    run(sudo[0] ?? 'apt-get', [...(isRoot ? [] : ['apt-get']), 'update']);
    run(sudo[0] ?? 'apt-get', [...(isRoot ? [] : ['apt-get']), 'install', '-y', ...apt], {
      env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' },
    });
  }
}

let passed = 0;
let failed = 0;
const check = (name, ok) => {
  if (ok) passed++;
  else {
    failed++;
    console.log(`FAILED: ${name}`);
  }
};

// 3. Build (the CLI tests run bin/parley.js), typecheck, lint.
step('build');
check('build', run('npm', ['run', '-s', 'build']) === 0);
if (!quick) {
  step('typecheck');
  check('typecheck', run('npm', ['run', '-s', 'typecheck']) === 0);
  step('lint');
  check('lint', run('npx', ['biome', 'check', '.']) === 0);
}

// 4. Tests. tap prints a summary comment `# { total: N, pass: N, fail: N, ... }`.
step('tests');
const tap = spawn('npx', ['tap', '--reporter=tap', ...files], {
  cwd: root,
  stdio: ['ignore', 'pipe', 'inherit'],
});
let tail = '';
tap.stdout.on('data', (d) => {
  process.stdout.write(d);
  tail = (tail + d.toString()).slice(-4000);
});
const code = await new Promise((r) => tap.on('close', r));
const m = /# \{ total: (\d+)(?:, pass: (\d+))?(?:, fail: (\d+))?(?:, skip: (\d+))?(?:, todo: (\d+))?/.exec(
  tail,
);
if (m) {
  passed += Number(m[2] ?? 0);
  failed += Number(m[3] ?? 0) + Number(m[4] ?? 0) + Number(m[5] ?? 0);
  if (code !== 0 && Number(m[3] ?? 0) === 0) check('tap exit status', false);
} else {
  check('tap produced a summary', false);
}
// 5. The unit tests again under Node 24, the image's Node (scripts/test-node24.mjs).
if (files.length === 0) {
  step('unit tests under Node 24');
  const n24 = spawnSync(process.execPath, ['scripts/test-node24.mjs'], {
    cwd: root,
    encoding: 'utf8',
    maxBuffer: 256 * 1024 * 1024,
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  process.stdout.write(n24.stdout ?? '');
  const m24 = /(\d+) passed, (\d+) failed\s*$/.exec(n24.stdout ?? '');
  if (m24) {
    passed += Number(m24[1]);
    failed += Number(m24[2]);
  } else check('unit tests under Node 24', false);
}
console.log(`${passed} passed, ${failed} failed`);
process.exit(failed === 0 ? 0 : 1);
