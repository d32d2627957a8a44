// Policy test suites (`parley policy test`, like `opa test`): YAML files that name a policy
// and list events with the decision expected for each.
//
//   policy: ../default.yaml            # relative to the suite file
//   now: "2026-11-25T10:00:00Z"        # optional: decision time for every case
//   cases:
//     - name: partners may call
//       now: "2026-11-25T23:00:00+01:00"   # optional, overrides the suite's
//       event: { kind: call, from: "<alice's address URI>", to: "<carol's address URI>" }
//       expect: { decision: allow, rule: partners-talk }
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { isDeepStrictEqual } from 'node:util';
import { type Static, Type } from '@sinclair/typebox';
import { parseYamlSource, problemAt, SourceError, schemaProblems, type YamlSource } from '../yaml-source.js';
import type { CompiledPolicy } from './evaluate.js';
import { EventInputError, eventFromInput } from './event-input.js';
import { loadPolicyFile } from './load.js';
import type { Decision } from './types.js';

const Instant = Type.String({
  minLength: 1,
  errorMessage: 'expected an ISO 8601 instant, e.g. 2026-11-25T10:00:00Z',
});
const NullableString = Type.Union([Type.String(), Type.Null()], {
  errorMessage: 'expected a string or null',
});

export const SuiteExpect = Type.Object(
  {
    decision: Type.Union([Type.Literal('allow'), Type.Literal('deny')]),
    /** Deciding rule id; null for the default decision. */
    rule: Type.Optional(NullableString),
    reason: Type.Optional(NullableString),
    /** Obligations, compared exactly ({} for none). */
    obligations: Type.Optional(
      Type.Object(
        {
          disclaimer: Type.Optional(Type.String()),
          presence: Type.Optional(
            Type.Union([Type.Literal('basic'), Type.Literal('coarse'), Type.Literal('full')]),
          ),
          rateLimit: Type.Optional(Type.String()),
        },
        { additionalProperties: false },
      ),
    ),
    redacted: Type.Optional(Type.Boolean()),
    /** Delivered message body / HTML (after redaction). */
    body: Type.Optional(Type.String()),
    html: Type.Optional(Type.String()),
    /** Delivered presence status / activity; null: removed. */
    status: Type.Optional(NullableString),
    activity: Type.Optional(NullableString),
  },
  { additionalProperties: false },
);

export const SuiteCase = Type.Object(
  {
    name: Type.String({ minLength: 1 }),
    now: Type.Optional(Instant),
    event: Type.Object({}, { additionalProperties: true }),
    expect: SuiteExpect,
  },
  { additionalProperties: false },
);

export const SuiteDocument = Type.Object(
  {
    policy: Type.String({ minLength: 1 }),
    description: Type.Optional(Type.String()),
    now: Type.Optional(Instant),
    cases: Type.Array(SuiteCase, { minItems: 1 }),
  },
  { additionalProperties: false },
);
export type SuiteDocument = Static<typeof SuiteDocument>;

export interface CaseResult {
  name: string;
  line: number;
  ok: boolean;
  /** What differed, one line per field; empty when ok. */
  diffs: string[];
  decision: Decision;
}

export interface SuiteResult {
  file: string;
  policyFile: string;
  cases: CaseResult[];
  passed: number;
  failed: number;
}

export interface LoadedSuite {
  file: string;
  policyFile: string;
  policy: CompiledPolicy;
  doc: SuiteDocument;
  source: YamlSource;
}

const parseInstant = (s: string, source: YamlSource, path: (string | number)[]): Date => {
  const d = new Date(s);
  if (Number.isNaN(d.getTime())) {
    throw new SourceError([
      problemAt(source, path, `"${s}" is not an ISO 8601 instant, e.g. 2026-11-25T10:00:00Z`),
    ]);
  }
  return d;
};

/** Read a suite and the policy it names; throws SourceError (suite or policy) when bad. */
export function loadSuiteFile(file: string): LoadedSuite {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch {
    throw new SourceError([{ file, line: 1, column: 1, path: '', message: 'cannot read the suite file' }]);
  }
  const source = parseYamlSource(text, file);
  const problems = schemaProblems(SuiteDocument, source.value, source);
  if (problems.length > 0) throw new SourceError(problems);
  const doc = source.value as SuiteDocument;
  const policyFile = resolve(dirname(file), doc.policy);
  return { file, policyFile, policy: loadPolicyFile(policyFile), doc, source };
}

const show = (v: unknown): string => (v === undefined ? '(absent)' : JSON.stringify(v));

