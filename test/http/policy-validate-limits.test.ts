// POST /api/v1/policy/validate with the hostile policies of issue 15 (item 3), over a real
// socket to a real gateway (config, PolicyRuntime, loader): an auditor's small YAML must get
// a prompt 422 naming the limit, with a short body, and the gateway stays responsive.
import { copyFileSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { parseConfig } from '../../src/config.js';
import { MAX_PROBLEMS } from '../../src/core/yaml-source.js';
import { startGateway } from '../../src/gateway.js';
import { createLogger } from '../../src/log.js';
import { aliasBomb, withDuplicates } from '../fixtures/policy-bombs.js';

const ADMIN = 'admin-token-0123456789';
const AUDITOR = 'auditor-token-0123456789';

interface Problem {
  file: string;
  line: number;
  column: number;
  path: string;
  message: string;
}

async function gateway() {
  const dir = mkdtempSync(join(tmpdir(), 'parley-validate-'));
  copyFileSync('policies/default.yaml', join(dir, 'policy.yaml'));
  const text = `store: { memory: true }\nhttp:\n  listen: "127.0.0.1:0"\n  tokens: { admin: "\${A}", auditor: "\${B}" }\npolicy: { file: policy.yaml }\n`;
  writeFileSync(join(dir, 'parley.yaml'), text);
  const loaded = parseConfig(text, join(dir, 'parley.yaml'), { A: ADMIN, B: AUDITOR });
  const logger = createLogger({
    level: 'warn',
    destination: { write: () => true } as unknown as NodeJS.WritableStream,
  });
  const gw = await startGateway(loaded, { logger });
  t.teardown(() => gw.stop());
  return gw.url!;
}

async function validate(url: string, yaml: string, name: string) {
  const res = await fetch(`${url}/api/v1/policy/validate?name=${name}`, {
    method: 'POST',
    headers: { authorization: `Bearer ${AUDITOR}`, 'content-type': 'text/yaml' },
    body: yaml,
  });
  const raw = await res.text();
  return { status: res.status, raw, body: JSON.parse(raw) as { ok: boolean; problems: Problem[] } };
}

t.test('the alias bomb gets a short 422 naming the limit, from the auditor role', async (t) => {
  const url = await gateway();
  const bomb = aliasBomb(5000, 500);
  t.ok(bomb.length < 120_000, `the request body is ${bomb.length} bytes`);
  const r = await validate(url, bomb, 'bomb.yaml');
  t.equal(r.status, 422);
  t.equal(r.body.ok, false);
  t.equal(r.body.problems.length, 1, 'one problem, not one per expanded domain');
  t.match(r.body.problems[0], {
    file: 'bomb.yaml',
    message: /the document is too large: alias \*z expands to 5003 values/,
  });
  t.ok(r.raw.length < 2000, `the answer is ${r.raw.length} bytes`);

  const aliases = await validate(url, aliasBomb(10, 500), 'aliases.yaml');
  t.equal(aliases.status, 422);
  t.equal(aliases.body.problems.length, 1);
  t.match(aliases.body.problems[0], { line: 117, message: /too many aliases/ });

  // The gateway still answers, and still has its own policy.
  const health = await fetch(`${url}/healthz`);
  t.equal(health.status, 200);
  const current = await fetch(`${url}/api/v1/policy`, { headers: { authorization: `Bearer ${ADMIN}` } });
  t.match(await current.json(), { name: 'default' });
});

t.test('thousands of problems come back as the first 100 and a count', async (t) => {
  const url = await gateway();
  const { text, dupLines } = withDuplicates(4000, 2000);
  const r = await validate(url, text, 'dupes.yaml');
  t.equal(r.status, 422);
  t.equal(r.body.problems.length, MAX_PROBLEMS + 1);
  t.same(
    r.body.problems.slice(0, MAX_PROBLEMS).map((p) => p.line),
    dupLines.slice(0, MAX_PROBLEMS),
  );
  t.match(r.body.problems[MAX_PROBLEMS]!.message, /^and 1900 more problems/);
  t.ok(r.raw.length < 50_000, `the answer is ${r.raw.length} bytes`);
});
