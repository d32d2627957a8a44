// Runs fuzz targets: a fixed number of runs (CI) or for a time budget (`npm run fuzz`).
import fc from 'fast-check';
import type { Test } from 'tap';
import { httpRoutes } from './http-target.js';
import { type FuzzTarget, TARGETS } from './targets.js';

export const ALL_TARGETS: readonly FuzzTarget[] = [...TARGETS, httpRoutes];

export interface FuzzRun {
  name: string;
  runs: number;
  failed: boolean;
  interrupted: boolean;
  seed: number;
  /** fast-check's report: the counterexample, its seed and path to replay it. */
  report: string | null;
}

/**
 * One target. `numRuns` for CI; with `seconds`, as many runs as fit (fast-check stops
 * between runs when the time is up). A given `seed` (and `path`) replays a counterexample.
 */
export async function runTarget(
  target: FuzzTarget,
  o: { numRuns?: number; seconds?: number; seed?: number; path?: string } = {},
): Promise<FuzzRun> {
  const { property, close } = await target.prepare();
  try {
    const params: fc.Parameters<[unknown]> = {
      numRuns: o.seconds ? Number.MAX_SAFE_INTEGER : (o.numRuns ?? target.ciRuns),
      ...(o.seconds ? { interruptAfterTimeLimit: o.seconds * 1000, markInterruptAsFailure: false } : {}),
      ...(o.seed !== undefined ? { seed: o.seed } : {}),
      ...(o.path !== undefined ? { path: o.path } : {}),
    };
    const d = await fc.check(property, params);
    return {
      name: target.name,
      runs: d.numRuns,
      failed: d.failed,
      interrupted: d.interrupted,
      seed: d.seed,
      report: d.failed
        ? `${fc.defaultReportMessage(d) ?? 'failed'}\nError: ${errorText(d.errorInstance)}`
        : null,
    };
  } finally {
    await close?.();
  }
}

const errorText = (e: unknown): string =>
  e instanceof Error
    ? `${e.name}: ${e.message}\n${e.stack?.split('\n').slice(1, 6).join('\n') ?? ''}`
    : String(e);

/** The CI form: one tap subtest per target, failing with fast-check's report. */
export function ciTests(t: Test, names: readonly string[]): void {
  for (const name of names) {
    const target = ALL_TARGETS.find((x) => x.name === name);
    if (!target) throw new Error(`no fuzz target ${name}`);
    t.test(name, async (t) => {
      const r = await runTarget(target);
      t.notOk(r.failed, r.failed ? `${name}: ${r.report}` : `${name}: ${r.runs} runs, no finding`);
      if (r.failed) t.comment(r.report ?? '');
    });
  }
}
