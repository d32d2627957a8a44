// The console's browser modules as served: every module the page can import is in the
// served list (a missing one would fail to load in the browser), and nothing else is.
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { CONSOLE_FILES, findConsoleDir } from '../../src/http/console/serve.js';

const dir = findConsoleDir()!;

t.test('every browser module in the console folder is served, and only those', async (t) => {
  const modules = readdirSync(dir).filter((f) => f.endsWith('.js'));
  t.same(
    Object.keys(CONSOLE_FILES)
      .filter((f) => f.endsWith('.js'))
      .sort(),
    modules.sort(),
  );
});

t.test('every import of a console module names a served file in the same folder', async (t) => {
  let seen = 0;
  for (const name of Object.keys(CONSOLE_FILES).filter((f) => f.endsWith('.js'))) {
    const text = readFileSync(join(dir, name), 'utf8');
    // Type-only imports live in JSDoc comments (`@import`), which the browser never loads.
    const code = text.replace(/\/\*[\s\S]*?\*\//g, '');
    for (const m of code.matchAll(/^\s*(?:import|export)\b[^'"]*?from\s*['"]([^'"]+)['"]/gm)) {
      const spec = m[1]!;
      t.match(spec, /^\.\/[\w-]+\.js$/, `${name} imports ${spec} from its own folder`);
      t.ok(spec.slice(2) in CONSOLE_FILES, `${name} imports ${spec}, which is served`);
      seen += 1;
    }
  }
  t.ok(seen > 50, `found ${seen} imports`);
});
