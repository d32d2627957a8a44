// `parley policy validate|eval|test|explain`: check, try and test policy files.
// Exit codes: 0 success, 1 a test failed, 2 bad input (problems printed as file:line:col).
import { readFileSync } from 'node:fs';
import { relative, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import type { CanonicalEvent } from '../core/model.js';
import type { CompiledPolicy } from '../core/policy/evaluate.js';
import { EventInputError, eventFromInput } from '../core/policy/event-input.js';
import { loadPolicyFile } from '../core/policy/load.js';
import { runSuites } from '../core/policy/suite.js';
import type { Decision, Explanation } from '../core/policy/types.js';
import { formatProblem, SourceError } from '../core/yaml-source.js';
import { CliError, type CliIO, EXIT_BAD_INPUT, EXIT_CHECK_FAILED, EXIT_OK } from './io.js';

const USAGE = `Usage: parley policy <command> [options]

Commands:
  validate FILE                                  check a policy file (exit 0 valid, 2 invalid)
  eval --policy FILE --event JSON|@FILE|-        decide one event, print the decision as JSON
  eval --policy FILE --events FILE.jsonl         decide one event per line
  test [DIR|FILE]                                run the test suites (default: policies/tests)
  explain --policy FILE --event JSON|@FILE|-     show why each rule did or did not match

Run "parley policy <command> --help" for the options of a command.
`;

const HELP: Record<string, string> = {
  validate: `Usage: parley policy validate FILE...

Checks policy files against the schema and their references (zones, segments, rule ids,
regular expressions, time windows, rate limits). Problems are printed as
file:line:column: message. Exit 0 when every file is valid, 2 otherwise.
`,
  eval: `Usage: parley policy eval --policy FILE (--event JSON|@FILE|- | --events FILE.jsonl) [--now ISO]

Decides events and prints one JSON decision per event:
  {"decision":"allow"|"deny","rule":ID|null,"reason":...,"obligations":{...},"transforms":[...],"event":{...as delivered}}

Options:
  --policy FILE     the policy file (required)
  --event JSON      the event as JSON, @FILE to read it from a file, - for standard input, e.g.
                    {"kind":"message","from":"xmpp:alice@corp.test","to":"matrix:u/bob:hs.test","body":"hi"}
  --events FILE     JSON Lines, one event per line (- for standard input)
  --now ISO         decision time for time windows (default: each event's time)
  -h, --help        this help
`,
  test: `Usage: parley policy test [DIR|FILE]

Runs the YAML test suites in DIR (default: policies/tests) and prints each case as ok or
FAIL with what differed. Exit 0 when all pass, 1 when a case fails, 2 when a suite or its
policy is invalid. A policy file in DIR (top level "kind: Policy", name not *.test.yaml)
is not a suite: it is skipped with a note. The suite format is described in docs/policy.md.
`,
  explain: `Usage: parley policy explain --policy FILE --event JSON|@FILE|- [--now ISO] [--json]

Shows every rule in file order, whether it matched and why (clause by clause), and the
final decision.

Options:
  --policy FILE     the policy file (required)
  --event JSON      the event (see "parley policy eval --help")
  --now ISO         decision time for time windows
  --json            print the explanation as JSON
  -h, --help        this help
`,
};

type Opts = Record<string, string | boolean | undefined>;

function parse(
  argv: string[],
  options: Record<string, { type: 'string' | 'boolean'; short?: string }>,
  command: string,
): { values: Opts; positionals: string[] } {
  try {
    const { values, positionals } = parseArgs({
      args: argv,
      options: { ...options, help: { type: 'boolean', short: 'h' } },
      allowPositionals: true,
      strict: true,
    });
    return { values: values as Opts, positionals };
  } catch (err) {
    const msg = (err instanceof Error ? err.message : String(err)).split('. To specify')[0] ?? '';
    throw new CliError(
      `parley policy ${command}: ${msg.split('\n')[0] ?? msg}\nRun "parley policy ${command} --help".`,
    );
  }
}

const required = (values: Opts, name: string, command: string): string => {
  const v = values[name];
  if (typeof v !== 'string' || v === '') {
    throw new CliError(
      `parley policy ${command}: --${name} is required\nRun "parley policy ${command} --help".`,
    );
  }
  return v;
};

const loadPolicy = (io: CliIO, file: string): CompiledPolicy => loadPolicyFile(resolve(io.cwd, file));

async function readInput(io: CliIO, spec: string, what: string): Promise<string> {
  if (spec === '-') {
    if (!io.stdin) throw new CliError(`${what}: standard input is not available`);
    return io.stdin();
  }
  if (spec.startsWith('@')) {
    try {
      return readFileSync(resolve(io.cwd, spec.slice(1)), 'utf8');
    } catch {
      throw new CliError(`${what}: cannot read ${spec.slice(1)}`);
    }
  }
  return spec;
}

function parseEventJson(text: string, where: string): CanonicalEvent {
  let input: unknown;
  try {
    input = JSON.parse(text);
  } catch (err) {
    throw new EventInputError(
      `${where}: not valid JSON (${err instanceof Error ? err.message : String(err)}); write e.g. {"kind":"message","from":"xmpp:alice@corp.test","to":"matrix:u/bob:hs.test","body":"hi"}`,
    );
  }
  return eventFromInput(input, where);
}

function parseNow(values: Opts): Date | undefined {
  const now = values.now;
  if (now === undefined) return undefined;
  const d = new Date(String(now));
  if (typeof now !== 'string' || Number.isNaN(d.getTime())) {
    throw new CliError(`--now: "${String(now)}" is not an ISO 8601 instant; write e.g. 2026-11-25T22:30:00Z`);
  }
  return d;
}

const decisionJson = (d: Decision) =>
  JSON.stringify({
    decision: d.decision,
    rule: d.rule,
    reason: d.reason,
    obligations: d.obligations,
    transforms: d.transforms,
    event: d.event,
  });

async function cmdValidate(argv: string[], io: CliIO): Promise<number> {
  const { values, positionals } = parse(argv, {}, 'validate');
  if (values.help) return help(io, 'validate');
  if (positionals.length === 0) {
    throw new CliError(
      'parley policy validate: give the policy FILE to check\nRun "parley policy validate --help".',
    );
  }
  let bad = false;
  for (const file of positionals) {
    try {
      const p = loadPolicy(io, file);
      io.stdout(
        `${file}: valid (policy ${p.name} ${p.version}, ${p.ruleCount} rule${p.ruleCount === 1 ? '' : 's'})\n`,
      );
    } catch (err) {
      if (!(err instanceof SourceError)) throw err;
      bad = true;
      for (const p of err.problems) io.stderr(`${formatProblem({ ...p, file: displayPath(io, p.file) })}\n`);
    }
  }
  return bad ? EXIT_BAD_INPUT : EXIT_OK;
}

const displayPath = (io: CliIO, file: string): string => {
  const rel = relative(io.cwd, file);
  return rel && !rel.startsWith('..') ? rel : file;
};

async function cmdEval(argv: string[], io: CliIO): Promise<number> {
  const { values } = parse(
    argv,
    {
      policy: { type: 'string' },
      event: { type: 'string' },
      events: { type: 'string' },
      now: { type: 'string' },
    },
    'eval',
  );
  if (values.help) return help(io, 'eval');
  const policyFile = required(values, 'policy', 'eval');
  if ((values.event === undefined) === (values.events === undefined)) {
    throw new CliError(
      'parley policy eval: give exactly one of --event or --events\nRun "parley policy eval --help".',
    );
  }
  const now = parseNow(values);
  const policy = loadPolicy(io, policyFile);
  if (typeof values.event === 'string') {
    const event = parseEventJson(await readInput(io, values.event, '--event'), '--event');
    io.stdout(`${decisionJson(policy.evaluate(event, now))}\n`);
    return EXIT_OK;
  }
  const spec = String(values.events);
  const name = spec === '-' ? '<stdin>' : spec;
  const text = await readInput(io, spec === '-' ? '-' : `@${spec}`, '--events');
  let bad = 0;
  text.split('\n').forEach((line, i) => {
    if (line.trim() === '') return;
    try {
      const event = parseEventJson(line, `${name}:${i + 1}`);
      io.stdout(`${decisionJson(policy.evaluate(event, now))}\n`);
    } catch (err) {
      if (!(err instanceof EventInputError)) throw err;
      bad++;
      io.stderr(`${err.message}\n`);
    }
  });
  return bad > 0 ? EXIT_BAD_INPUT : EXIT_OK;
}

async function cmdTest(argv: string[], io: CliIO): Promise<number> {
  const { values, positionals } = parse(argv, {}, 'test');
  if (values.help) return help(io, 'test');
  if (positionals.length > 1) throw new CliError('parley policy test: give at most one DIR or FILE');
  const target = resolve(io.cwd, positionals[0] ?? 'policies/tests');
  let results: ReturnType<typeof runSuites>;
  try {
    results = runSuites(target);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') {
      throw new CliError(`parley policy test: ${displayPath(io, target)} does not exist`);
    }
    throw err;
  }
  const skipped = results.filter((r) => 'skipped' in r);
  const suiteCount = results.length - skipped.length;
  if (suiteCount === 0) {
    const shown = displayPath(io, target);
    throw new CliError(
      skipped.length > 0 && positionals[0] !== undefined && skipped[0]!.file === target
        ? `parley policy test: ${shown} is a policy, not a test suite: give a suite file or a directory of suites (a suite names its policy with "policy:"; see docs/policy.md)`
        : `parley policy test: no suite files (*.yaml) in ${shown}${skipped.length > 0 ? ` (only the policy file${skipped.length === 1 ? '' : 's'} ${skipped.map((r) => displayPath(io, r.file)).join(', ')})` : ''}`,
    );
  }
  let passed = 0;
  let failed = 0;
  let broken = 0;
  for (const r of results) {
    const file = displayPath(io, r.file);
    if ('skipped' in r) {
      const by = r.testedBy.map((f) => displayPath(io, f));
      io.stdout(
        `note ${file}: a policy, not a suite; skipped${by.length > 0 ? ` (the policy under test of ${by.join(', ')})` : ''}\n`,
      );
      continue;
    }
    if ('error' in r) {
      broken++;
      io.stderr(`BAD  ${file}\n`);
      for (const p of r.error.problems)
        io.stderr(`  ${formatProblem({ ...p, file: displayPath(io, p.file) })}\n`);
      continue;
    }
    for (const c of r.result.cases) {
      if (c.ok) {
        passed++;
        io.stdout(`ok   ${file}: ${c.name}\n`);
      } else {
        failed++;
        io.stdout(`FAIL ${file}:${c.line}: ${c.name}\n`);
        for (const d of c.diffs) io.stdout(`       ${d}\n`);
      }
    }
  }
  const suites = suiteCount;
  io.stdout(
    `\n${passed} passed, ${failed} failed${broken ? `, ${broken} suite${broken === 1 ? '' : 's'} invalid` : ''} (${suites} suite${suites === 1 ? '' : 's'})\n`,
  );
  return broken > 0 ? EXIT_BAD_INPUT : failed > 0 ? EXIT_CHECK_FAILED : EXIT_OK;
}

