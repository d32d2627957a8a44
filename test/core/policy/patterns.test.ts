// Content patterns run in time linear in the body (RE2), keep the JavaScript results on
// ordinary patterns, and refuse at load the features that would need backtracking.
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import fc from 'fast-check';
import t from 'tap';
import { compilePattern } from '../../../src/core/policy/compile.js';
import { compilePolicySource, loadPolicyFile } from '../../../src/core/policy/load.js';
import { formatProblem, SourceError, type SourceProblem } from '../../../src/core/yaml-source.js';
import { HEAD, msg, policy } from '../../fixtures/policy-helpers.js';

const ZONES = `zones:
  enterprise: { domains: [corp.test] }
  consumer: { domains: ["*"] }
defaults: { decision: allow }
`;
const FROM = 'xmpp:eve@outside.test';
const TO = 'xmpp:bob@corp.test';

t.test(
  '(a+)+$ decides a 20,000-character crafted message (exponential on a backtracking engine)',
  async (t) => {
    const p = policy(`${ZONES}rules:
  - id: only-as
    match: { kind: message, content: { pattern: '(a+)+$' } }
    effect: deny
`);
    const evil = `${'a'.repeat(20_000)}!`;
    t.match(
      p.evaluate(msg(FROM, TO, evil)),
      { decision: 'allow', rule: null },
      'no match: the body ends in "!"',
    );
    t.match(p.evaluate(msg(FROM, TO, 'a'.repeat(20_000))), { decision: 'deny', rule: 'only-as' });
  },
);

t.test('card patterns decide and redact crafted 10,000+ character bodies', async (t) => {
  // `\d+` inside a counted group: on a long digit run that cannot end at a word boundary, a
  // backtracking engine tries every way to split the run into 13..16 groups.
  const p = policy(`${ZONES}rules:
  - id: cards
    match: { kind: message, content: { pattern: '\\b(?:\\d+[ -]?){13,16}\\b' } }
    effect: redact
    replacement: "[card]"
`);
  const run = `${'1'.repeat(12_000)}x`;
  const clean = p.evaluate(msg(FROM, TO, `order ${run}`));
  t.match(
    clean,
    { decision: 'allow', rule: null, redacted: false },
    'no card in a digit run glued to a letter',
  );
  const card = p.evaluate(msg(FROM, TO, `pay 4111-1111-1111-1111 now ${run}`));
  t.match(card, { decision: 'allow', rule: 'cards', redacted: true });
  t.equal(
    card.event.kind === 'message' ? card.event.body : null,
    `pay [card]now ${run}`,
    'the separator after the number is part of the match, as before',
  );

  const lazy = policy(`${ZONES}rules:
  - id: lazy-cards
    match: { kind: message, content: { pattern: '(?:\\d[ -]*?){13,16}' } }
    effect: deny
`);
  // 12 digits, then long separators: the pattern needs 13 digits.
  const sparse = `${'1 - '.repeat(12)}${'-'.repeat(12_000)}`;
  t.match(lazy.evaluate(msg(FROM, TO, sparse)), { decision: 'allow', rule: null });
  t.match(lazy.evaluate(msg(FROM, TO, `${sparse}1`)), { decision: 'deny', rule: 'lazy-cards' });
});

/** Problems of a policy made of HEAD + body (line numbers count from HEAD's 3 lines). */
function problems(body: string): SourceProblem[] {
  try {
    compilePolicySource(HEAD + body, 'p.yaml');
  } catch (err) {
    if (err instanceof SourceError) return err.problems;
    throw err;
  }
  throw new Error('expected the policy to be rejected');
}

t.test(
  'backreferences and lookarounds are refused at load with file:line, why and what instead',
  async (t) => {
    const cases: [string, RegExp][] = [
      [
        '(ab)\\1',
        /backreference "\\1" \(character 5\) is not supported: .*linear-time engine \(RE2\).*write the repeated text out/,
      ],
      ['(?<x>a)\\k<x>', /named backreference .*not supported.*linear time/],
      ['card(?= number)', /lookahead "\(\?=" \(character 5\) is not supported.*match the neighbouring text/],
      ['card(?! number)', /lookahead "\(\?!" .*not supported/],
      ['(?<=card )\\d+', /lookbehind "\(\?<=" \(character 1\) is not supported/],
      ['(?<!no )secret', /lookbehind "\(\?<!" .*not supported/],
    ];
    for (const [pattern, message] of cases) {
      const ps = problems(`${ZONES}rules:
  - id: r
    match: { content: { pattern: ${JSON.stringify(pattern)} } }
    effect: deny
`);
      t.equal(ps.length, 1, ps.map(formatProblem).join('\n'));
      const line = formatProblem(ps[0]!);
      t.match(
        line,
        /^p\.yaml:10:\d+: rules\[0\]\.match\.content\.pattern: invalid regular expression: /,
        line,
      );
      t.match(ps[0]!.message, message, pattern);
    }
    // Look-alikes that are not backreferences or lookarounds still compile.
    for (const ok of ['\\\\1', '[(?=]x', '(?:ab){2}', '(?<name>a)b', '(?i)Secret']) {
      t.doesNotThrow(() => compilePattern(ok), ok);
    }
  },
);

