// The Helm chart, with a real Helm binary: `helm lint --strict` and `helm template` for each
// CI values file, every rendered manifest validated against the Kubernetes schemas
// (kubernetes-models), the hardening settings asserted, bad values refused by
// values.schema.json, and the rendered parley.yaml and policy files accepted by Parley's
// own loaders.
import { spawn } from 'node:child_process';
import { copyFileSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import {
  PrometheusRule,
  ServiceMonitor,
} from '@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1';
import { Deployment } from 'kubernetes-models/apps/v1';
import { HorizontalPodAutoscaler } from 'kubernetes-models/autoscaling/v2';
import { NetworkPolicy } from 'kubernetes-models/networking.k8s.io/v1';
import { PodDisruptionBudget } from 'kubernetes-models/policy/v1';
import { ConfigMap, PersistentVolumeClaim, Pod, Secret, Service, ServiceAccount } from 'kubernetes-models/v1';
import t from 'tap';
import { isMap, parseAllDocuments, parseDocument, type YAMLMap } from 'yaml';
import { resolveSipConfig } from '../../src/adapters/sip/config.js';
import { parseConfig } from '../../src/config.js';
import { compilePolicySource } from '../../src/core/policy/load.js';
import { ensureHelm, helm } from '../harness/helm.js';
import { selfSignedCert } from '../harness/sip.js';
import { checkFields } from '../harness/strict-fields.js';

const root = resolve(import.meta.dirname, '../..');
const chart = join(root, 'helm/parley');
const ciDir = join(chart, 'ci');
const ciFiles = readdirSync(ciDir)
  .filter((f) => f.endsWith('.yaml'))
  .sort();

// biome-ignore lint/suspicious/noExplicitAny: rendered manifests are untyped YAML documents
type Manifest = Record<string, any>;

interface Model {
  validate(): void;
}
// Each model's constructor takes its own typed data; rendered documents are untyped.
const MODELS: Record<string, new (data: never) => Model> = {
  'v1/ConfigMap': ConfigMap,
  'v1/Secret': Secret,
  'v1/Service': Service,
  'v1/ServiceAccount': ServiceAccount,
  'v1/Pod': Pod,
  'v1/PersistentVolumeClaim': PersistentVolumeClaim,
  'apps/v1/Deployment': Deployment,
  'policy/v1/PodDisruptionBudget': PodDisruptionBudget,
  'networking.k8s.io/v1/NetworkPolicy': NetworkPolicy,
  'autoscaling/v2/HorizontalPodAutoscaler': HorizontalPodAutoscaler,
  'monitoring.coreos.com/v1/ServiceMonitor': ServiceMonitor,
  'monitoring.coreos.com/v1/PrometheusRule': PrometheusRule,
};

function render(args: string[]): { ok: boolean; docs: Manifest[]; stderr: string } {
  const r = helm(['template', 'parley', chart, '--namespace', 'parley', ...args]);
  if (r.status !== 0) return { ok: false, docs: [], stderr: r.stderr };
  const docs = parseAllDocuments(r.stdout)
    .map((d) => {
      if (d.errors.length) throw new Error(`rendered YAML does not parse: ${d.errors[0]?.message}`);
      return d.toJS() as Manifest | null;
    })
    .filter((d): d is Manifest => d !== null);
  return { ok: true, docs, stderr: r.stderr };
}

// Stand-ins for Secret values (by name; a URL the config checks, a URL).
const SECRET_VALUES: Record<string, string> = { PARLEY_ARCHIVE_URL: 'postgres://db/x' };
const find = (docs: Manifest[], kind: string, name?: string) =>
  docs.filter((d) => d.kind === kind && (name === undefined || d.metadata?.name === name));
const one = (docs: Manifest[], kind: string, name?: string): Manifest => {
  const all = find(docs, kind, name);
  if (all.length !== 1) throw new Error(`expected one ${kind} ${name ?? ''}, found ${all.length}`);
  return all[0]!;
};

t.before(() => {
  ensureHelm();
});

t.test('helm lint --strict passes for every CI values file', async (t) => {
  t.ok(ciFiles.length >= 3, 'defaults, ha and existing-secrets at least');
  for (const f of ['defaults-values.yaml', 'ha-values.yaml', 'existing-secrets-values.yaml']) {
    t.ok(ciFiles.includes(f), `ci/${f}`);
  }
  for (const f of ciFiles) {
    const r = helm(['lint', '--strict', chart, '-f', join(ciDir, f)]);
    t.equal(r.status, 0, `helm lint --strict -f ci/${f}\n${r.stdout}${r.stderr}`);
  }
});

const rendered = new Map<string, Manifest[]>();
for (const f of ciFiles) {
  t.test(`ci/${f}: renders, validates and is hardened`, async (t) => {
    const r = render(['-f', join(ciDir, f)]);
    t.ok(r.ok, `helm template -f ci/${f}: ${r.stderr}`);
    rendered.set(f, r.docs);

    // Every manifest against its Kubernetes schema.
    for (const doc of r.docs) {
      const key = `${doc.apiVersion}/${doc.kind}`;
      const Model = MODELS[key];
      t.ok(Model, `${key} has a schema to check against`);
      if (!Model) continue;
      t.doesNotThrow(() => new Model(doc as never).validate(), `${key} ${doc.metadata?.name} is valid`);
      t.equal(doc.metadata?.namespace, 'parley', `${key} ${doc.metadata?.name} is namespaced`);
      t.match(
        doc.metadata?.labels,
        { 'app.kubernetes.io/name': /^parley/, 'app.kubernetes.io/part-of': 'parley' },
        'common labels',
      );
    }

    const dep = one(r.docs, 'Deployment');
    const pod = dep.spec.template.spec;
    t.equal(pod.automountServiceAccountToken, false, 'no service account token');
    t.match(pod.securityContext, { runAsNonRoot: true, seccompProfile: { type: 'RuntimeDefault' } });
    t.ok(pod.terminationGracePeriodSeconds > 10, 'grace period above the 10 s drain');
    const c = pod.containers.find((x: Manifest) => x.name === 'parley');
    t.match(c.securityContext, {
      runAsNonRoot: true,
      readOnlyRootFilesystem: true,
      allowPrivilegeEscalation: false,
      capabilities: { drop: ['ALL'] },
      seccompProfile: { type: 'RuntimeDefault' },
    });
    t.ok(c.resources?.requests?.cpu && c.resources?.requests?.memory, 'resource requests');
    t.ok(c.resources?.limits?.cpu && c.resources?.limits?.memory, 'resource limits');
    t.match(c.livenessProbe, { httpGet: { path: '/healthz', port: 'http' } });
    t.match(c.readinessProbe, { httpGet: { path: '/readyz', port: 'http' } });
    t.match(c.startupProbe, { httpGet: { path: '/healthz', port: 'http' } });
    const tmp = c.volumeMounts.find((m: Manifest) => m.mountPath === '/tmp');
    t.ok(tmp, '/tmp is mounted');
    t.ok(
      pod.volumes.find((v: Manifest) => v.name === tmp?.name)?.emptyDir,
      '/tmp is an emptyDir (the root filesystem is read-only)',
    );
    const policyMount = c.volumeMounts.find((m: Manifest) => m.mountPath === '/etc/parley/policies');
    t.notOk(policyMount?.subPath, 'policies mounted as a folder (subPath mounts never update)');
    t.same(c.args, ['start', '-c', '/etc/parley/config/parley.yaml']);

    // Only the config restarts pods; the policy reloads in place.
    const ann = dep.spec.template.metadata.annotations ?? {};
    t.match(ann['checksum/config'], /^[0-9a-f]{64}$/, 'config checksum');
    t.notOk(
      Object.keys(ann).some((k) => k.includes('polic')),
      'no checksum of the policy files',
    );

    // The `helm test` hook checks /readyz, hardened too.
    const test = find(r.docs, 'Pod').find((p) => p.metadata.annotations?.['helm.sh/hook'] === 'test');
    t.ok(test, 'a helm test Pod');
    t.match(test?.spec.containers[0].args.join(' '), /\/readyz/);
    t.match(test?.spec.containers[0].securityContext, { readOnlyRootFilesystem: true, runAsNonRoot: true });
    t.equal(test?.spec.automountServiceAccountToken, false);
    for (const s of find(r.docs, 'Service')) {
      const selects = Object.entries(s.spec.selector as Record<string, string>).every(
        ([k, v]) => test?.metadata.labels[k] === v,
      );
      t.notOk(selects, `Service ${s.metadata.name} does not select the test Pod`);
    }

    // Every Service, PDB and NetworkPolicy selects the Deployment's pods.
    const podLabels = dep.spec.template.metadata.labels;
    t.match(podLabels, dep.spec.selector.matchLabels, 'the Deployment selects its pods');
    for (const s of find(r.docs, 'Service'))
      t.match(podLabels, s.spec.selector, `Service ${s.metadata.name}`);
    for (const k of ['PodDisruptionBudget', 'NetworkPolicy']) {
      for (const x of find(r.docs, k)) {
        t.match(podLabels, (x.spec.selector ?? x.spec.podSelector).matchLabels, `${k} selects the pods`);
      }
    }

    const sa = find(r.docs, 'ServiceAccount');
    for (const s of sa) t.equal(s.automountServiceAccountToken, false, 'ServiceAccount token off');

    // The rendered parley.yaml passes Parley's own config loader, with exactly the
    // environment variables the Deployment provides (every ${VAR} must be wired).
    const configMount = c.volumeMounts.find((m: Manifest) => m.mountPath === '/etc/parley/config');
    const configVolume = pod.volumes.find((v: Manifest) => v.name === configMount?.name);
    const cm = one(r.docs, 'ConfigMap', configVolume?.configMap?.name);
    const env: Record<string, string> = {};
    for (const e of c.env ?? []) env[e.name] = e.value ?? SECRET_VALUES[e.name] ?? `value-of-${e.name}`;
    const loaded = parseConfig(cm.data['parley.yaml'], '/etc/parley/config/parley.yaml', env);
    t.equal(loaded.listen.host, '0.0.0.0', 'listens on every interface in the pod');
    t.equal(
      loaded.listen.port,
      c.ports.find((p: Manifest) => p.name === 'http').containerPort,
      'http.listen matches the container port',
    );
    t.match(loaded.policyFile, /^\/etc\/parley\/policies\/[^/]+\.ya?ml$/);

    // The policy file it names is in the policy ConfigMap and compiles.
    const pcm = one(
      r.docs,
      'ConfigMap',
      pod.volumes.find((v: Manifest) => v.name === policyMount?.name)?.configMap?.name,
    );
    const policyName = loaded.policyFile.split('/').pop()!;
    t.ok(pcm.data[policyName], `${policyName} is in the policy ConfigMap`);
    for (const [name, text] of Object.entries(pcm.data as Record<string, string>)) {
      t.doesNotThrow(() => compilePolicySource(text, name), `policy ${name} compiles`);
    }
  });
}

t.test(
  'no manifest has a field Kubernetes does not define (strict, like kubectl --validate=strict)',
  async (t) => {
    const all: Manifest[] = [];
    for (const f of ciFiles) all.push(...(rendered.get(f) ?? render(['-f', join(ciDir, f)]).docs));
    // A planted typo in a free-form value proves the check is live.
    const planted = render(['--set', 'extraEnv[0].name=X', '--set', 'extraEnv[0].valeu=1']);
    t.ok(planted.ok, planted.stderr);
    all.push(one(planted.docs, 'Deployment'));
    const problems = checkFields(all, import.meta.dirname);
    t.equal(problems.length, 1, `only the planted typo:\n${JSON.stringify(problems, null, 2)}`);
    t.match(problems[0], { manifest: 'apps/v1/Deployment parley', message: /valeu/ });
  },
);

/** Keys of values.yaml with no comment on them or on a parent section. */
function undocumented(text: string): string[] {
  const out: string[] = [];
  const walk = (map: YAMLMap, path: string[], documented: boolean) => {
    map.items.forEach((pair, i) => {
      const key = pair.key as { value?: unknown; commentBefore?: string | null; comment?: string | null };
      const value = pair.value as { comment?: string | null; commentBefore?: string | null } | null;
      // A comment above a section's first key is stored on the section's map.
      const has = Boolean(
        key.commentBefore ||
          key.comment ||
          (i === 0 && map.commentBefore) ||
          (!isMap(pair.value) && (value?.comment || value?.commentBefore)),
      );
      const p = [...path, String(key.value)];
      if (isMap(pair.value) && pair.value.items.length) walk(pair.value, p, documented || has);
      else if (!(documented || has)) out.push(p.join('.'));
    });
  };
  const doc = parseDocument(text);
  if (isMap(doc.contents)) walk(doc.contents, [], false);
  return out;
}

t.test('values.yaml is documented line by line and matches values.schema.json', async (t) => {
  const text = readFileSync(join(chart, 'values.yaml'), 'utf8');
  t.same(undocumented(text), [], 'every value has a comment');
  t.same(
    undocumented('a: 1\n# -- b\nb: 2\nc:\n  # -- d\n  d: 1\n  e: 2\n'),
    ['a', 'c.e'],
    'the check is live',
  );
  // Every option the schema allows has a default in values.yaml, and the reverse.
  const schema = JSON.parse(readFileSync(join(chart, 'values.schema.json'), 'utf8'));
  const values = parseDocument(text).toJS() as Manifest;
  const missing: string[] = [];
  const compare = (s: Manifest, v: Manifest | null, path: string) => {
    if (s.type !== 'object' || s.additionalProperties !== false) return;
    t.equal(s.additionalProperties, false, `${path || '(root)'}: unknown keys are refused`);
    for (const k of Object.keys(s.properties ?? {})) {
      if (!v || !(k in v)) missing.push(`${path}${k}`);
      else compare(s.properties[k], v[k], `${path}${k}.`);
    }
  };
  compare(schema, values, '');
  t.same(missing, [], 'every schema property has a documented default');
});

t.test('the chart runs the image as the user the Dockerfile creates', async (t) => {
  const docs = rendered.get('defaults-values.yaml') ?? render([]).docs;
  const pod = one(docs, 'Deployment').spec.template.spec;
  const user = /^USER\s+(\d+):(\d+)/m.exec(readFileSync(join(root, 'Dockerfile'), 'utf8'));
  t.ok(user, 'the Dockerfile has a numeric USER uid:gid');
  t.equal(String(pod.containers[0].securityContext.runAsUser), user?.[1]);
  t.equal(String(pod.containers[0].securityContext.runAsGroup), user?.[2]);
  t.equal(pod.containers[0].command, undefined, 'the image ENTRYPOINT (node bin/parley.js) is kept');
});

t.test('ci/defaults: one replica, embedded store, optional pieces off', async (t) => {
  const docs = rendered.get('defaults-values.yaml') ?? render([]).docs;
  t.equal(one(docs, 'Deployment').spec.replicas, 1);
  t.same(find(docs, 'HorizontalPodAutoscaler'), [], 'no HPA by default');
  t.same(find(docs, 'ServiceMonitor'), [], 'no ServiceMonitor by default');
  t.same(find(docs, 'PrometheusRule'), [], 'no PrometheusRule by default');
  t.same(find(docs, 'Secret'), [], 'no Secret without secrets');
  t.equal(find(docs, 'Service').length, 1, 'no SIP Service by default');
  t.equal(find(docs, 'PodDisruptionBudget').length, 1);
  t.equal(find(docs, 'NetworkPolicy').length, 1);
  const cfg = parseConfig(one(docs, 'ConfigMap', 'parley-config').data['parley.yaml'], '/x/parley.yaml', {});
  t.same(cfg.config.store, { sqlite: '/var/lib/parley/parley.db' }, 'embedded SQLite store on its volume');
  // The chart ships the repository's default policy unchanged.
  t.equal(
    one(docs, 'ConfigMap', 'parley-policies').data['default.yaml'].trimEnd(),
    readFileSync(join(root, 'policies/default.yaml'), 'utf8').trimEnd(),
    'files/policies/default.yaml is policies/default.yaml',
  );
});

t.test('ci/ha: HPA, ServiceMonitor, PDB, Redis, Matrix and SIP services', async (t) => {
  const docs = rendered.get('ha-values.yaml') ?? render(['-f', join(ciDir, 'ha-values.yaml')]).docs;
  const dep = one(docs, 'Deployment');
  t.notOk('replicas' in dep.spec, 'the HPA owns the replica count');
  const hpa = one(docs, 'HorizontalPodAutoscaler');
  t.equal(hpa.spec.minReplicas, 3);
  t.equal(hpa.spec.scaleTargetRef.name, dep.metadata.name);
  t.match(one(docs, 'ServiceMonitor').spec.endpoints, [{ port: 'http', path: '/metrics' }]);
  // The alerts use only metrics Parley exports, scoped to this release's Service.
  const metricsSource = readFileSync(join(root, 'src/http/metrics.ts'), 'utf8');
  const rules = one(docs, 'PrometheusRule').spec.groups[0].rules as Manifest[];
  t.ok(rules.length >= 6, 'the alerts worth having');
  for (const r of rules) {
    for (const [, metric] of String(r.expr).matchAll(/\b(parley_[a-z_]+?)(?:_bucket)?\{/g)) {
      t.match(metricsSource, `name: '${metric}'`, `${r.alert}: ${metric} is exported`);
    }
    t.match(r.expr, 'service="parley"', `${r.alert} is scoped to the release`);
  }
  t.equal(one(docs, 'PodDisruptionBudget').spec.minAvailable, 2);
  const cfg = one(docs, 'ConfigMap', 'parley-config').data['parley.yaml'];
  const loaded = parseConfig(cfg, '/x/parley.yaml', {
    PARLEY_REDIS_PASSWORD: 'pw',
    XMPP_COMPONENT_SECRET: 's',
  });
  t.equal(loaded.config.store?.redis, 'redis://:pw@redis-master.redis.svc:6379/0');
  const adapters = (loaded.config.adapters ?? {}) as Record<string, Record<string, unknown>>;
  t.equal(adapters['public-matrix']?.listen, '0.0.0.0:9000', 'matrix listen defaults to the chart port');
  t.same(adapters['partner-sip']?.listen, ['udp://0.0.0.0:5060', 'tcp://0.0.0.0:5060']);
  const http = one(docs, 'Service', 'parley');
  t.match(http.spec.ports, [{ name: 'http' }, { name: 'matrix', port: 9000 }]);
  const sip = one(docs, 'Service', 'parley-sip');
  t.same(
    sip.spec.ports.map((p: Manifest) => `${p.protocol}/${p.port}`),
    ['UDP/5060', 'TCP/5060'],
  );
  t.equal(sip.spec.externalTrafficPolicy, 'Local');
  t.equal(sip.spec.sessionAffinity, 'ClientIP', 'a SIP client stays on the replica holding its calls');
  t.equal(sip.spec.sessionAffinityConfig.clientIP.timeoutSeconds, 10800);
  const np = one(docs, 'NetworkPolicy');
  t.same(np.spec.policyTypes, ['Ingress', 'Egress']);
  t.equal(np.spec.ingress.length, 3, 'http, matrix and sip ingress rules');
});

t.test('SIP over TLS: container port, Secret mount, Service, NetworkPolicy and adapter config', async (t) => {
  const tlsArgs = [
    '--set',
    'sip.enabled=true',
    '--set',
    'sip.tls.enabled=true',
    '--set',
    'sip.tls.secretName=parley-sip-tls',
    '--set',
    'adapters.partner-sip.type=sip',
    '--set',
    'adapters.partner-sip.domains={partner.test}',
    '--set',
    'adapters.partner-sip.peers={10.0.0.0/8}',
  ];
  const lint = helm(['lint', '--strict', chart, ...tlsArgs]);
  t.equal(lint.status, 0, `helm lint --strict\n${lint.stdout}${lint.stderr}`);
  const r = render(tlsArgs);
  t.ok(r.ok, r.stderr);
  for (const doc of r.docs) {
    const Model = MODELS[`${doc.apiVersion}/${doc.kind}`];
    t.doesNotThrow(() => Model && new Model(doc as never).validate(), `${doc.kind} ${doc.metadata?.name}`);
  }
  t.same(checkFields(r.docs, import.meta.dirname), [], 'no field Kubernetes does not define');

  const pod = one(r.docs, 'Deployment').spec.template.spec;
  const c = pod.containers.find((x: Manifest) => x.name === 'parley');
  t.same(
    c.ports.map((p: Manifest) => `${p.name}:${p.protocol}/${p.containerPort}`),
    ['http:TCP/8080', 'sip-udp:UDP/5060', 'sip-tcp:TCP/5060', 'sip-tls:TCP/5061'],
  );
  const mount = c.volumeMounts.find((m: Manifest) => m.name === 'sip-tls');
  t.same(mount, { name: 'sip-tls', mountPath: '/etc/parley/sip-tls', readOnly: true }, 'read-only mount');
  t.same(pod.volumes.find((v: Manifest) => v.name === 'sip-tls')?.secret, { secretName: 'parley-sip-tls' });

  const sip = one(r.docs, 'Service', 'parley-sip');
  t.same(
    sip.spec.ports.map((p: Manifest) => `${p.name}:${p.protocol}/${p.port}->${p.targetPort}`),
    ['sip-udp:UDP/5060->sip-udp', 'sip-tcp:TCP/5060->sip-tcp', 'sip-tls:TCP/5061->sip-tls'],
  );
  const np = one(r.docs, 'NetworkPolicy');
  t.ok(
    np.spec.ingress.some((rule: Manifest) =>
      rule.ports.some((p: Manifest) => p.port === 'sip-tls' && p.protocol === 'TCP'),
    ),
    'ingress to sip-tls is allowed',
  );

  // The adapter block gets the tls:// listener and the mounted files, and is valid for the
  // SIP adapter: its own validation, with the mount path pointed at a real key pair.
  const env: Record<string, string> = {};
  for (const e of c.env ?? []) env[e.name] = e.value ?? `value-of-${e.name}`;
  const loaded = parseConfig(
    one(r.docs, 'ConfigMap', 'parley-config').data['parley.yaml'],
    '/etc/parley/config/parley.yaml',
    env,
  );
  const block = loaded.config.adapters?.['partner-sip'] as Record<string, unknown>;
  t.same(block.listen, ['udp://0.0.0.0:5060', 'tcp://0.0.0.0:5060', 'tls://0.0.0.0:5061']);
  t.same(block.tls, { certFile: '/etc/parley/sip-tls/tls.crt', keyFile: '/etc/parley/sip-tls/tls.key' });
  const cert = selfSignedCert(['sip.parley.test']);
  const dir = mkdtempSync(join(tmpdir(), 'parley-sip-tls-'));
  t.teardown(() => {
    cert.remove();
    rmSync(dir, { recursive: true, force: true });
  });
  copyFileSync(cert.certFile, join(dir, 'tls.crt'));
  copyFileSync(cert.keyFile, join(dir, 'tls.key'));
  const tls = block.tls as Record<string, string>;
  t.equal(dirname(tls.certFile!), mount.mountPath, 'the files are in the mounted Secret');
  const resolved = resolveSipConfig(
    { ...block, tls: { certFile: join(dir, 'tls.crt'), keyFile: join(dir, 'tls.key') } },
    { configDir: '/etc/parley/config' },
  );
  t.match(resolved.listen, [{ transport: 'udp' }, { transport: 'tcp' }, { transport: 'tls', port: 5061 }]);
  t.ok(resolved.tls?.cert.toString().includes('BEGIN CERTIFICATE'), 'the certificate loads');
  t.equal(resolved.tls?.verifyPeer, true);

  // TLS only: the SIP Service and the NetworkPolicy rule still exist; ca.crt on request;
  // a block with its own `listen` and `tls` keeps them.
  const only = render([
    ...tlsArgs,
    '--set',
    'sip.udp=false',
    '--set',
    'sip.tcp=false',
    '--set',
    'sip.tls.port=5062',
    '--set',
    'sip.tls.caFromSecret=true',
    '--set',
    'adapters.own.type=sip',
    '--set',
    'adapters.own.domains={own.test}',
    '--set',
    'adapters.own.peers={10.0.0.0/8}',
    '--set',
    'adapters.own.listen={tls://0.0.0.0:5062}',
    '--set',
    'adapters.own.tls.certFile=/etc/other/cert.pem',
    '--set',
    'adapters.own.tls.keyFile=/etc/other/key.pem',
  ]);
  t.ok(only.ok, only.stderr);
  t.same(
    one(only.docs, 'Service', 'parley-sip').spec.ports.map(
      (p: Manifest) => `${p.name}:${p.protocol}/${p.port}`,
    ),
    ['sip-tls:TCP/5062'],
  );
  t.same(
    one(only.docs, 'NetworkPolicy').spec.ingress.find((rule: Manifest) =>
      rule.ports.some((p: Manifest) => String(p.port).startsWith('sip')),
    )?.ports,
    [{ port: 'sip-tls', protocol: 'TCP' }],
  );
  const onlyCfg = parseConfig(
    one(only.docs, 'ConfigMap', 'parley-config').data['parley.yaml'],
    '/etc/parley/config/parley.yaml',
    env,
  ).config.adapters as Record<string, Record<string, unknown>>;
  t.same(onlyCfg['partner-sip']?.listen, ['tls://0.0.0.0:5062']);
  t.same(onlyCfg['partner-sip']?.tls, {
    certFile: '/etc/parley/sip-tls/tls.crt',
    keyFile: '/etc/parley/sip-tls/tls.key',
    caFile: '/etc/parley/sip-tls/ca.crt',
  });
  t.same(onlyCfg.own?.tls, { certFile: '/etc/other/cert.pem', keyFile: '/etc/other/key.pem' }, 'kept');

  // Without sip.enabled the TLS values change nothing.
  const off = render(['--set', 'sip.tls.enabled=true']);
  t.ok(off.ok, off.stderr);
  t.notOk(JSON.stringify(off.docs).includes('sip-tls'), 'no SIP, no TLS');
});

t.test('ci/existing-secrets: no Secret created, env from the existing one', async (t) => {
  const docs =
    rendered.get('existing-secrets-values.yaml') ??
    render(['-f', join(ciDir, 'existing-secrets-values.yaml')]).docs;
  t.same(find(docs, 'Secret'), [], 'the chart creates no Secret');
  const env = one(docs, 'Deployment').spec.template.spec.containers[0].env as Manifest[];
  const fromSecret = env.filter((e) => e.valueFrom?.secretKeyRef);
  t.same(fromSecret.map((e) => e.name).sort(), [
    'PARLEY_ADMIN_TOKEN',
    'PARLEY_AUDITOR_TOKEN',
    'PARLEY_REDIS_PASSWORD',
  ]);
  for (const e of fromSecret) t.equal(e.valueFrom.secretKeyRef.name, 'parley-tokens');
  const loaded = parseConfig(one(docs, 'ConfigMap', 'parley-config').data['parley.yaml'], '/x/parley.yaml', {
    PARLEY_REDIS_PASSWORD: 'pw',
  });
  t.match(loaded.config.store?.redis, { name: 'mymaster', password: 'pw', prefix: 'acme:' });
  t.equal(loaded.policyFile, '/etc/parley/policies/acme.yaml');
});

t.test('a chart-made Secret from secrets.data', async (t) => {
  const r = render(['--set', 'secrets.data.admin-token=s3cret']);
  t.ok(r.ok, r.stderr);
  const secret = one(r.docs, 'Secret');
  t.same(secret.stringData, { 'admin-token': 's3cret' });
  const dep = one(r.docs, 'Deployment');
  t.match(dep.spec.template.metadata.annotations['checksum/secret'], /^[0-9a-f]{64}$/);
  const ref = dep.spec.template.spec.containers[0].env.find((e: Manifest) => e.name === 'PARLEY_ADMIN_TOKEN');
  t.same(ref.valueFrom.secretKeyRef, { name: 'parley', key: 'admin-token', optional: true });
});

t.test('a policy change does not restart pods; a config change does', async (t) => {
  let docs: Manifest[] = [];
  const checksum = (args: string[]) => {
    const r = render(args);
    t.ok(r.ok, r.stderr);
    docs = r.docs;
    return one(r.docs, 'Deployment').spec.template.metadata.annotations['checksum/config'] as string;
  };
  const base = checksum([]);
  const policy = join(root, 'policies/examples/open-federation.yaml');
  t.equal(checksum(['--set-file', `policy.files.default\\.yaml=${policy}`]), base, 'policy edit');
  t.equal(
    one(docs, 'ConfigMap', 'parley-policies').data['default.yaml'].trimEnd(),
    readFileSync(policy, 'utf8').trimEnd(),
    'the policy ConfigMap did change',
  );
  t.not(checksum(['--set', 'log.level=debug']), base, 'config edit');
});

t.test('bad values fail at helm template', async (t) => {
  const bad: [string[], RegExp][] = [
    [['--set', 'replicaCount=three'], /replicaCount/],
    [['--set', 'http.port=70000'], /http\/port/],
    [['--set', 'unknownKey=1'], /unknownKey/],
    [['--set', 'service.bogus=1'], /bogus/],
    [['--set', 'securityContext=true'], /securityContext/],
    [['--set', 'log.level=loud'], /log\/level/],
    [['--set', 'audit.content=all'], /audit\/content/],
    [['--set', 'store.redis=http://nope'], /store\/redis/],
    [['--set', 'store.redis.bogus=1'], /store\/redis/],
    [['--set', 'adapters.x.type=irc', '--set', 'adapters.x.domains={a.test}'], /adapters\/x\/type/],
    [['--set', 'policy.file=missing.yaml'], /policy\.file "missing\.yaml"/],
    [['--set', 'replicaCount=2'], /needs store\.redis/],
    [['--set', 'autoscaling.enabled=true'], /needs store\.redis/],
    [['--set', 'sip.tls.bogus=1'], /bogus/],
    [['--set', 'sip.tls.secretName=Not_A_Name'], /sip\/tls\/secretName/],
    [
      ['--set', 'sip.enabled=true', '--set', 'sip.tls.enabled=true'],
      /sip\.tls\.enabled needs sip\.tls\.secretName: the name of an existing kubernetes\.io\/tls Secret/,
    ],
    [
      [
        ...['--set', 'sip.enabled=true', '--set', 'sip.tls.enabled=true', '--set', 'sip.tls.secretName=c'],
        ...['--set', 'sip.tls.port=5060'],
      ],
      /sip\.tls\.port and sip\.port are both 5060/,
    ],
  ];
  for (const [args, why] of bad) {
    const r = render(args);
    t.notOk(r.ok, `${args.join(' ')} is refused`);
    t.match(r.stderr, why, `${args.join(' ')}: the error names the problem`);
  }
});

t.test('the helm test hook passes on 200 from /readyz and fails otherwise', async (t) => {
  const docs = rendered.get('defaults-values.yaml') ?? render([]).docs;
  const hook = find(docs, 'Pod').find((p) => p.metadata.annotations?.['helm.sh/hook'] === 'test')!;
  const [cmd, flag] = hook.spec.containers[0].command as string[];
  t.same([cmd, flag], ['node', '-e']);
  const script = hook.spec.containers[0].args[0] as string;
  t.match(script, 'http://parley.parley.svc:8080/readyz', 'it asks the Service');
  let status = 200;
  const server = createServer((req, res) => {
    res.statusCode = req.url === '/readyz' ? status : 404;
    res.end(JSON.stringify({ ready: status === 200 }));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  t.teardown(() => server.close());
  const { port } = server.address() as AddressInfo;
  const local = script.replace('http://parley.parley.svc:8080', `http://127.0.0.1:${port}`);
  const runHook = () =>
    new Promise<number | null>((resolve) => {
      const p = spawn(process.execPath, ['-e', local], { stdio: 'ignore' });
      p.on('exit', (code) => resolve(code));
    });
  t.equal(await runHook(), 0, 'ready: the test passes');
  status = 503;
  t.equal(await runHook(), 1, 'not ready: the test fails');
});

t.test('helm install --dry-run renders NOTES', async (t) => {
  const r = helm(['install', 'parley', chart, '--namespace', 'parley', '--dry-run=client']);
  t.equal(r.status, 0, r.stderr);
  t.match(r.stdout, /helm test parley -n parley/);
  t.match(r.stdout, /no store\.redis: state and the audit trail live in the SQLite/, 'where the trail is');
});
