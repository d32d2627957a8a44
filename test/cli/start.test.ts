// `parley start` as a real process: config errors, graceful shutdown on SIGTERM that
// flushes the audit, and `parley audit verify` reading what it wrote to a real Redis.
import { type ChildProcess, spawn } from 'node:child_process';
import { copyFileSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import t from 'tap';
import { stuckServer } from '../fixtures/stuck-component.js';
import { startRedis } from '../harness/redis.js';

const root = resolve(import.meta.dirname, '../..');
const ENTRY = join(root, 'test/fixtures/cli-entry.ts');

function parley(args: string[], env: Record<string, string> = {}): ChildProcess {
  return spawn(process.execPath, ['--import', 'tsx', ENTRY, ...args], {
    cwd: root,
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
}

async function finish(p: ChildProcess): Promise<{ code: number | null; out: string; err: string }> {
  let out = '';
  let err = '';
  p.stdout?.on('data', (d) => {
    out += d;
  });
  p.stderr?.on('data', (d) => {
    err += d;
  });
  const code = await new Promise<number | null>((r) => p.on('close', r));
  return { code, out, err };
}

function configDir(body: string): string {
  const dir = mkdtempSync(join(tmpdir(), 'parley-start-'));
  copyFileSync(join(root, 'policies/default.yaml'), join(dir, 'policy.yaml'));
  writeFileSync(join(dir, 'parley.yaml'), body);
  return dir;
}

// Five real `parley start` processes one after another: on a loaded machine each start can
// take many seconds, so this file may take longer than the default per-file limit.
t.setTimeout(300_000);

t.test('a bad config exits 2 naming file, line and key — no stack trace', async (t) => {
  const dir = configDir('policy: { file: policy.yaml }\nhttp:\n  listen: "nowhere"\n');
  const r = await finish(parley(['start', '-c', join(dir, 'parley.yaml')]));
  t.equal(r.code, 2);
  t.match(r.err, /parley\.yaml:3:\d+: http\.listen/);
  t.notMatch(r.err, /\n\s+at /, 'no stack trace');
});

t.test('unknown commands and options exit 2', async (t) => {
  t.equal((await finish(parley(['frobnicate']))).code, 2);
  const r = await finish(parley(['start', '--nope']));
  t.equal(r.code, 2);
  t.match(r.err, /--nope/);
  t.equal((await finish(parley(['--help']))).code, 0);
});

t.test('SIGTERM shuts down gracefully and the audit written to Redis verifies', async (t) => {
  const redis = await startRedis();
  t.teardown(() => redis.stop());
  const dir = configDir(
    `store: { redis: "${redis.url}" }\nhttp:\n  listen: "127.0.0.1:0"\n  tokens: { admin: "\${ADM}" }\npolicy: { file: policy.yaml }\n`,
  );
  const cfg = join(dir, 'parley.yaml');
  const p = parley(['start', '-c', cfg, '--log-level', 'info'], { ADM: 'admin-token-0123456789' });
  const done = finish(p);
  const url = await new Promise<string>((res, rej) => {
    let buf = '';
    const timer = setTimeout(() => rej(new Error(`no start: ${buf}`)), 60_000);
    p.stderr?.on('data', (d) => {
      buf += d;
      const m = /listening on (http:\/\/[^\s]+)/.exec(buf);
      if (m) {
        clearTimeout(timer);
        res(m[1]!);
      }
    });
  });
  // Administrative actions are audited: three reloads make three records.
  for (let i = 0; i < 3; i++) {
    const r = await fetch(`${url}/api/v1/policy/reload`, {
      method: 'POST',
      headers: { authorization: 'Bearer admin-token-0123456789' },
    });
    t.equal(r.status, 200);
  }
  p.kill('SIGTERM');
  const r = await done;
  t.equal(r.code, 0, r.err);
  t.match(r.out, /"msg":"shutting down"/);
  t.match(r.out, /"msg":"stopped"/);
  t.notMatch(r.out, /admin-token-0123456789/, 'token redacted from logs');

  const verify = await finish(parley(['audit', 'verify', '-c', cfg], { ADM: 'admin-token-0123456789' }));
  t.equal(verify.code, 0, verify.err);
  t.match(verify.out, /intact/i);
  t.match(verify.out, /\b3\b/, 'three records');
});

t.test('a stopped gateway exits promptly even when its XMPP server stopped answering', async (t) => {
  // The server completes the handshake, then answers nothing: the link's stop waits ~2 s for
  // the stream close, and xmpp.js keeps a 10 s timer for it that would hold the process.
  const server = await stuckServer('stuck-secret', 'gw.stuck.test');
  t.teardown(server.stop);
  const dir = configDir(
    `store: { memory: true }\nhttp:\n  listen: "127.0.0.1:0"\npolicy: { file: policy.yaml, watch: false }\nadapters:\n` +
      `  stuck:\n    type: xmpp\n    service: "xmpp://127.0.0.1:${server.port}"\n` +
      `    component: gw.stuck.test\n    secret: stuck-secret\n    domains: [stuck.test]\n`,
  );
  const p = parley(['start', '-c', join(dir, 'parley.yaml'), '--log-level', 'info']);
  const done = finish(p);
  await new Promise<void>((res, rej) => {
    let buf = '';
    const timer = setTimeout(() => rej(new Error(`link not up: ${buf}`)), 60_000);
    const seen = (d: Buffer) => {
      buf += d;
      if (/xmpp component link up/.test(buf)) {
        clearTimeout(timer);
        res();
      }
    };
    p.stdout?.on('data', seen);
    p.stderr?.on('data', seen);
  });
  const stoppedAt = Date.now();
  p.kill('SIGTERM');
  const r = await done;
  const took = Date.now() - stoppedAt;
  t.equal(r.code, 0, r.err);
  t.match(r.out, /"msg":"stopped"/);
  t.ok(took < 6000, `exited ${took} ms after SIGTERM (a 2 s close wait, then at most 1 s for stray timers)`);
});
