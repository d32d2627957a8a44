// The chart's stores, rendered with a real Helm: the embedded SQLite file on a
// PersistentVolumeClaim (one replica, replaced with Recreate), the PostgreSQL archive's URL
// from a Secret through ${PARLEY_ARCHIVE_URL} (as a CloudNativePG app Secret gives it), Redis
// without a volume, and the values the chart refuses with a clear message. The rendered
// parley.yaml is read by Parley's own config loader, and the CloudNativePG example in
// docs/operations.md is checked against the values that use it.
import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import t from 'tap';
import { parseAllDocuments } from 'yaml';
import { parseConfig } from '../../src/config.js';
import { ensureHelm, helm } from '../harness/helm.js';
import { checkFields } from '../harness/strict-fields.js';

const root = resolve(import.meta.dirname, '../..');
const chart = join(root, 'helm/parley');

// biome-ignore lint/suspicious/noExplicitAny: rendered manifests are untyped YAML documents
type Manifest = Record<string, any>;

function render(args: string[]): { ok: boolean; docs: Manifest[]; stderr: string; stdout: string } {
  const r = helm(['template', 'parley', chart, '--namespace', 'parley', ...args]);
  if (r.status !== 0) return { ok: false, docs: [], stderr: r.stderr, stdout: r.stdout };
  const docs = parseAllDocuments(r.stdout)
    .map((d) => d.toJS() as Manifest | null)
    .filter((d): d is Manifest => d !== null);
  return { ok: true, docs, stderr: r.stderr, stdout: r.stdout };
}

const all = (docs: Manifest[], kind: string) => docs.filter((d) => d.kind === kind);
function one(docs: Manifest[], kind: string): Manifest {
  const found = all(docs, kind);
  if (found.length !== 1) throw new Error(`expected one ${kind}, found ${found.length}`);
  return found[0] as Manifest;
}
const container = (docs: Manifest[]) => one(docs, 'Deployment').spec.template.spec.containers[0] as Manifest;
const volumes = (docs: Manifest[]) => one(docs, 'Deployment').spec.template.spec.volumes as Manifest[];

/** parley.yaml as Parley loads it, with the Deployment's environment (secrets as given). */
function loaded(docs: Manifest[], env: Record<string, string> = {}) {
  const cm = all(docs, 'ConfigMap').find((c) => c.metadata.name === 'parley-config');
  return parseConfig(cm?.data['parley.yaml'], '/etc/parley/config/parley.yaml', env);
}

t.before(() => {
  ensureHelm();
});

t.test(
  'defaults: the SQLite file on a kept claim, mounted where store.sqlite points, one pod at a time',
  async (t) => {
    const r = render([]);
    t.ok(r.ok, r.stderr);
    const pvc = one(r.docs, 'PersistentVolumeClaim');
    t.equal(pvc.metadata.name, 'parley-data');
    t.same(pvc.spec.accessModes, ['ReadWriteOnce']);
    t.equal(pvc.spec.resources.requests.storage, '10Gi');
    t.notOk('storageClassName' in pvc.spec, "the cluster's default storage class");
    t.equal(pvc.metadata.annotations['helm.sh/resource-policy'], 'keep', 'helm uninstall keeps the trail');
    const dep = one(r.docs, 'Deployment');
    t.same(
      dep.spec.strategy,
      { type: 'Recreate' },
      'the old pod closes the file before the new one opens it',
    );
    t.equal(dep.spec.replicas, 1);
    const mount = container(r.docs).volumeMounts.find((m: Manifest) => m.name === 'data');
    t.same(mount, { name: 'data', mountPath: '/var/lib/parley' }, 'writable');
    t.same(
      volumes(r.docs).find((v) => v.name === 'data'),
      { name: 'data', persistentVolumeClaim: { claimName: 'parley-data' } },
    );
    t.equal(dep.spec.template.spec.securityContext.fsGroup, 10001, 'the volume is the Parley user’s group');
    const cfg = loaded(r.docs);
    t.same(cfg.config.store, { sqlite: '/var/lib/parley/parley.db' }, 'the database on the volume');
    t.notOk(
      container(r.docs).env.some((e: Manifest) => e.name === 'PARLEY_ARCHIVE_URL'),
      'no archive variable without an archive',
    );
    t.same(checkFields(r.docs, import.meta.dirname), [], 'no field Kubernetes does not define');
  },
);

