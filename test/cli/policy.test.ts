import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import type { CliIO } from '../../src/cli/io.js';
import { policyCommand } from '../../src/cli/policy.js';
import { aliasBomb, withDuplicates } from '../fixtures/policy-bombs.js';

async function run(argv: string[], cwd = process.cwd(), stdin?: string) {
  let out = '';
  let err = '';
  const io: CliIO = {
    stdout: (s) => {
      out += s;
    },
    stderr: (s) => {
      err += s;
    },
    cwd,
    env: {},
    ...(stdin !== undefined ? { stdin: async () => stdin } : {}),
  };
  const code = await policyCommand(argv, io);
  return { code, out, err };
}

const EVENT =
  '{"kind":"message","from":"xmpp:alice@corp.test","to":"matrix:u/bob:hs.test","body":"hi","time":"2026-11-25T10:00:00Z"}';

t.test('validate: 0 for valid, 2 with file:line:col problems', async (t) => {
  const ok = await run(['policy', 'validate', 'policies/default.yaml'].slice(1));
  t.equal(ok.code, 0);
  t.match(ok.out, /valid \(policy default/);
  const dir = mkdtempSync(join(tmpdir(), 'parley-cli-'));
  writeFileSync(
    join(dir, 'bad.yaml'),
    'apiVersion: parley/v1\nkind: Policy\nmetadata: { name: x, version: "1" }\nzones: { enterprise: { domains: [corp.test] } }\ndefaults: { decision: deny }\nrules:\n  - { id: a, match: { to: { zone: nowhere } }, effect: allow }\n',
  );
  const bad = await run(['validate', 'bad.yaml'], dir);
  t.equal(bad.code, 2);
  t.match(bad.err, /^bad\.yaml:7:\d+: rules\[0\]\.match\.to\.zone: unknown zone "nowhere"/);
  t.notMatch(bad.err, /at .*\.ts/, 'no stack trace');
  const missing = await run(['validate']);
  t.equal(missing.code, 2);
});

t.test('eval prints the decision JSON', async (t) => {
  const r = await run(['eval', '--policy', 'policies/default.yaml', '--event', EVENT]);
  t.equal(r.code, 0, r.err);
  const d = JSON.parse(r.out);
  t.equal(d.decision, 'allow');
  t.equal(d.rule, 'consumer-im');
  t.same(d.obligations, {
    disclaimer: 'Messages exchanged with Corp are archived for compliance.',
    rateLimit: '30/min',
  });
  t.equal(d.event.body, 'hi');
  const deny = await run(
    ['eval', '--policy', 'policies/default.yaml', '--event', '-'],
    process.cwd(),
    '{"kind":"call","from":"xmpp:alice@corp.test","to":"sip:x@example.org"}',
  );
  t.equal(JSON.parse(deny.out).rule, 'no-consumer-calls');
});

t.test('eval --events: one line per event, bad lines named by number', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'parley-cli-'));
  writeFileSync(join(dir, 'ev.jsonl'), `${EVENT}\n{"kind":"fax"}\n\nnot json\n${EVENT}\n`);
  const r = await run(
    ['eval', '--policy', `${process.cwd()}/policies/default.yaml`, '--events', 'ev.jsonl'],
    dir,
  );
  t.equal(r.code, 2);
  t.equal(r.out.trim().split('\n').length, 2);
  t.match(r.err, /ev\.jsonl:2: kind: "fax" is not an event kind/);
  t.match(r.err, /ev\.jsonl:4: not valid JSON/);
});

t.test('eval: bad input and options exit 2 with a clear message', async (t) => {
  const r1 = await run([
    'eval',
    '--policy',
    'policies/default.yaml',
    '--event',
    '{"kind":"message","from":"alice","to":"xmpp:b@c.test"}',
  ]);
  t.equal(r1.code, 2);
  t.match(r1.err, /from: "alice" has no scheme/);
  const r2 = await run(['eval', '--event', EVENT]);
  t.equal(r2.code, 2);
  t.match(r2.err, /--policy is required/);
  const r3 = await run(['eval', '--policy', 'policies/default.yaml', '--event', EVENT, '--frobnicate']);
  t.equal(r3.code, 2);
  t.match(r3.err, /Unknown option '--frobnicate'/);
  const r4 = await run(['eval', '--policy', 'nope.yaml', '--event', EVENT]);
  t.equal(r4.code, 2);
  t.match(r4.err, /nope\.yaml:1:1: file not found/);
  const r5 = await run(['eval', '--policy', 'policies/default.yaml', '--event', EVENT, '--now', 'yesterday']);
  t.equal(r5.code, 2);
  const r6 = await run(['frob']);
  t.equal(r6.code, 2);
  t.match(r6.err, /unknown command "frob"/);
});

t.test('test runs the shipped suites and they pass', async (t) => {
  const r = await run(['test']);
  t.equal(r.code, 0, r.out + r.err);
  t.match(r.out, /\d+ passed, 0 failed \(3 suites\)/);
});

