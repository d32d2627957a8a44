// The container image without a Docker engine: the Dockerfile is linted (hadolint plus the
// rules that matter to us), and its runtime stage is replayed in a temporary folder — the
// files it copies, its production install, its entrypoint and its HEALTHCHECK — against a
// real `parley start` under Node 24 (the image's Node) that must answer /healthz and
// /readyz and exit 0 on SIGTERM.
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import t from 'tap';
import { ensureHadolint } from '../harness/hadolint.js';
import { ensureNode24 } from '../harness/node24.js';
import { freePort } from '../harness/redis.js';

const root = resolve(import.meta.dirname, '../..');
const dockerfile = readFileSync(join(root, 'Dockerfile'), 'utf8');

interface Instruction {
  op: string;
  args: string;
  line: number;
}
interface Stage {
  from: string;
  name: string | undefined;
  body: Instruction[];
}

/** A small Dockerfile reader: continuation lines joined, comments dropped, split by stage. */
function parseDockerfile(text: string): Stage[] {
  const stages: Stage[] = [];
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const start = i;
    let l = lines[i]!;
    if (/^\s*(#|$)/.test(l)) continue;
    while (l.endsWith('\\') && i + 1 < lines.length) {
      i++;
      const next = lines[i]!;
      if (/^\s*#/.test(next)) continue;
      l = `${l.slice(0, -1)} ${next.trim()}`;
    }
    const m = /^\s*([A-Za-z]+)\s+(.*)$/.exec(l);
    if (!m) continue;
    const ins = { op: m[1]!.toUpperCase(), args: m[2]!.trim(), line: start + 1 };
    if (ins.op === 'FROM') {
      const f = /^(?:--platform=\S+\s+)?(\S+)(?:\s+AS\s+(\S+))?$/i.exec(ins.args);
      stages.push({ from: f?.[1] ?? ins.args, name: f?.[2], body: [] });
    } else {
      stages.at(-1)?.body.push(ins);
    }
  }
  return stages;
}

const stages = parseDockerfile(dockerfile);
const runtime = stages.at(-1)!;
const ops = (op: string) => runtime.body.filter((i) => i.op === op);

t.test('hadolint finds nothing', async (t) => {
  const bin = ensureHadolint();
  const r = spawnSync(bin, ['--no-color', join(root, 'Dockerfile')], { encoding: 'utf8' });
  t.equal(r.status, 0, `hadolint Dockerfile:\n${r.stdout}${r.stderr}`);
});

t.test('the rules that matter', async (t) => {
  t.ok(stages.length >= 2, 'multi-stage: a build stage and a runtime stage');
  for (const s of stages) {
    t.match(
      s.from,
      /^[a-z0-9./-]+(:\d+\.\d+\.\d+[-a-z0-9.]*|@sha256:[a-f0-9]{64})$/,
      `base image ${s.from} is pinned to an exact version or digest`,
    );
    t.notMatch(s.from, /:latest$/);
  }
  t.match(runtime.from, /^node:24\./, 'the runtime runs the Node 24 LTS');
  const user = ops('USER').at(-1)?.args ?? '';
  t.match(
    user,
    /^[1-9]\d*(:[1-9]\d*)?$/,
    'the runtime user is numeric and not root (runAsNonRoot can check it)',
  );
  t.equal(ops('HEALTHCHECK').length, 1, 'a HEALTHCHECK');
  t.match(ops('HEALTHCHECK')[0]?.args, /\/healthz|PARLEY_HEALTHCHECK_URL/);
  for (const s of stages) {
    for (const i of s.body) {
      if (i.op === 'ADD') t.notMatch(i.args, /https?:\/\//, `line ${i.line}: no ADD of a URL`);
      if (i.op === 'RUN') t.notMatch(i.args, /\b(curl|wget)\b.*\|\s*(ba)?sh/, `line ${i.line}: no curl | sh`);
    }
  }
  const install = ops('RUN').find((i) => /\bnpm ci\b/.test(i.args));
  t.ok(install, 'the runtime installs with npm ci');
  t.match(install?.args, /--omit=dev/, 'production dependencies only');
  t.match(install?.args, /--ignore-scripts/, 'no install scripts');
  t.notOk(
    ops('RUN').some((i) => /apt-get install|build-essential|\bgcc\b|python3/.test(i.args)),
    'no build tools in the runtime image',
  );
  const labels = ops('LABEL')
    .map((i) => i.args)
    .join(' ');
  for (const k of ['title', 'description', 'version', 'revision', 'licenses']) {
    t.match(labels, new RegExp(`org\\.opencontainers\\.image\\.${k}=`), `OCI label ${k}`);
  }
  // The build stage compiles exactly as `npm run build` does.
  const build = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')).scripts.build as string;
  t.ok(
    stages.slice(0, -1).some((st) => st.body.some((i) => i.op === 'RUN' && i.args.includes(build))),
    `a build stage runs \`${build}\``,
  );
  t.match(ops('ENTRYPOINT')[0]?.args, /"bin\/parley\.js"/);
  // Everything the Dockerfile copies from the context survives .dockerignore.
  const ignore = readFileSync(join(root, '.dockerignore'), 'utf8');
  for (const s of stages) {
    for (const i of s.body.filter((x) => x.op === 'COPY' && !x.args.startsWith('--from'))) {
      for (const src of i.args.split(/\s+/).slice(0, -1)) {
        t.ok(ignore.includes(`!${src.replace(/^\.\//, '')}`), `.dockerignore lets ${src} in`);
      }
    }
  }
});

function waitExit(p: ChildProcess): Promise<number | null> {
  return new Promise((r) => {
    if (p.exitCode !== null) r(p.exitCode);
    else p.on('exit', (code) => r(code));
  });
}

async function waitFor(url: string, until: number): Promise<Response> {
  let last: unknown;
  while (Date.now() < until) {
    try {
      return await fetch(url, { signal: AbortSignal.timeout(2000) });
    } catch (err) {
      last = err;
      await new Promise((r) => setTimeout(r, 100));
    }
  }
  throw new Error(`${url} did not answer: ${String(last)}`);
}

t.test("the runtime stage's steps, outside Docker", async (t) => {
  const app = mkdtempSync(join(tmpdir(), 'parley-image-'));
  t.teardown(() => rmSync(app, { recursive: true, force: true }));
  const workdir = ops('WORKDIR').at(-1)?.args ?? '/app';
  const inApp = (dest: string) => join(app, dest.startsWith(workdir) ? dest.slice(workdir.length) : dest);

  // COPY: context files from the repository; --from=build is the compiled dist/, which the
  // build stage makes with tsc (the test runner has built it already: `npm run build`).
  t.ok(existsSync(join(root, 'dist/cli.js')), 'dist/ is built (npm run build)');
  for (const i of ops('COPY')) {
    const words = i.args.split(/\s+/);
    const from = words[0]?.startsWith('--from=') ? words.shift() : undefined;
    const dest = words.pop()!;
    for (const src of words) {
      const source = from ? join(root, 'dist') : join(root, src);
      const target = words.length > 1 || dest.endsWith('/') ? join(inApp(dest), src) : inApp(dest);
      cpSync(source, target, { recursive: true });
    }
  }
  for (const p of [
    'package.json',
    'package-lock.json',
    'dist/cli.js',
    'bin/parley.js',
    'config',
    'policies',
  ]) {
    t.ok(existsSync(join(app, p)), `the image has ${p}`);
  }

  // RUN: the production install, exactly as written (npm's cache makes it quick here).
  const install = ops('RUN')
    .map((i) => i.args.split('&&').find((c) => /\bnpm ci\b/.test(c)))
    .find(Boolean)!
    .trim();
  const [npm, ...npmArgs] = install.split(/\s+/);
  const r = spawnSync(npm!, npmArgs, {
    cwd: app,
    encoding: 'utf8',
    env: { ...process.env, npm_config_prefer_offline: 'true', NODE_ENV: 'production' },
  });
  t.equal(r.status, 0, `${install}: ${r.stderr}`);
  t.ok(existsSync(join(app, 'node_modules/fastify')), 'production dependencies installed');
  for (const dev of ['typescript', 'tap', '@biomejs/biome', 'tsx']) {
    t.notOk(existsSync(join(app, 'node_modules', dev)), `no devDependency ${dev}`);
  }

  // ENTRYPOINT + `start -c` a test config on a free port.
  const port = await freePort();
  writeFileSync(
    join(app, 'test-config.yaml'),
    // The memory store: the image installs its dependencies without install scripts, so it
    // has no native module for the SQLite default yet (and no writable data folder).
    `store: { memory: true }\nhttp: { listen: "127.0.0.1:${port}" }\nlog: { level: warn }\npolicy: { file: policies/default.yaml }\n`,
  );
  const entry = JSON.parse(ops('ENTRYPOINT')[0]!.args) as string[];
  t.equal(entry[0], 'node');
  const env: Record<string, string | undefined> = { ...process.env, NODE_ENV: 'production' };
  for (const e of ops('ENV')) {
    for (const m of e.args.matchAll(/(\w+)=(\S+)/g)) env[m[1]!] = m[2];
  }
  env.PARLEY_HEALTHCHECK_URL = `http://127.0.0.1:${port}/healthz`;
  // The image's Node: the runtime stage is node:24, so start it with Node 24.
  const node = ensureNode24();
  const proc = spawn(node, [...entry.slice(1), 'start', '-c', 'test-config.yaml'], {
    cwd: app,
    env,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  proc.stdout?.on('data', (d) => {
    output += d;
  });
  proc.stderr?.on('data', (d) => {
    output += d;
  });
  t.teardown(() => {
    if (proc.exitCode === null) proc.kill('SIGKILL');
  });
  const until = Date.now() + 30_000;
  const health = await waitFor(`http://127.0.0.1:${port}/healthz`, until);
  t.equal(health.status, 200, `/healthz\n${output}`);
  const ready = await waitFor(`http://127.0.0.1:${port}/readyz`, until);
  t.equal(ready.status, 200, `/readyz: ${await ready.text()}`);
  // The image serves the compliance console from dist/ (scripts/build.mjs copies its files).
  const page = await fetch(`http://127.0.0.1:${port}/console`);
  t.equal(page.status, 200, '/console is served from the image');

  // The HEALTHCHECK command, as Docker would run it inside the container.
  const hc = JSON.parse(ops('HEALTHCHECK')[0]!.args.replace(/^.*?CMD\s+/, '')) as string[];
  t.equal(hc[0], 'node', 'the HEALTHCHECK needs nothing but node');
  const probe = spawnSync(node, hc.slice(1), {
    cwd: app,
    env,
    encoding: 'utf8',
    timeout: 10_000,
  });
  t.equal(probe.status, 0, `HEALTHCHECK passes: ${probe.stderr}`);

  proc.kill('SIGTERM');
  t.equal(await waitExit(proc), 0, `exit 0 after SIGTERM\n${output}`);
});
