// The adapter blocks the chart renders (CI values, with the listen/url defaults the chart
// fills in) are accepted by each adapter's own config validation, so that a values file
// that lints and renders also starts.
import { readdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import t from 'tap';
import { parseAllDocuments } from 'yaml';
import { resolveMatrixConfig } from '../../src/adapters/matrix/config.js';
import { resolveSipConfig } from '../../src/adapters/sip/config.js';
import { resolveXmppConfig } from '../../src/adapters/xmpp/config.js';
import { parseConfig } from '../../src/config.js';
import { helm } from '../harness/helm.js';

const root = resolve(import.meta.dirname, '../..');
const chart = join(root, 'helm/parley');
const ciFiles = readdirSync(join(chart, 'ci')).filter((f) => f.endsWith('.yaml'));

const resolvers: Record<string, (raw: Record<string, unknown>) => unknown> = {
  xmpp: (raw) => resolveXmppConfig(raw),
  matrix: (raw) => resolveMatrixConfig(raw, '/etc/parley/config'),
  sip: (raw) => resolveSipConfig(raw),
};

let seen = 0;
const types = new Set<string>();
for (const f of ciFiles) {
  t.test(`ci/${f}: every adapter block passes its adapter's validation`, async (t) => {
    const r = helm(['template', 'parley', chart, '--namespace', 'parley', '-f', join(chart, 'ci', f)]);
    t.equal(r.status, 0, r.stderr);
    const docs = parseAllDocuments(r.stdout).map((d) => d.toJS());
    const cm = docs.find((d) => d?.kind === 'ConfigMap' && d.data?.['parley.yaml']);
    // Any variable set; the archive's URL must look like one (the config checks its scheme).
    const env = new Proxy({} as Record<string, string>, {
      get: (_, k) => (k === 'PARLEY_ARCHIVE_URL' ? 'postgres://db/x' : `value-of-${String(k)}`),
    });
    const loaded = parseConfig(cm.data['parley.yaml'], '/etc/parley/config/parley.yaml', env);
    for (const [name, block] of Object.entries(loaded.config.adapters ?? {})) {
      const resolve = resolvers[block.type];
      t.ok(resolve, `${name}: a resolver for ${block.type}`);
      t.doesNotThrow(() => resolve?.(block as Record<string, unknown>), `${name} (${block.type}) is valid`);
      seen++;
      types.add(block.type);
    }
  });
}

t.test('the CI values cover every adapter type', async (t) => {
  t.ok(seen > 0);
  t.same([...types].sort(), ['matrix', 'sip', 'xmpp']);
});

t.test('the chart points the Matrix appservice url at its Service', async (t) => {
  const r = helm([
    'template',
    'parley',
    chart,
    '--namespace',
    'chat',
    '-f',
    join(chart, 'ci', 'ha-values.yaml'),
  ]);
  t.equal(r.status, 0, r.stderr);
  const cm = parseAllDocuments(r.stdout)
    .map((d) => d.toJS())
    .find((d) => d?.kind === 'ConfigMap' && d.data?.['parley.yaml']);
  const env = new Proxy({} as Record<string, string>, { get: (_, k) => `value-of-${String(k)}` });
  const m = parseConfig(cm.data['parley.yaml'], '/x.yaml', env).config.adapters?.['public-matrix'] as Record<
    string,
    unknown
  >;
  t.equal(m.url, 'http://parley.chat.svc:9000');
  t.equal(m.listen, '0.0.0.0:9000');
});
