// Policy loading benchmark: how long parsing, validating and compiling a policy takes, for
// the shipped policies, for large legal policies near the loader's limits, and for the
// adversarial files the limits exist for (an alias bomb, a problem-list bomb). The loader is
// shared by the admin API (POST /api/v1/policy/validate), the policy file watcher and the
// CLI; the limits are in docs/policy.md ("Limits").
// Run: node --import tsx bench/policy-load.ts   (one JSON line per input)
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { compilePolicySource } from '../src/core/policy/load.js';
import { SourceError } from '../src/core/yaml-source.js';
// Registers the networks this build speaks (address schemes, the policy's network names).
import '../src/networks.js';
import { aliasBomb, largePolicy, withDuplicates } from '../test/fixtures/policy-bombs.js';

const root = fileURLToPath(new URL('..', import.meta.url));
function measure(name: string, text: string): void {
  const t0 = performance.now();
  let outcome: string;
  let problems = 0;
  try {
    const p = compilePolicySource(text, name);
    outcome = `valid, ${p.ruleCount} rules`;
  } catch (err) {
    if (!(err instanceof SourceError)) throw err;
    problems = err.problems.length;
    outcome = err.problems[0]?.message.slice(0, 80) ?? '';
  }
  const ms = performance.now() - t0;
  console.log(
    JSON.stringify({
      input: name,
      bytes: Buffer.byteLength(text),
      ms: Math.round(ms * 10) / 10,
      problems,
      outcome,
      heapMB: Math.round(process.memoryUsage().heapUsed / 1e6),
    }),
  );
}

for (const dir of ['policies', 'policies/examples']) {
  for (const f of readdirSync(join(root, dir))
    .filter((x) => x.endsWith('.yaml'))
    .sort()) {
    measure(`${dir}/${f}`, readFileSync(join(root, dir, f), 'utf8'));
  }
}
// Legal, near the limits (docs/policy.md "Limits").
measure(
  'large: 3 zones x 50,000 domains, 100 rules, block list of 15,000',
  largePolicy(3, 50_000, 100, 15_000),
);
measure('large: 20 zones x 2,000 domains, 400 rules, block list of 100', largePolicy(20, 2000, 400, 100));
measure('large: 99 zones x 100 domains, 20 rules, block list of 1', largePolicy(99, 100, 20, 1));
// Refused by the limits.
measure('too large to index: 20 zones, 1,000 rules, block list of 5,000', largePolicy(20, 100, 1000, 5000));
measure('too many zones: 200', largePolicy(200, 10, 10, 1));
measure('duplicates: 20,000 domains, 5,000 listed twice', withDuplicates(20_000, 5_000).text);
measure('alias bomb: 5,000 domains aliased under 500 zone names', aliasBomb(5000, 500));
measure('alias bomb: 5,000 domains aliased under 60 zone names', aliasBomb(5000, 60));
measure('alias bomb: 1,000 domains aliased under 100 zone names', aliasBomb(1000, 100));
measure('alias bomb: 10 domains aliased under 500 zone names', aliasBomb(10, 500));