t.test('test: a failing case exits 1, a bad suite exits 2', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'parley-cli-'));
  const policy = join(process.cwd(), 'policies/default.yaml');
  writeFileSync(
    join(dir, 'fail.yaml'),
    `policy: ${policy}\ncases:\n  - name: wrong\n    event: { kind: call, from: "xmpp:a@corp.test", to: "sip:b@x.org" }\n    expect: { decision: allow }\n`,
  );
  const r = await run(['test', dir]);
  t.equal(r.code, 1);
  t.match(r.out, /FAIL .*fail\.yaml:3: wrong/);
  t.match(r.out, /decision: expected "allow", got "deny"/);
  writeFileSync(
    join(dir, 'fail.yaml'),
    `policy: ${policy}\ncases:\n  - name: bad\n    event: { kind: call }\n    expect: { decision: allow }\n`,
  );
  const b = await run(['test', dir]);
  t.equal(b.code, 2);
  t.match(b.err, /fail\.yaml:4:\d+: cases\[0\]\.event: from: missing/);
});

t.test('explain: human and JSON', async (t) => {
  const r = await run(['explain', '--policy', 'policies/default.yaml', '--event', EVENT]);
  t.equal(r.code, 0);
  t.match(r.out, /MATCH consumer-im \(allow\)/);
  t.match(r.out, /decision: {2}allow by rule consumer-im/);
  const j = await run(['explain', '--policy', 'policies/default.yaml', '--event', EVENT, '--json']);
  const x = JSON.parse(j.out);
  t.equal(x.rules.length, 5);
  t.equal(x.decision.rule, 'consumer-im');
  const h = await run(['explain', '--help']);
  t.equal(h.code, 0);
  t.match(h.out, /Usage: parley policy explain/);
});

t.test('validate: the alias bomb of issue 15 gets the limit error, exit 2', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'parley-cli-'));
  writeFileSync(join(dir, 'bomb.yaml'), aliasBomb(5000, 500));
  const r = await run(['validate', 'bomb.yaml'], dir);
  t.equal(r.code, 2);
  t.match(r.err, /^bomb\.yaml:\d+:\d+: the document is too large: alias \*z expands to 5003 values/);
  t.equal(r.err.trim().split('\n').length, 1, 'one line, not one per expanded domain');
  writeFileSync(join(dir, 'aliases.yaml'), aliasBomb(10, 500));
  const a = await run(['validate', 'aliases.yaml'], dir);
  t.equal(a.code, 2);
  t.match(a.err, /^aliases\.yaml:117:\d+: too many aliases/);
  writeFileSync(join(dir, 'dupes.yaml'), withDuplicates(4000, 2000).text);
  const d = await run(['validate', 'dupes.yaml'], dir);
  t.equal(d.code, 2);
  const lines = d.err.trim().split('\n');
  t.equal(lines.length, 101, 'the first 100 problems and a count');
  t.match(lines[100], /^dupes\.yaml:\d+:\d+: and 1900 more problems/);
});

t.test(
  'test DIR: a policy file beside the suites is the policy under test, not a broken suite',
  async (t) => {
    const dir = mkdtempSync(join(tmpdir(), 'parley-cli-'));
    writeFileSync(join(dir, 'policy.yaml'), readFileSync('policies/default.yaml', 'utf8'));
    writeFileSync(
      join(dir, 'calls.yaml'),
      'policy: policy.yaml\ncases:\n  - name: no consumer calls\n    event: { kind: call, from: "xmpp:a@corp.test", to: "sip:b@x.org" }\n    expect: { decision: deny, rule: no-consumer-calls }\n',
    );
    const r = await run(['test', dir]);
    t.equal(r.code, 0, r.out + r.err);
    t.equal(r.err, '', 'no BAD line');
    t.match(
      r.out,
      /note .*policy\.yaml: a policy, not a suite; skipped \(the policy under test of .*calls\.yaml\)/,
    );
    t.match(r.out, /1 passed, 0 failed \(1 suite\)/);

    // A policy nobody names is skipped too; a broken suite is still reported as one.
    writeFileSync(
      join(dir, 'other-policy.yaml'),
      readFileSync('policies/examples/open-federation.yaml', 'utf8'),
    );
    writeFileSync(join(dir, 'typo.yaml'), 'policy: policy.yaml\ncase: []\n');
    const b = await run(['test', dir]);
    t.equal(b.code, 2);
    t.match(b.out, /note .*other-policy\.yaml: a policy, not a suite; skipped\n/);
    t.match(b.err, /BAD .*typo\.yaml/);
    t.notMatch(b.err, /BAD .*policy\.yaml/);

    // Given a policy file itself: say what to give instead.
    const p = await run(['test', join(dir, 'policy.yaml')]);
    t.equal(p.code, 2);
    t.match(p.err, /policy\.yaml is a policy, not a test suite: give a suite file or a directory/);
  },
);
