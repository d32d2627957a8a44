// The policy loader's limits (issue 15, item 3): a small text must not make the loader
// expand, validate or report without bound. The loader is shared by the admin API, the
// policy file watcher and the CLI; these tests call it directly.
import t from 'tap';
import { compilePolicySource, POLICY_LIMITS } from '../../../src/core/policy/load.js';
import {
  MAX_PROBLEMS,
  parseYamlSource,
  SourceError,
  type SourceProblem,
  YAML_LIMITS,
} from '../../../src/core/yaml-source.js';
import { aliasBomb, HEAD, largePolicy, withDuplicates } from '../../fixtures/policy-bombs.js';
import { msg } from '../../fixtures/policy-helpers.js';

function rejected(text: string, file = 'p.yaml'): SourceError {
  try {
    compilePolicySource(text, file);
  } catch (err) {
    if (err instanceof SourceError) return err;
    throw err;
  }
  throw new Error('expected the policy to be rejected');
}

const ZONES = 'zones:\n  enterprise: { domains: [corp.test] }\ndefaults: { decision: deny }\n';

t.test('the alias bomb of the issue is refused with one located size error', async (t) => {
  // 5,000 domains under 500 zone names: 2.5 million domains once expanded, from 114 KB.
  const text = aliasBomb(5000, 500);
  const err = rejected(text, 'bomb.yaml');
  t.equal(err.problems.length, 1, 'one problem, not one per expanded domain');
  const p = err.problems[0]!;
  t.equal(p.file, 'bomb.yaml');
  t.match(p.message, /the document is too large: alias \*z expands to 5003 values/);
  t.match(p.message, new RegExp(`past ${YAML_LIMITS.maxNodes} values`));
  // The alias that crossed the limit: zone z<i> is on line 6 + 5000 + i, and each alias
  // adds 5,003 values to the 5,007 of the document before it.
  const crossing = Math.ceil((YAML_LIMITS.maxNodes - 5007 + 1) / 5003);
  t.equal(p.line, 6 + 5000 + crossing, `line of zone z${crossing}: ${p.line}`);
  t.ok(err.message.length < 1000, `a short message (${err.message.length} characters)`);
});

t.test('more aliases than the limit are refused at the first alias past it', async (t) => {
  const err = rejected(aliasBomb(10, 500));
  t.equal(err.problems.length, 1);
  t.match(err.problems[0]!.message, /too many aliases: more than 100 uses of \*name/);
  // z1 is line 17; the 101st alias is z101.
  t.equal(err.problems[0]!.line, 17 + YAML_LIMITS.maxAliases);
});

t.test('aliases inside aliased nodes count each time they are expanded', async (t) => {
  // Ten uses of *b, which holds ten uses of *a: 10 + 10 * (1 + 10) = 120 alias expansions.
  const text = `a: &a [x, x, x, x, x, x, x, x, x, x]\nb: &b [${Array(10).fill('*a').join(', ')}]\nc: [${Array(10).fill('*b').join(', ')}]\n`;
  const err = t.throws(() => parseYamlSource(text, 'n.yaml')) as SourceError;
  t.equal(err.problems.length, 1);
  t.match(err.problems[0]!.message, /too many aliases/);
  t.equal(err.problems[0]!.line, 3);
  // The same shape one level shallower is fine.
  t.same((parseYamlSource('a: &a [x, y]\nb: [*a, *a]\n', 'ok.yaml').value as { b: unknown }).b, [
    ['x', 'y'],
    ['x', 'y'],
  ]);
});

t.test('an alias inside the node it names, an unknown alias, deep nesting: located errors', async (t) => {
  const cycle = t.throws(() => parseYamlSource('a: 1\nb: &x\n  c: [1, *x]\n', 'c.yaml')) as SourceError;
  t.match(cycle.problems[0], {
    file: 'c.yaml',
    line: 3,
    message: /alias \*x is used inside the node it names/,
  });
  const unknown = t.throws(() => parseYamlSource('a: 1\nb: *nope\n', 'u.yaml')) as SourceError;
  t.match(unknown.problems[0], { line: 2, message: /unknown alias \*nope|nope/ });
  const deep = Array.from({ length: 80 }, (_, i) => `${'  '.repeat(i)}k${i}:`).join('\n');
  const err = t.throws(() => parseYamlSource(`${deep} x\n`, 'd.yaml')) as SourceError;
  t.match(err.problems[0], { line: YAML_LIMITS.maxDepth + 1, message: /nested too deeply/ });
  const flow = t.throws(() => parseYamlSource(`a: ${'['.repeat(5000)}${']'.repeat(5000)}\n`, 'f.yaml'));
  t.type(flow, SourceError, 'thousands of [ are a located error, not a crash');
});