function renderExplanation(event: CanonicalEvent, x: Explanation): string {
  const c = x.classification;
  const lines = [
    `event:     ${event.kind} ${event.from} -> ${event.to}`,
    `zones:     ${c.fromZone ?? '(none)'} -> ${c.toZone ?? '(none)'} (${c.direction})`,
    'rules (file order):',
  ];
  for (const r of x.rules) {
    lines.push(`  ${r.matched ? 'MATCH' : '-    '} ${r.id} (${r.effect})`);
    for (const b of r.because) lines.push(`          ${b}`);
  }
  const d = x.decision;
  lines.push(
    `decision:  ${d.decision} ${d.rule ? `by rule ${d.rule}` : '(default)'}${d.reason ? `: ${d.reason}` : ''}`,
  );
  if (Object.keys(d.obligations).length > 0) lines.push(`obligations: ${JSON.stringify(d.obligations)}`);
  for (const t of d.transforms) lines.push(`transform: ${t.effect} by ${t.rule}`);
  return `${lines.join('\n')}\n`;
}

async function cmdExplain(argv: string[], io: CliIO): Promise<number> {
  const { values } = parse(
    argv,
    {
      policy: { type: 'string' },
      event: { type: 'string' },
      now: { type: 'string' },
      json: { type: 'boolean' },
    },
    'explain',
  );
  if (values.help) return help(io, 'explain');
  const policyFile = required(values, 'policy', 'explain');
  const eventSpec = required(values, 'event', 'explain');
  const now = parseNow(values);
  const policy = loadPolicy(io, policyFile);
  const event = parseEventJson(await readInput(io, eventSpec, '--event'), '--event');
  const x = policy.explain(event, now);
  io.stdout(values.json ? `${JSON.stringify(x, null, 2)}\n` : renderExplanation(event, x));
  return EXIT_OK;
}

