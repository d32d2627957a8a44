// Fuzz (CI size; `npm run fuzz` runs the same properties longer): see targets.ts. Each
// target must make all its runs and find nothing: a crash, hang, wrong error type or
// unbounded output fails the property, and so this test.
import t from 'tap';
import { ALL_TARGETS, runTarget } from './run.js';

for (const name of ['http-routes']) {
  t.test(name, async (t) => {
    const target = ALL_TARGETS.find((x) => x.name === name);
    if (!target) return t.fail(`no fuzz target ${name}`);
    const r = await runTarget(target);
    t.equal(r.failed, false, r.report ?? `${name}: no finding`);
    t.equal(r.runs, target.ciRuns, 'every generated input was tried');
  });
}
