// Every change of the policy in force is in the audit trail (issue 24.2): a file-watch
// reload, a refused edit, an API reload and a restart with another file, each an admin
// `policy.reload` record with the old and new version and the sha256 of the file text,
// readable where the console's version history reads it.
import { createHash } from 'node:crypto';
import { copyFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t, { type Test } from 'tap';
import { parseConfig } from '../src/config.js';
import { type Gateway, startGateway } from '../src/gateway.js';
import { createLogger } from '../src/log.js';
import { MemoryAdapter, message } from './fixtures/memory-adapter.js';
import { startRedis } from './harness/redis.js';

const ADMIN = 'admin-token-0123456789';
const sha256 = (s: string) => createHash('sha256').update(s).digest('hex');
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

interface PolicyRecord {
  seq: number;
  kind: string;
  actor?: string;
  policyVersion: string;
  details?: Record<string, unknown>;
}

function workdir(t: Test): { dir: string; file: string; original: string } {
  const dir = mkdtempSync(join(tmpdir(), 'parley-policy-rec-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const file = join(dir, 'policy.yaml');
  copyFileSync('policies/default.yaml', file);
  return { dir, file, original: readFileSync(file, 'utf8') };
}

async function start(
  t: Test,
  dir: string,
  opts: { store?: string; policyFile?: string; adapters?: boolean } = {},
) {
  const text = [
    'http:',
    '  listen: "127.0.0.1:0"',
    `  tokens: { admin: "${ADMIN}" }`,
    `policy: { file: ${opts.policyFile ?? 'policy.yaml'}, watch: true }`,
    opts.store ? `store: { redis: "${opts.store}" }` : 'store: { memory: true }',
    '',
  ].join('\n');
  writeFileSync(join(dir, 'parley.yaml'), text);
  const loaded = parseConfig(text, join(dir, 'parley.yaml'), {});
  const corp = new MemoryAdapter('corp', 'xmpp', ['corp.test']);
  const partner = new MemoryAdapter('partner', 'matrix', ['partner.test']);
  const gw = await startGateway(loaded, {
    logger: createLogger({ level: 'silent' }),
    policyPollMs: 50,
    ...(opts.adapters ? { extraAdapters: [corp, partner] } : {}),
  });
  let stopped = false;
  const stop = async () => {
    if (stopped) return;
    stopped = true;
    await gw.stop();
  };
  t.teardown(stop);
  /** One decision in the trail, made under the policy in force. */
  const submit = async () => {
    await corp.submit(message('xmpp:alice@corp.test', 'matrix:u/bob:partner.test', 'hello'));
  };
  return { gw, stop, submit };
}

/** The policy records, newest first, read the way the console's version history reads them. */
async function history(gw: Gateway): Promise<PolicyRecord[]> {
  const res = await fetch(`${gw.url}/api/v1/audit?category=admin&kind=policy.reload&limit=50`, {
    headers: { authorization: `Bearer ${ADMIN}` },
  });
  const body = (await res.json()) as { records: PolicyRecord[] };
  return body.records;
}

/** Wait until the history holds `n` records (the file watch works on its own clock). */
async function historyOf(gw: Gateway, n: number): Promise<PolicyRecord[]> {
  for (;;) {
    const h = await history(gw);
    if (h.length >= n) return h;
    await sleep(50);
  }
}

t.test('an edit picked up by the file watch is recorded with both versions and the hash', async (t) => {
  const { dir, file, original } = workdir(t);
  const { gw } = await start(t, dir);
  t.same(await history(gw), [], 'a new trail: nothing changed yet');

  const edited = original.replace('version: "2026-11-25.1"', 'version: "watched.2"');
  writeFileSync(file, edited);
  const h = await historyOf(gw, 1);
  t.equal(gw.policy.current.version, 'watched.2', 'the edit is in force');
  const rec = h[0];
  t.equal(rec?.kind, 'policy.reload');
  t.equal(rec?.actor, 'file-watch');
  t.equal(rec?.policyVersion, 'watched.2', 'the record is made under the new policy');
  t.match(rec?.details, {
    ok: true,
    trigger: 'file-watch',
    version: 'watched.2',
    previousVersion: '2026-11-25.1',
    sha256: sha256(edited),
    previousSha256: sha256(original),
  });

  // Touching the file (same text) is no change of the policy in force: nothing new.
  writeFileSync(file, edited);
  await sleep(300);
  t.equal((await history(gw)).length, 1, 'the same text again adds no record');
});

t.test('a refused edit is recorded with its problems; the policy in force stays', async (t) => {
  const { dir, file, original } = workdir(t);
  const { gw } = await start(t, dir);
  const broken = original.replace(
    'rules:',
    'rules:\n  - { id: broken, match: { to: { zone: mars } }, effect: allow }',
  );
  writeFileSync(file, broken);
  const [rec] = await historyOf(gw, 1);
  t.equal(gw.policy.current.version, '2026-11-25.1', 'the old policy is still in force');
  t.equal(rec?.actor, 'file-watch');
  t.match(rec?.details, {
    ok: false,
    trigger: 'file-watch',
    problems: 1,
    first: /unknown zone "mars"/,
    messages: [/policy\.yaml:\d+:\d+: .*unknown zone "mars"/],
    refusedSha256: sha256(broken),
    keptVersion: '2026-11-25.1',
    keptSha256: sha256(original),
  });
  t.equal(gw.policy.lastError?.problems.length, 1);

  // Many problems: the record keeps the count and the first ten.
  const many = original.replace(
    'rules:',
    `rules:\n${Array.from({ length: 15 }, (_, i) => `  - { id: b${i}, match: { to: { zone: mars${i} } }, effect: allow }`).join('\n')}`,
  );
  writeFileSync(file, many);
  const [capped] = await historyOf(gw, 2);
  t.equal(capped?.details?.problems, 15);
  t.equal((capped?.details?.messages as unknown[] | undefined)?.length, 10);
});

t.test('an API reload records the old and new version and the hash', async (t) => {
  const { dir, file, original } = workdir(t);
  const { gw } = await start(t, dir);
  await gw.policy.close(); // only the API reloads in this test
  const edited = original.replace('version: "2026-11-25.1"', 'version: "api.2"');
  writeFileSync(file, edited);
  const res = await fetch(`${gw.url}/api/v1/policy/reload`, {
    method: 'POST',
    headers: { authorization: `Bearer ${ADMIN}` },
  });
  t.equal(res.status, 200);
  const [rec] = await historyOf(gw, 1);
  t.equal(rec?.actor, 'admin');
  t.match(rec?.details, {
    ok: true,
    trigger: 'api',
    version: 'api.2',
    previousVersion: '2026-11-25.1',
    sha256: sha256(edited),
    previousSha256: sha256(original),
  });
});

t.test('a restart with another policy than the trail last recorded is recorded', async (t) => {
  const redis = await startRedis();
  t.teardown(() => redis.stop());
  const store = `${redis.url}/0`;
  const { dir, original } = workdir(t);
  const other = original.replace('version: "2026-11-25.1"', 'version: "other.1"');
  writeFileSync(join(dir, 'other.yaml'), other);
  // Same version, other rules: only the hash tells them apart.
  const sameVersion = original.replace(/^rules:/m, '# one more line\nrules:');
  writeFileSync(join(dir, 'same-version.yaml'), sameVersion);

  const first = await start(t, dir, { store, adapters: true });
  t.same(await history(first.gw), [], 'a new trail gets no policy record');
  await first.submit();
  await first.stop();

  const same = await start(t, dir, { store });
  t.same(await history(same.gw), [], 'the policy the last decision was made under: no record');
  await same.stop();

  const changed = await start(t, dir, { store, policyFile: 'other.yaml' });
  let h = await history(changed.gw);
  t.equal(h.length, 1, 'another policy: a record');
  t.equal(h[0]?.actor, 'startup');
  t.match(h[0]?.details, {
    ok: true,
    trigger: 'start',
    version: 'other.1',
    sha256: sha256(other),
    previousVersion: '2026-11-25.1',
    previousSha256: null,
  });
  await changed.stop();

  const again = await start(t, dir, { store, policyFile: 'other.yaml' });
  t.equal((await history(again.gw)).length, 1, 'the recorded policy again: no record');
  await again.stop();

  const back = await start(t, dir, { store });
  h = await history(back.gw);
  t.equal(h.length, 2);
  t.match(h[0]?.details, {
    version: '2026-11-25.1',
    sha256: sha256(original),
    previousVersion: 'other.1',
    previousSha256: sha256(other),
  });
  await back.stop();

  const edited = await start(t, dir, { store, policyFile: 'same-version.yaml' });
  h = await history(edited.gw);
  t.equal(h.length, 3, 'same version, other text: a record');
  t.match(h[0]?.details, {
    version: '2026-11-25.1',
    previousVersion: '2026-11-25.1',
    sha256: sha256(sameVersion),
    previousSha256: sha256(original),
  });
  await edited.stop();
});
