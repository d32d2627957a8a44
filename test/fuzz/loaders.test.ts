// Fuzz (CI size; `npm run fuzz` runs the same properties longer): see targets.ts.
import t from 'tap';
import { parseConfig } from '../../src/config.js';
import { SourceError } from '../../src/core/yaml-source.js';
import { ciTests } from './run.js';

ciTests(t, ['policy-loader', 'config-loader']);

// Found by config-loader: an adapter name outside the pattern (a capital letter) skipped the
// schema and crashed the loader with a TypeError on its block.
t.test('an adapter name with a capital letter is a problem with its line, not a crash', async (t) => {
  const text =
    'policy: { file: p.yaml }\nadapters:\n  failClosed: true\n  Corp: { type: xmpp, domains: [a.test] }\n';
  const err = (() => {
    try {
      parseConfig(text, 'p.yaml', {});
    } catch (e) {
      return e;
    }
    return null;
  })();
  t.type(err, SourceError);
  if (!(err instanceof SourceError)) return;
  t.match(err.problems, [
    { line: 3, message: /adapter name "failClosed" is not valid: use lower-case letters/ },
    { line: 4, message: /adapter name "Corp" is not valid/ },
  ]);
});