t.test('persistence options: class, size, modes, annotations, an existing claim, a path', async (t) => {
  const r = render([
    ...['--set', 'persistence.storageClass=fast-ssd', '--set', 'persistence.size=250Gi'],
    ...['--set', 'persistence.accessModes={ReadWriteOncePod}', '--set', 'persistence.keepOnUninstall=false'],
    ...['--set', 'persistence.annotations.backup\\.example/schedule=hourly'],
  ]);
  t.ok(r.ok, r.stderr);
  const pvc = one(r.docs, 'PersistentVolumeClaim');
  t.equal(pvc.spec.storageClassName, 'fast-ssd');
  t.equal(pvc.spec.resources.requests.storage, '250Gi');
  t.same(pvc.spec.accessModes, ['ReadWriteOncePod']);
  t.same(pvc.metadata.annotations, { 'backup.example/schedule': 'hourly' }, 'no keep policy when not asked');
  t.same(checkFields(r.docs, import.meta.dirname), []);

  const own = render([
    '--set',
    'persistence.existingClaim=parley-state',
    '--set',
    'persistence.mountPath=/data',
  ]);
  t.ok(own.ok, own.stderr);
  t.same(all(own.docs, 'PersistentVolumeClaim'), [], 'an existing claim: none created');
  t.same(volumes(own.docs).find((v) => v.name === 'data')?.persistentVolumeClaim, {
    claimName: 'parley-state',
  });
  t.equal(container(own.docs).volumeMounts.find((m: Manifest) => m.name === 'data')?.mountPath, '/data');
  t.same(loaded(own.docs).config.store, { sqlite: '/data/parley.db' });
});

t.test(
  'the archive: its URL from the Secret, into store.archive through the variable PARLEY_ARCHIVE_URL',
  async (t) => {
    const r = render(['-f', join(chart, 'ci/archive-values.yaml')]);
    t.ok(r.ok, r.stderr);
    const env = container(r.docs).env as Manifest[];
    const archive = env.find((e) => e.name === 'PARLEY_ARCHIVE_URL');
    t.same(
      archive?.valueFrom,
      { secretKeyRef: { name: 'parley-db-app', key: 'uri' } },
      'from the app Secret, not optional: no archive, no start',
    );
    const url = 'postgresql://app:s3cr%40t@parley-db-rw.parley.svc:5432/app';
    const cfg = loaded(r.docs, { PARLEY_ARCHIVE_URL: url });
    t.same(cfg.config.store, {
      sqlite: '/data/parley.db',
      archive: { url, schema: 'audit', partition: 'day', poolMax: 8, statementTimeoutMs: 10000 },
    });
    t.throws(() => loaded(r.docs, {}), /PARLEY_ARCHIVE_URL is not set/, 'an unset variable is a clear error');
    t.throws(
      () => loaded(r.docs, { PARLEY_ARCHIVE_URL: 'mysql://x' }),
      /store/,
      'a URL that is not PostgreSQL is refused by the config loader',
    );
    t.same(all(r.docs, 'PersistentVolumeClaim'), [], 'state on the existing claim');
    t.match(r.docs.find((d) => d.kind === 'NetworkPolicy')?.spec.egress, [
      {},
      { to: [{ podSelector: { matchLabels: { 'cnpg.io/cluster': 'parley-db' } } }], ports: [{ port: 5432 }] },
    ]);
    t.same(checkFields(r.docs, import.meta.dirname), []);

    // With the archive the pod may run without a volume: the trail is in PostgreSQL.
    const ephemeral = render([
      '--set',
      'archive.existingSecret=parley-db-app',
      '--set',
      'persistence.enabled=false',
    ]);
    t.ok(ephemeral.ok, ephemeral.stderr);
    t.same(all(ephemeral.docs, 'PersistentVolumeClaim'), []);
    t.same(
      volumes(ephemeral.docs).find((v) => v.name === 'data'),
      { name: 'data', emptyDir: {} },
    );
    t.equal(
      one(ephemeral.docs, 'Deployment').spec.strategy.type,
      'RollingUpdate',
      'no claim: the rolling update',
    );

    const notes = helm([
      ...['install', 'parley', chart, '--namespace', 'parley', '--dry-run=client'],
      ...['-f', join(chart, 'ci/archive-values.yaml')],
    ]);
    t.equal(notes.status, 0, notes.stderr);
    t.match(notes.stdout, /state lives in the SQLite file\s+\/data\/parley\.db on the claim parley-state/);
    t.match(notes.stdout, /archived in PostgreSQL: its URL is the key "uri" of the Secret\s+parley-db-app/);
  },
);

