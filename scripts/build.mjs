#!/usr/bin/env node
// Build dist/: compile TypeScript, then copy the non-TypeScript files the runtime serves
// (the compliance console's HTML, CSS and browser modules) next to their compiled module.
import { spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, readdirSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const tsc = spawnSync(
  process.execPath,
  [join(root, 'node_modules/typescript/bin/tsc'), '-p', 'tsconfig.build.json'],
  {
    cwd: root,
    stdio: 'inherit',
  },
);
if (tsc.status !== 0) process.exit(tsc.status ?? 1);

const assets = join(root, 'src/http/console');
const out = join(root, 'dist/http/console');
if (existsSync(assets)) {
  mkdirSync(out, { recursive: true });
  for (const f of readdirSync(assets)) {
    if (/\.(html|css|js|svg)$/.test(f)) cpSync(join(assets, f), join(out, f));
  }
}