function help(io: CliIO, command: string): number {
  io.stdout(HELP[command] ?? USAGE);
  return EXIT_OK;
}

/** `parley policy ...`; returns the exit code. */
export async function policyCommand(argv: string[], io: CliIO): Promise<number> {
  const [command, ...rest] = argv;
  try {
    switch (command) {
      case 'validate':
        return await cmdValidate(rest, io);
      case 'eval':
        return await cmdEval(rest, io);
      case 'test':
        return await cmdTest(rest, io);
      case 'explain':
        return await cmdExplain(rest, io);
      case undefined:
      case '-h':
      case '--help':
      case 'help':
        io.stdout(USAGE);
        return command === undefined ? EXIT_BAD_INPUT : EXIT_OK;
      default:
        io.stderr(`parley policy: unknown command "${command}"\n\n${USAGE}`);
        return EXIT_BAD_INPUT;
    }
  } catch (err) {
    if (err instanceof SourceError) {
      for (const p of err.problems) io.stderr(`${formatProblem({ ...p, file: displayPath(io, p.file) })}\n`);
      return EXIT_BAD_INPUT;
    }
    if (err instanceof CliError) {
      io.stderr(`${err.message}\n`);
      return err.exitCode;
    }
    if (err instanceof EventInputError) {
      io.stderr(`${err.message}\n`);
      return EXIT_BAD_INPUT;
    }
    throw err;
  }
}