t.test('the same zone list under two names is one problem per name, not per domain', async (t) => {
  const err = rejected(aliasBomb(1000, 5));
  t.equal(err.problems.length, 4);
  t.same(
    err.problems.map((p) => p.line),
    [1007, 1008, 1009, 1010],
  );
  t.match(err.problems[0]!.message, /zone z1 has the same domains as zone z0/);
});

t.test('duplicates in a large legal policy are all found, each at its line', async (t) => {
  const { text, dupLines } = withDuplicates(20_000, 80);
  const err = rejected(text);
  t.equal(err.problems.length, 80, 'every duplicate, nothing else');
  t.same(
    err.problems.map((p) => p.line),
    dupLines,
  );
  t.match(err.problems[0]!.message, /"d0\.example" is already in zone a/);
});

t.test('the problem list is capped: the first 100 by line, then how many more', async (t) => {
  const { text, dupLines } = withDuplicates(20_000, 5000);
  const err = rejected(text);
  t.equal(err.problems.length, MAX_PROBLEMS + 1);
  t.same(
    err.problems.slice(0, MAX_PROBLEMS).map((p) => p.line),
    dupLines.slice(0, MAX_PROBLEMS),
  );
  const last = err.problems[MAX_PROBLEMS]!;
  t.match(last.message, /^and 4900 more problems \(only the first 100 are listed/);
  t.equal(last.line, dupLines[MAX_PROBLEMS], 'the summary sits at the first problem left out');
  t.equal(err.message.split('\n').length, MAX_PROBLEMS + 1);

  // Schema problems too: 300 rules with an unknown key.
  const rules = Array.from(
    { length: 300 },
    (_, i) => `  - { id: r${i}, match: {}, effect: allow, colour: red }\n`,
  );
  const schema = rejected(`${HEAD}${ZONES}rules:\n${rules.join('')}`);
  t.equal(schema.problems.length, MAX_PROBLEMS + 1);
  t.match(schema.problems[0], { line: 8, message: /unknown key "colour"/ });
  t.match(schema.problems[MAX_PROBLEMS]!.message, /^and 200 more problems/);

  // Any SourceError, whoever builds it.
  const many: SourceProblem[] = Array.from({ length: 250 }, (_, i) => ({
    file: 'x',
    line: i + 1,
    column: 1,
    path: '',
    message: `p${i}`,
  }));
  t.equal(new SourceError(many).problems.length, MAX_PROBLEMS + 1);
  t.equal(
    new SourceError(many.slice(0, MAX_PROBLEMS + 1)).problems.length,
    MAX_PROBLEMS + 1,
    'no summary for one more',
  );
});

t.test('duplicate keys are found (the parser does not look for them)', async (t) => {
  const err = rejected(
    `${HEAD}zones:\n  a: { domains: [a.test] }\n  b: { domains: [b.test], domains: [c.test] }\n${ZONES}rules: []\n`,
  );
  t.same(
    err.problems.map((p) => [p.line, p.message]),
    [
      [6, 'duplicate key "domains" (first at line 6): keys of a mapping must be unique'],
      [7, 'duplicate key "zones" (first at line 4): keys of a mapping must be unique'],
    ],
  );
  // 1 and "1" are different keys.
  t.same(parseYamlSource('1: x\n"1": y\n', 'k.yaml').value, { 1: 'y' } as unknown);
});

t.test('zones and the index size are bounded', async (t) => {
  const zones = rejected(largePolicy(POLICY_LIMITS.maxZones, 1, 1, 1));
  t.equal(zones.problems.length, 1);
  t.match(zones.problems[0], { line: 4, message: /too many zones: 101 \(at most 100/ });
  const index = rejected(largePolicy(20, 10, 1000, 100));
  t.equal(index.problems.length, 1);
  t.match(
    index.problems[0]!.message,
    /too large to index: \(21 zones \+ 1\)² × \(1001 rules \+ 1100 domain patterns/,
  );
  // A large legal policy: 3 zones (+ enterprise) of 1,000 domains, 100 rules, a block list of 2,000.
  const p = compilePolicySource(largePolicy(3, 1000, 100, 2000), 'big.yaml');
  t.equal(p.ruleCount, 101);
  t.equal(p.evaluate(msg('xmpp:a@corp.test', 'xmpp:b@d1999.z0.test')).rule, 'block');
});
