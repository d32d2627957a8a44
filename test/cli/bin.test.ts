// The installed command, bin/parley.js on dist/ (build first: `npm run -s build`; the test
// script builds before it runs the tests): help texts that say how to use each command,
// and the policy commands' handling of hostile and mixed inputs (issues 15.3 and 24).
import { spawnSync } from 'node:child_process';
import { copyFileSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import t from 'tap';
import { chainEntries, recordJson } from '../../src/core/audit/chain.js';
import { entries } from '../core/audit/fixtures.js';
import { aliasBomb } from '../fixtures/policy-bombs.js';

const root = resolve(import.meta.dirname, '../..');
const BIN = join(root, 'bin/parley.js');

function parley(args: string[], cwd = root): { code: number | null; out: string; err: string } {
  const r = spawnSync(process.execPath, [BIN, ...args], {
    cwd,
    encoding: 'utf8',
    env: { ...process.env, PARLEY_ADMIN_TOKEN: '', PARLEY_AUDITOR_TOKEN: '' },
  });
  return { code: r.status, out: r.stdout, err: r.stderr };
}

// Each run loads the whole CLI: few runs keep the file quick on a busy machine.
for (const sub of ['verify', 'tail', 'export']) {
  t.test(`audit ${sub} --help: that command's usage, with -c`, async (t) => {
    const r = parley(['audit', sub, '--help']);
    t.equal(r.code, 0, r.err);
    t.match(r.out, new RegExp(`^Usage: parley audit ${sub} \\[-c FILE\\]`));
    t.match(r.out, /-c, --config FILE +the gateway's config file/);
    t.notMatch(r.out, new RegExp(`parley audit (?!${sub})\\w+`), 'not the other commands');
    if (sub === 'verify') {
      // -c before the command word too.
      const c = parley(['audit', '-c', 'config/parley.yaml', sub, '-h']);
      t.equal(c.code, 0, c.err);
      t.equal(c.out, r.out);
    }
  });
}

t.test('audit --help lists -c on every command', async (t) => {
  const r = parley(['audit', '--help']);
  t.equal(r.code, 0);
  for (const sub of ['verify', 'export', 'tail'])
    t.match(r.out, new RegExp(`parley audit ${sub} \\[-c FILE\\]`));
});

t.test(
  'audit migrate from dist: the copy is verified on worker threads (they load the compiled modules)',
  async (t) => {
    const dir = mkdtempSync(join(tmpdir(), 'parley-bin-migrate-'));
    const from = join(dir, 'trail.jsonl');
    // Past the 20,000 records below which verify stays on one thread.
    writeFileSync(from, `${chainEntries(null, entries(25_000)).map(recordJson).join('\n')}\n`);
    const r = parley([
      'audit',
      'migrate',
      '--from',
      `jsonl:${from}`,
      '--to',
      `jsonl:${join(dir, 'copy.jsonl')}`,
    ]);
    t.equal(r.code, 0, r.err);
    t.equal(r.err, '', 'no note that the workers could not be used');
    t.match(r.out, /the copy verifies \(25000 records\) with the source's head/);
  },
);

t.test('start --help: options, environment, config file', async (t) => {
  const r = parley(['start', '--help']);
  t.equal(r.code, 0, r.err);
  t.ok(r.out.split('\n').length > 10, 'more than a one-line usage');
  t.match(r.out, /^Usage: parley start \[-c FILE\] \[--log-level LEVEL\]/);
  t.match(r.out, /-c, --config FILE/);
  t.match(r.out, /--log-level LEVEL +trace, debug, info/);
  t.match(r.out, /PARLEY_ADMIN_TOKEN +bearer token of the admin role/);
  t.match(r.out, /PARLEY_AUDITOR_TOKEN +bearer token of the auditor role/);
  t.match(r.out, /config\/parley\.yaml/);
  t.match(r.out, /docs\/operations\.md/);
});

t.test('policy validate: the alias bomb is refused with the limit error, exit 2', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'parley-bin-'));
  writeFileSync(join(dir, 'bomb.yaml'), aliasBomb(5000, 500));
  writeFileSync(join(dir, 'aliases.yaml'), aliasBomb(10, 500));
  const r = parley(['policy', 'validate', 'bomb.yaml', 'aliases.yaml'], dir);
  t.equal(r.code, 2);
  const lines = r.err.trim().split('\n');
  t.equal(lines.length, 2, 'one line per file');
  t.match(lines[0], /^bomb\.yaml:\d+:\d+: the document is too large: alias \*z expands to 5003 values/);
  t.match(lines[1], /^aliases\.yaml:117:\d+: too many aliases/);
});

t.test('policy test DIR: policy.yaml beside the suites is skipped with a note', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'parley-bin-'));
  copyFileSync(join(root, 'policies/default.yaml'), join(dir, 'policy.yaml'));
  writeFileSync(
    join(dir, 'default.test.yaml'),
    'policy: policy.yaml\ncases:\n  - name: partners talk\n    event: { kind: message, from: "xmpp:a@corp.test", to: "matrix:u/b:partner.test", body: hi }\n    expect: { decision: allow, rule: partners-talk }\n',
  );
  const r = parley(['policy', 'test', '.'], dir);
  t.equal(r.code, 0, r.out + r.err);
  t.equal(r.err, '');
  t.match(
    r.out,
    /note policy\.yaml: a policy, not a suite; skipped \(the policy under test of default\.test\.yaml\)/,
  );
  t.match(r.out, /ok {3}default\.test\.yaml: partners talk/);
  t.match(r.out, /1 passed, 0 failed \(1 suite\)/);
});