t.test('malformed patterns keep a plain message without the engine prefix', async (t) => {
  t.throws(() => compilePattern('(unclosed'), { message: 'missing closing ): `(unclosed`' });
  t.throws(() => compilePattern('x{2,1}'), { message: /invalid repeat count/ });
});

t.test('(?i) at the start is case-insensitive; $ in a replacement is literal', async (t) => {
  const re = compilePattern('(?i)top secret');
  t.ok(re.test('this is TOP Secret'));
  t.notOk(compilePattern('top secret').test('TOP SECRET'));
  t.equal(compilePattern('(\\d+)').replaceAll('pin 1234', '$1 $& \\1 $$'), 'pin $1 $& \\1 $$');
});

// Patterns from a small grammar: every construct both engines share, with short bodies so
// that the backtracking reference cannot blow up.
const atom = fc.constantFrom('a', 'b', '1', ' ', '.', '\\d', '\\w', '\\s', '[ab]', '[^a]', '[0-9 -]', 'x');
const piece = fc
  .tuple(atom, fc.constantFrom('', '', '?', '*', '+', '??', '*?', '+?', '{1,3}', '{2}', '{0,2}?'))
  .map(([a, q]) => a + q);
const seq = fc.array(piece, { minLength: 1, maxLength: 4 }).map((xs) => xs.join(''));
// Inside a group every branch consumes a character: when a branch of a repeated group can match
// the empty string, JavaScript refuses an empty iteration and RE2 accepts it (see docs/policy.md).
const solid = fc
  .array(
    fc.tuple(atom, fc.constantFrom('', '+', '+?', '{1,3}', '{2}')).map(([a, q]) => a + q),
    { minLength: 1, maxLength: 3 },
  )
  .map((xs) => xs.join(''));
const group = fc
  .tuple(
    fc.array(solid, { minLength: 1, maxLength: 3 }),
    fc.constantFrom('(?:', '('),
    fc.constantFrom('', '?', '+', '{1,2}'),
  )
  .map(([alts, open, q]) => `${open}${alts.join('|')})${q}`);
const patternArb = fc
  .tuple(
    fc.constantFrom('', '(?i)'),
    fc.constantFrom('', '^', '\\b'),
    fc.array(fc.oneof(seq, group), { minLength: 1, maxLength: 3 }),
    fc.constantFrom('', '$', '\\b'),
  )
  .map(([flag, start, parts, end]) => `${flag}${start}${parts.join('')}${end}`);
const bodyArb = fc
  .array(fc.constantFrom('a', 'b', 'A', 'B', '1', '2', ' ', '-', 'x', '\n', 'é'), { maxLength: 30 })
  .map((cs) => cs.join(''));

const jsRegExp = (src: string, global: boolean): RegExp => {
  const ci = src.startsWith('(?i)');
  return new RegExp(ci ? src.slice(4) : src, `${global ? 'g' : ''}${ci ? 'i' : ''}`);
};

t.test('matching and redaction equal the JavaScript engine on ordinary patterns (property)', async (t) => {
  fc.assert(
    fc.property(patternArb, bodyArb, fc.string({ maxLength: 6 }), (src, body, replacement) => {
      const re = compilePattern(src);
      const js = jsRegExp(src, false);
      if (re.test(body) !== js.test(body))
        throw new Error(`test(${JSON.stringify(body)}) differs for /${src}/`);
      const want = body.replace(jsRegExp(src, true), () => replacement);
      const got = re.replaceAll(body, replacement);
      if (got !== want) {
        throw new Error(
          `/${src}/ on ${JSON.stringify(body)}: ${JSON.stringify(got)} != ${JSON.stringify(want)}`,
        );
      }
    }),
    { numRuns: 3000 },
  );
  t.pass('3000 patterns and bodies agree');
});

t.test('every shipped policy and every pattern the tests use still compiles', async (t) => {
  const dir = join(dirname(fileURLToPath(import.meta.url)), '../../../policies');
  const files = ['default.yaml', ...readdirSync(join(dir, 'examples')).map((f) => `examples/${f}`)];
  for (const f of files.filter((f) => f.endsWith('.yaml'))) {
    t.doesNotThrow(() => loadPolicyFile(join(dir, f)), f);
  }
  // Patterns written in test fixtures and the console compliance example.
  for (const p of [
    '\\b(?:\\d[ -]?){13,16}\\b',
    '\\b\\d(?:[ -]?\\d){12,15}\\b',
    '(?i)\\b[A-Z]{2}\\d{2}(?: ?[A-Z0-9]{4}){2,7}(?: ?[A-Z0-9]{1,3})?\\b',
    '\\\\b(?:\\\\d[ -]?){12,15}\\\\d\\\\b',
    '\\d{4}-\\d{4}',
    '(?i)secret',
    'top secret',
    'secret plan',
    '\\d{4}',
    '\\bcard\\b',
  ]) {
    t.doesNotThrow(() => compilePattern(p), p);
  }
  t.ok(
    readFileSync(join(dir, 'examples/financial.yaml'), 'utf8').includes('content'),
    'the example has patterns',
  );
});
