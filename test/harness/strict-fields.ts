// Strict field checking for rendered manifests. kubernetes-models' validators check types
// and required fields but, like the OpenAPI schemas they come from, let unknown fields
// through (a misspelt `readOnlyRootFilesytem` would pass, and the API server would drop
// it: the pod would run unhardened). Its TypeScript interfaces do know every field, so
// each manifest is type-checked as an object literal of its interface: TypeScript's
// excess property check names any field that Kubernetes does not define. The source is
// in memory only; nothing is written.
import { dirname, join } from 'node:path';
import ts from 'typescript';

/** Interface and module for each apiVersion/kind the chart renders. */
const TYPES: Record<string, [string, string]> = {
  'v1/ConfigMap': ['IConfigMap', 'kubernetes-models/v1'],
  'v1/Secret': ['ISecret', 'kubernetes-models/v1'],
  'v1/Service': ['IService', 'kubernetes-models/v1'],
  'v1/ServiceAccount': ['IServiceAccount', 'kubernetes-models/v1'],
  'v1/Pod': ['IPod', 'kubernetes-models/v1'],
  'v1/PersistentVolumeClaim': ['IPersistentVolumeClaim', 'kubernetes-models/v1'],
  'apps/v1/Deployment': ['IDeployment', 'kubernetes-models/apps/v1'],
  'policy/v1/PodDisruptionBudget': ['IPodDisruptionBudget', 'kubernetes-models/policy/v1'],
  'networking.k8s.io/v1/NetworkPolicy': ['INetworkPolicy', 'kubernetes-models/networking.k8s.io/v1'],
  'autoscaling/v2/HorizontalPodAutoscaler': ['IHorizontalPodAutoscaler', 'kubernetes-models/autoscaling/v2'],
  'monitoring.coreos.com/v1/ServiceMonitor': [
    'IServiceMonitor',
    '@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1',
  ],
  'monitoring.coreos.com/v1/PrometheusRule': [
    'IPrometheusRule',
    '@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1',
  ],
};

export interface FieldProblem {
  manifest: string;
  message: string;
  /** The offending line of the manifest, as JSON. */
  near: string;
}

/**
 * Type-check manifests against the Kubernetes interfaces; returns one problem per unknown
 * field or wrong type. `fromDir` is where module resolution starts (the repository).
 */
export function checkFields(docs: Record<string, unknown>[], fromDir: string): FieldProblem[] {
  const file = join(fromDir, '__rendered_manifests__.ts');
  const imports = new Map<string, Set<string>>();
  const body: string[] = [];
  const owners: { start: number; end: number; name: string }[] = [];
  let line = 0;
  const problems: FieldProblem[] = [];
  docs.forEach((doc, i) => {
    const meta = doc.metadata as { name?: string } | undefined;
    const key = `${doc.apiVersion}/${doc.kind}`;
    const name = `${key} ${meta?.name ?? '?'}`;
    const type = TYPES[key];
    if (!type) {
      problems.push({ manifest: name, message: 'no TypeScript interface known for this kind', near: '' });
      return;
    }
    const [iface, mod] = type;
    if (!imports.has(mod)) imports.set(mod, new Set());
    imports.get(mod)!.add(iface);
    const text = `export const m${i}: ${iface} = ${JSON.stringify(doc, null, 2)};`;
    const n = text.split('\n').length;
    owners.push({ start: line, end: line + n, name });
    body.push(text);
    line += n;
  });
  const header = [...imports].map(
    ([mod, names]) => `import type { ${[...names].join(', ')} } from '${mod}';`,
  );
  const offset = header.length;
  const source = [...header, ...body].join('\n');

  const options: ts.CompilerOptions = {
    strict: true,
    noEmit: true,
    skipLibCheck: true,
    target: ts.ScriptTarget.ES2022,
    module: ts.ModuleKind.NodeNext,
    moduleResolution: ts.ModuleResolutionKind.NodeNext,
    types: [],
  };
  const host = ts.createCompilerHost(options, true);
  const getSourceFile = host.getSourceFile.bind(host);
  host.getSourceFile = (name, lang, ...rest) =>
    name === file ? ts.createSourceFile(name, source, lang, true) : getSourceFile(name, lang, ...rest);
  const fileExists = host.fileExists.bind(host);
  host.fileExists = (name) => name === file || fileExists(name);
  const readFile = host.readFile.bind(host);
  host.readFile = (name) => (name === file ? source : readFile(name));
  // An ESM file: module resolution follows package.json `exports` (import conditions).
  host.getCurrentDirectory = () => dirname(file);
  const program = ts.createProgram({ rootNames: [file], options, host });
  const sf = program.getSourceFile(file)!;
  const lines = source.split('\n');
  for (const d of ts.getPreEmitDiagnostics(program, sf)) {
    const at = d.start === undefined ? 0 : sf.getLineAndCharacterOfPosition(d.start).line;
    const owner = owners.find((o) => at - offset >= o.start && at - offset < o.end);
    problems.push({
      manifest: owner?.name ?? '(imports)',
      message: ts.flattenDiagnosticMessageText(d.messageText, '\n'),
      near: (lines[at] ?? '').trim(),
    });
  }
  return problems;
}