t.test('Redis: no SQLite volume, the rolling update, the archive beside it', async (t) => {
  const r = render(['-f', join(chart, 'ci/ha-values.yaml'), '--set', 'archive.existingSecret=parley-db-app']);
  t.ok(r.ok, r.stderr);
  t.same(all(r.docs, 'PersistentVolumeClaim'), []);
  t.notOk(
    volumes(r.docs).some((v) => v.name === 'data'),
    'no data volume',
  );
  t.equal(one(r.docs, 'Deployment').spec.strategy.type, 'RollingUpdate');
  const cfg = loaded(r.docs, {
    PARLEY_REDIS_PASSWORD: 'pw',
    XMPP_COMPONENT_SECRET: 's',
    PARLEY_ARCHIVE_URL: 'postgres://app:pw@db/app',
  });
  t.equal(cfg.config.store?.sqlite, undefined);
  t.match(cfg.config.store, {
    redis: /^redis:/,
    archive: { url: 'postgres://app:pw@db/app', schema: 'parley' },
  });
});

t.test(
  'refused: more than one replica on SQLite, a trail with nowhere durable to live, bad values',
  async (t) => {
    const bad: [string[], RegExp][] = [
      [
        ['--set', 'replicaCount=2'],
        /replicaCount 2 needs store\.redis: without it the state lives in one SQLite file \(\/var\/lib\/parley\/parley\.db on the persistence volume\) that only one replica may open/,
      ],
      [
        ['--set', 'replicaCount=3', '--set', 'archive.existingSecret=db-app'],
        /replicaCount 3 needs store\.redis/,
      ],
      [['--set', 'autoscaling.enabled=true'], /autoscaling\.enabled needs store\.redis/],
      [
        ['--set', 'persistence.enabled=false'],
        /persistence\.enabled is false and neither store\.redis nor archive\.existingSecret is set: the audit trail would live in the pod's SQLite file/,
      ],
      [['--set', 'archive.partition=week'], /archive\/partition/],
      [['--set', 'archive.poolMax=0'], /archive\/poolMax/],
      [['--set', 'archive.schema=Bad-Schema'], /archive\/schema/],
      [['--set', 'archive.existingSecret=Not_A_Name'], /archive\/existingSecret/],
      [['--set', 'persistence.mountPath=data'], /persistence\/mountPath/],
      [['--set', 'persistence.accessModes={ReadOnlyMany}'], /persistence\/accessModes/],
      [['--set', 'persistence.size=lots'], /persistence\/size/],
      [['--set', 'persistence.bogus=1'], /bogus/],
    ];
    for (const [args, why] of bad) {
      const r = render(args);
      t.notOk(r.ok, `${args.join(' ')} is refused`);
      t.match(r.stderr, why, `${args.join(' ')}: the error says why`);
    }
    const redisMany = render(['--set', 'replicaCount=2', '--set-string', 'store.redis=redis://r:6379/0']);
    t.ok(redisMany.ok, 'two replicas on Redis are fine');
  },
);

t.test(
  'docs/operations.md: the CloudNativePG Cluster and the values that use its Secret agree',
  async (t) => {
    const doc = readFileSync(join(root, 'docs/operations.md'), 'utf8');
    const blocks = [...doc.matchAll(/```yaml\n([\s\S]*?)```/g)].map((m) => m[1] as string);
    const manifests = blocks.flatMap((b) =>
      parseAllDocuments(b)
        .map((d) => d.toJS() as Manifest | null)
        .filter((d): d is Manifest => d !== null && typeof d === 'object'),
    );
    const cluster = manifests.find((m) => m.kind === 'Cluster');
    t.ok(cluster, 'a Cluster manifest');
    t.equal(cluster?.apiVersion, 'postgresql.cnpg.io/v1');
    t.equal(cluster?.metadata?.name, 'parley-db');
    t.match(cluster?.spec, { instances: Number, bootstrap: { initdb: { database: String, owner: String } } });
    t.ok(cluster?.spec?.backup?.barmanObjectStore || cluster?.spec?.plugins, 'with backups (WAL archiving)');
    const values = manifests.find((m) => m.archive?.existingSecret);
    t.same(
      values?.archive,
      { existingSecret: `${cluster?.metadata?.name}-app`, secretKey: 'uri' },
      'the values name the Secret CloudNativePG generates for the Cluster, and its uri key',
    );
    const ci = parseAllDocuments(
      readFileSync(join(chart, 'ci/archive-values.yaml'), 'utf8'),
    )[0]?.toJS() as Manifest;
    t.equal(
      ci.archive.existingSecret,
      values?.archive?.existingSecret,
      'the CI values render the documented setup',
    );
  },
);