/** The differences between a decision and what a case expects. */
export function compareDecision(d: Decision, expect: Static<typeof SuiteExpect>): string[] {
  const diffs: string[] = [];
  const check = (field: string, want: unknown, got: unknown) => {
    if (!isDeepStrictEqual(want, got)) diffs.push(`${field}: expected ${show(want)}, got ${show(got)}`);
  };
  check('decision', expect.decision, d.decision);
  if (expect.rule !== undefined) check('rule', expect.rule, d.rule);
  if (expect.reason !== undefined) check('reason', expect.reason, d.reason);
  if (expect.obligations !== undefined) check('obligations', expect.obligations, d.obligations);
  if (expect.redacted !== undefined) check('redacted', expect.redacted, d.redacted);
  const ev = d.event as Record<string, unknown>;
  for (const field of ['body', 'html', 'status', 'activity'] as const) {
    const want = expect[field];
    if (want === undefined) continue;
    check(field, want, field === 'status' || field === 'activity' ? (ev[field] ?? null) : ev[field]);
  }
  if (diffs.length > 0 && expect.decision !== d.decision) {
    diffs.push(`(decided by ${d.rule ?? 'the default'}${d.reason ? `: ${d.reason}` : ''})`);
  }
  return diffs;
}

/** Run every case of one suite; throws SourceError when the suite or its policy is bad. */
export function runSuiteFile(file: string): SuiteResult {
  const suite = loadSuiteFile(file);
  const { doc, source, policy } = suite;
  const suiteNow = doc.now !== undefined ? parseInstant(doc.now, source, ['now']) : undefined;
  const cases = doc.cases.map((c, i): CaseResult => {
    const line = source.locate(['cases', i])?.line ?? 1;
    let event: ReturnType<typeof eventFromInput>;
    try {
      event = eventFromInput(c.event);
    } catch (err) {
      if (err instanceof EventInputError) {
        throw new SourceError([problemAt(source, ['cases', i, 'event'], err.message)]);
      }
      throw err;
    }
    const now = c.now !== undefined ? parseInstant(c.now, source, ['cases', i, 'now']) : suiteNow;
    const decision = policy.evaluate(event, now);
    const diffs = compareDecision(decision, c.expect);
    return { name: c.name, line, ok: diffs.length === 0, diffs, decision };
  });
  const failed = cases.filter((c) => !c.ok).length;
  return { file, policyFile: suite.policyFile, cases, passed: cases.length - failed, failed };
}

/** Suite files in a directory (`*.yaml`, `*.yml`, sorted), or the file itself. */
export function suiteFiles(path: string): string[] {
  if (!statSync(path).isDirectory()) return [path];
  return readdirSync(path)
    .filter((f) => /\.ya?ml$/.test(f))
    .sort()
    .map((f) => join(path, f));
}

/**
 * Whether `file` is a policy rather than a suite: a policy often sits beside its suites
 * (`policy: policy.yaml`). A `*.test.yaml` file is always a suite; any other YAML file is a
 * policy when its top level says `kind: Policy` and has no `cases`. Everything else is run
 * as a suite, so a broken suite is reported, never skipped.
 */
export function isPolicyFile(file: string): boolean {
  if (/\.test\.ya?ml$/.test(file)) return false;
  let value: unknown;
  try {
    value = parseYamlSource(readFileSync(file, 'utf8'), file).value;
  } catch {
    return false;
  }
  if (value === null || typeof value !== 'object' || Array.isArray(value)) return false;
  const doc = value as Record<string, unknown>;
  return doc.kind === 'Policy' && !('cases' in doc);
}

export type SuiteRun =
  | { file: string; result: SuiteResult }
  | { file: string; error: SourceError }
  /** A policy file found among the suites: not run; `testedBy` lists the suites that name it. */
  | { file: string; skipped: 'policy'; testedBy: string[] };

/**
 * Run every suite under `path`; a bad suite is reported as `error` instead of results, a
 * policy file beside the suites as `skipped`.
 */
export function runSuites(path: string): SuiteRun[] {
  const runs: SuiteRun[] = [];
  const policies: string[] = [];
  for (const file of suiteFiles(path)) {
    if (isPolicyFile(file)) {
      policies.push(file);
      continue;
    }
    try {
      runs.push({ file, result: runSuiteFile(file) });
    } catch (err) {
      if (err instanceof SourceError) runs.push({ file, error: err });
      else throw err;
    }
  }
  for (const file of policies) {
    const testedBy = runs.flatMap((r) =>
      'result' in r && resolve(r.result.policyFile) === resolve(file) ? [r.file] : [],
    );
    runs.push({ file, skipped: 'policy', testedBy });
  }
  return runs.sort((a, b) => (a.file < b.file ? -1 : a.file > b.file ? 1 : 0));
}
