#!/usr/bin/env node
// `npm run fuzz`: the fuzz properties of test/fuzz/ (the CI runs them a few hundred times
// each), run for a time budget. Prints each target's runs and any counterexample with the
// seed and path that replay it.
//
//   FUZZ_SECONDS=600 npm run fuzz                 # 10 minutes, shared by every target
//   npm run fuzz -- sip-parser sip-framer-noise   # only these targets
//   FUZZ_SEED=-123 FUZZ_PATH=45 npm run fuzz -- sip-parser   # replay a counterexample
//
// Exit status: 0 when no target found anything, 1 otherwise, 2 on bad usage.
import { register } from 'tsx/esm/api';

register();
const { ALL_TARGETS, runTarget } = await import('../test/fuzz/run.ts');

const seconds = Number(process.env.FUZZ_SECONDS ?? 60);
if (!Number.isFinite(seconds) || seconds <= 0) {
  console.error(
    `FUZZ_SECONDS must be a positive number of seconds (got ${JSON.stringify(process.env.FUZZ_SECONDS)})`,
  );
  process.exit(2);
}
const seed = process.env.FUZZ_SEED === undefined ? undefined : Number(process.env.FUZZ_SEED);
const path = process.env.FUZZ_PATH;
if (seed !== undefined && !Number.isInteger(seed)) {
  console.error(`FUZZ_SEED must be an integer (the seed fast-check printed), got ${process.env.FUZZ_SEED}`);
  process.exit(2);
}

const wanted = process.argv.slice(2);
const unknown = wanted.filter((n) => !ALL_TARGETS.some((t) => t.name === n));
if (unknown.length) {
  console.error(
    `unknown target(s): ${unknown.join(', ')}; the targets are: ${ALL_TARGETS.map((t) => t.name).join(', ')}`,
  );
  process.exit(2);
}
const targets = wanted.length ? ALL_TARGETS.filter((t) => wanted.includes(t.name)) : ALL_TARGETS;
const share = seconds / targets.length;
console.log(`fuzzing ${targets.length} target(s) for ${seconds} s (${share.toFixed(1)} s each)`);

let findings = 0;
for (const target of targets) {
  const started = Date.now();
  // A replay with FUZZ_PATH runs the one counterexample; with the seed alone, the same
  // sequence of inputs again (for the time budget).
  const r = await runTarget(
    target,
    seed === undefined ? { seconds: share } : path ? { seed, path, numRuns: 1 } : { seed, seconds: share },
  );
  const took = ((Date.now() - started) / 1000).toFixed(1);
  if (r.failed) {
    findings++;
    console.log(`FAIL ${target.name}: ${r.runs} runs in ${took} s, seed ${r.seed}`);
    console.log(r.report);
    console.log(
      `replay: FUZZ_SEED=${r.seed} npm run fuzz -- ${target.name}  (add FUZZ_PATH from the report to go straight to it)`,
    );
  } else {
    console.log(`ok   ${target.name}: ${r.runs} runs in ${took} s, seed ${r.seed}, no finding`);
  }
}
console.log(findings ? `${findings} target(s) found something` : 'no finding');
process.exit(findings ? 1 : 0);
