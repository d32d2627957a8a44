import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t, { type Test } from 'tap';
import { compilePolicySource, loadPolicyFile } from '../../../src/core/policy/load.js';
import { formatProblem, SourceError, type SourceProblem } from '../../../src/core/yaml-source.js';
import { HEAD } from '../../fixtures/policy-helpers.js';

const GOOD_ZONES = `zones:
  enterprise: { domains: [corp.test] }
  consumer: { domains: ["*"] }
segments:
  research: { users: ["alice@corp.test"] }
defaults: { decision: deny }
`;

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

const one = (t: Test, body: string, line: number, message: RegExp) => {
  const ps = problems(body);
  t.equal(ps.length, 1, ps.map(formatProblem).join('\n'));
  t.equal(ps[0]!.line, line, `line of: ${ps[0]!.message}`);
  t.match(ps[0]!.message, message);
  t.equal(ps[0]!.file, 'p.yaml');
};

t.test('YAML syntax errors', async (t) => {
  const ps = problems(`${GOOD_ZONES}rules:\n  - id: a\n    match: { kind: [message }\n`);
  t.ok(ps.length >= 1);
  t.equal(ps[0]!.line, 12);
});

t.test('schema errors, one per real error, with friendly messages', async (t) => {
  one(
    t,
    `${GOOD_ZONES}rules:\n  - id: a\n    match: {}\n    effect: allow\n    colour: red\n`,
    14,
    /^unknown key "colour" \(allowed: id, description, match, effect, reason, replacement, obligations\)$/,
  );
  one(
    t,
    `${GOOD_ZONES}rules:\n  - id: a\n    match: { kind: [message, fax] }\n    effect: allow\n`,
    12,
    /expected one of message, presence, chatstate, receipt, call, got string "fax"/,
  );
  one(
    t,
    `${GOOD_ZONES}rules:\n  - id: a\n    match: { from: { zone: 3 } }\n    effect: allow\n`,
    12,
    /zone name/,
  );
  one(
    t,
    `${GOOD_ZONES}rules:\n  - id: a\n    match: {}\n    effect: permit\n`,
    13,
    /expected one of allow, deny, redact/,
  );
  one(t, `${GOOD_ZONES}rules:\n  - id: a\n    effect: allow\n`, 11, /missing required key "match"/);
  one(
    t,
    `${GOOD_ZONES}rules:\n  - id: a\n    match: { between: [{ zone: enterprise }] }\n    effect: allow\n`,
    12,
    /expected a pair/,
  );
  const err = t.throws(() =>
    compilePolicySource(
      `apiVersion: parley/v2\nkind: Policy\nmetadata: { name: x, version: "1" }\n${GOOD_ZONES}rules: []\n`,
      'p.yaml',
    ),
  ) as SourceError;
  t.equal(err.problems.length, 1);
  t.equal(err.problems[0]!.line, 1);
  t.match(err.problems[0]!.message, /expected "parley\/v1"/);
});

t.test('reference and value errors with their lines', async (t) => {
  const r = `${GOOD_ZONES}rules:\n`;
  one(
    t,
    `${r}  - { id: a, match: { to: { zone: partner } }, effect: allow }\n`,
    11,
    /unknown zone "partner" \(zones: enterprise, consumer\)/,
  );
  one(
    t,
    `${r}  - { id: a, match: { between: [{ segment: research }, { segment: sales }] }, effect: deny }\n`,
    11,
    /unknown segment "sales"/,
  );
  one(
    t,
    `${r}  - { id: a, match: {}, effect: allow }\n  - { id: b, match: {}, effect: allow }\n  - { id: a, match: {}, effect: deny }\n`,
    13,
    /duplicate rule id "a" \(first used at line 11\)/,
  );
  one(
    t,
    `${r}  - id: a\n    match: { content: { pattern: "(unclosed" } }\n    effect: deny\n`,
    12,
    /invalid regular expression/,
  );
  one(
    t,
    `${r}  - id: a\n    match: { time: { hours: "25:00-06:00" } }\n    effect: deny\n`,
    12,
    /impossible time/,
  );
  one(t, `${r}  - id: a\n    match: { time: { hours: "9-17" } }\n    effect: deny\n`, 12, /HH:MM-HH:MM/);
  one(
    t,
    `${r}  - id: a\n    match: { time: { hours: "09:00-17:00", tz: Mars/Olympus } }\n    effect: deny\n`,
    12,
    /unknown time zone "Mars\/Olympus"/,
  );
  one(
    t,
    `${r}  - id: a\n    match: {}\n    effect: allow\n    obligations: { rateLimit: 30/day }\n`,
    14,
    /not a rate limit/,
  );
  one(t, `${r}  - id: a\n    match: {}\n    effect: redact\n`, 13, /redact rule needs match.content.pattern/);
  one(t, `${r}  - { id: a, match: { party: { domain: "ex*ample.com" } }, effect: deny }\n`, 11, /wildcard/);
  one(
    t,
    `zones:\n  enterprise: { domains: [corp.test, "bad domain"] }\ndefaults: { decision: deny }\nrules: []\n`,
    5,
    /not a valid domain/,
  );
  one(
    t,
    `zones:\n  enterprise: { domains: [corp.test] }\n  other: { domains: [corp.test] }\ndefaults: { decision: deny }\nrules: []\n`,
    6,
    /already in zone enterprise/,
  );
  one(
    t,
    `zones: { enterprise: { domains: [corp.test] } }\nsegments:\n  s: { users: ["alice@corp.test", "not an address"] }\ndefaults: { decision: deny }\nrules: []\n`,
    6,
    /not a valid member/,
  );
  one(
    t,
    `zones: { enterprise: { domains: [corp.test] } }\nsegments:\n  s: { users: ["xmpp:nouser"] }\ndefaults: { decision: deny }\nrules: []\n`,
    6,
    /needs a user/,
  );
  one(
    t,
    `zones: { partner: { domains: [corp.test] } }\ndefaults: { decision: deny }\nrules:\n  - { id: a, match: { direction: inbound }, effect: allow }\n`,
    7,
    /needs a zone named "enterprise"/,
  );
});

t.test('loadPolicyFile reads files and reports a missing file', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'parley-policy-'));
  const file = join(dir, 'p.yaml');
  writeFileSync(file, `${HEAD}${GOOD_ZONES}rules: []\n`);
  const p = loadPolicyFile(file);
  t.equal(p.file, file);
  t.equal(p.name, 't');
  t.equal(p.ruleCount, 0);
  t.throws(() => loadPolicyFile(join(dir, 'missing.yaml')), SourceError);
});

t.test('the shipped policies load', async (t) => {
  for (const f of [
    'policies/default.yaml',
    'policies/examples/financial.yaml',
    'policies/examples/open-federation.yaml',
  ]) {
    t.ok(loadPolicyFile(f).ruleCount > 0, f);
  }
});
