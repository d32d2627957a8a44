// The import rules of docs/architecture.md, enforced: the core imports no adapter, store
// implementation, HTTP or Redis code; adapters and stores import only the core; adapters
// never import each other. And the core's code names no network: networks are plug-ins.
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import t from 'tap';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const src = join(root, 'src');

function files(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const p = join(dir, name);
    return statSync(p).isDirectory() ? files(p) : p.endsWith('.ts') ? [p] : [];
  });
}

interface Import {
  file: string;
  spec: string;
  /** Path below src/ for relative imports, else null. */
  target: string | null;
}

function importsOf(file: string): Import[] {
  const text = readFileSync(file, 'utf8');
  const out: Import[] = [];
  const re =
    /(?:import|export)\s[^'"]*?from\s*['"]([^'"]+)['"]|import\(\s*['"]([^'"]+)['"]\s*\)|import\s+['"]([^'"]+)['"]/g;
  for (const m of text.matchAll(re)) {
    const spec = (m[1] ?? m[2] ?? m[3])!;
    const target = spec.startsWith('.') ? relative(src, resolve(dirname(file), spec)) : null;
    out.push({ file: relative(src, file), spec, target });
  }
  return out;
}

const all = files(src).flatMap(importsOf);
const area = (p: string) => p.split('/')[0]!;

t.test('the import scanner sees the imports it judges', async (t) => {
  t.ok(all.length > 20, `found ${all.length} imports`);
  t.ok(
    all.some((i) => i.file === 'core/pipeline.ts' && i.target === 'core/address.js'),
    'pipeline -> address is seen',
  );
});

t.test('the core imports only the core and neutral libraries', async (t) => {
  const allowedPackages = [/^node:/, /^@sinclair\/typebox/, /^yaml$/, /^sdp-transform$/, /^re2js$/];
  for (const i of all.filter((i) => area(i.file) === 'core')) {
    if (i.target !== null) t.equal(area(i.target), 'core', `${i.file} imports ${i.spec}`);
    else
      t.ok(
        allowedPackages.some((re) => re.test(i.spec)),
        `${i.file} imports package ${i.spec}`,
      );
  }
});

t.test('stores import only the core, their own folder and their driver', async (t) => {
  for (const i of all.filter((i) => area(i.file) === 'store')) {
    if (i.target !== null) t.ok(['core', 'store'].includes(area(i.target)), `${i.file} imports ${i.spec}`);
    else
      t.ok(
        /^(node:|ioredis$|better-sqlite3$|postgres$|@sinclair\/typebox)/.test(i.spec),
        `${i.file} imports package ${i.spec}`,
      );
  }
});

t.test('adapters import only the core and their own folder, never each other', async (t) => {
  for (const i of all.filter((i) => area(i.file) === 'adapters')) {
    if (i.target === null) {
      // Adapters reach shared state only through the Store port, and log/measure through the core's ports.
      t.notOk(/^(ioredis|pino|prom-client)/.test(i.spec), `${i.file} imports package ${i.spec}`);
      continue;
    }
    const own = i.file.split('/').slice(0, 2).join('/');
    const ok = area(i.target) === 'core' || (i.file.split('/').length > 2 && i.target.startsWith(`${own}/`));
    t.ok(ok, `${i.file} imports ${i.spec}`);
  }
});

t.test('HTTP imports only the core and its own folder, never stores or adapters', async (t) => {
  for (const i of all.filter((i) => area(i.file) === 'http')) {
    if (i.target !== null) t.ok(['core', 'http'].includes(area(i.target)), `${i.file} imports ${i.spec}`);
    else t.notOk(/^(ioredis|@xmpp|matrix-js-sdk)/.test(i.spec), `${i.file} imports package ${i.spec}`);
  }
});

t.test("the core's code names no network (networks are plug-ins: src/networks.ts)", async (t) => {
  const core = files(join(src, 'core'));
  t.ok(core.length > 20, `read ${core.length} core files`);
  for (const file of core) {
    // The code only: block comments, and line comments that start a line or follow a blank.
    const code = readFileSync(file, 'utf8')
      .replace(/\/\*[\s\S]*?\*\//g, '')
      .replace(/(^|\s)\/\/.*$/gm, '$1');
    const named = /\b(?:xmpp|matrix|sips?|jid|jingle)\b/i.exec(code);
    t.notOk(named, `${relative(src, file)}: ${named ? `names "${named[0]}"` : 'names no network'}`);
  }
});
