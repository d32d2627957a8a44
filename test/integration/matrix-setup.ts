// Shared setup of the Matrix integration tests: a Parley config with a Matrix link, its
// registration written by `parley matrix registration`, a real Synapse loading it, and a
// pipeline (memory store, audit writer, real policy) between the Matrix adapter and an
// in-process "remote network" (MemoryAdapter serving corp.test and rival.test).
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import type { MatrixAdapter } from '../../src/adapters/matrix/adapter.js';
import { buildMatrixAdapter } from '../../src/adapters/matrix/index.js';
import { matrixCommand } from '../../src/cli/matrix.js';
import { loadConfig } from '../../src/config.js';
import { AuditWriter } from '../../src/core/audit/writer.js';
import { silentLogger } from '../../src/core/logger.js';
import { Pipeline } from '../../src/core/pipeline.js';
import { compilePolicySource } from '../../src/core/policy/index.js';
import type { Store } from '../../src/core/store.js';
import { MemoryStore } from '../../src/store/memory.js';
import { MemoryAdapter } from '../fixtures/memory-adapter.js';
import { freePort } from '../harness/redis.js';
import { type SynapseHandle, startSynapse } from '../harness/synapse.js';

export const POLICY = `
apiVersion: parley/v1
kind: Policy
metadata: { name: matrix-it, version: "1" }
zones:
  enterprise: { domains: [corp.test] }
  partner: { domains: [hs.test] }
  consumer: { domains: ["*"] }
defaults: { decision: deny }
rules:
  - id: partners
    match: { between: [{ zone: enterprise }, { zone: partner }] }
    effect: allow
  - id: rival
    match: { party: { domain: [rival.test] } }
    effect: deny
    reason: Communication with competitors is prohibited
  - id: cards
    match: { kind: [message], content: { pattern: '\\b(?:\\d[ -]?){13,16}\\b' } }
    effect: redact
    replacement: "[card]"
`;

export interface World {
  dir: string;
  synapse: SynapseHandle;
  block: Record<string, unknown>;
  store: Store;
  audit: AuditWriter;
  pipeline: Pipeline;
  corp: MemoryAdapter;
  matrix: MatrixAdapter;
  /** A new pipeline + adapters over the same store (a Parley restart). */
  restartParley(): Promise<void>;
  close(): Promise<void>;
}

export interface WorldOptions {
  queue?: { retryInitialMs?: number; retryMaxMs?: number; maxLength?: number };
}

export async function makeWorld(opts: WorldOptions = {}): Promise<World> {
  const dir = mkdtempSync(join(tmpdir(), 'parley-matrix-it-'));
  const asPort = await freePort();
  const hsPort = await freePort();
  writeFileSync(join(dir, 'policy.yaml'), POLICY);
  writeFileSync(
    join(dir, 'parley.yaml'),
    `policy: { file: policy.yaml }
adapters:
  hs:
    type: matrix
    homeserver: "http://127.0.0.1:${hsPort}"
    serverName: hs.test
    registration: matrix-registration.yaml
    listen: "127.0.0.1:${asPort}"
    domains: [hs.test]
    requestTimeoutMs: 5000
    queue: ${JSON.stringify(opts.queue ?? { retryInitialMs: 200, retryMaxMs: 1000 })}
`,
  );
  let out = '';
  const code = await matrixCommand(
    ['registration', '-c', 'parley.yaml'],
    { stdout: (s) => (out += s), stderr: (s) => (out += s), cwd: dir, env: {} },
    (file) => loadConfig(resolve(dir, file ?? 'parley.yaml'), {}),
  );
  if (code !== 0) throw new Error(`parley matrix registration failed: ${out}`);
  const synapse = await startSynapse({ appservices: [join(dir, 'matrix-registration.yaml')], port: hsPort });
  const loaded = loadConfig(join(dir, 'parley.yaml'), {});
  const block = loaded.config.adapters?.hs as Record<string, unknown>;
  const store = new MemoryStore();
  const policy = compilePolicySource(POLICY, 'policy.yaml');

  const world = {
    dir,
    synapse,
    block,
    store,
  } as unknown as World;
  const boot = async () => {
    const audit = new AuditWriter(store.audit, {});
    const pipeline = new Pipeline({ policy: () => policy, audit, store, logger: silentLogger });
    const corp = new MemoryAdapter('corp', 'xmpp', ['corp.test', 'rival.test']);
    const matrix = buildMatrixAdapter('hs', block, { logger: silentLogger, configDir: dir });
    await corp.start(pipeline.register(corp));
    await matrix.start(pipeline.register(matrix));
    Object.assign(world, { audit, pipeline, corp, matrix });
  };
  const shutdown = async () => {
    await world.matrix.stop();
    await world.corp.stop();
    await world.audit.close();
  };
  await boot();
  world.restartParley = async () => {
    await shutdown();
    await boot();
  };
  world.close = async () => {
    await shutdown().catch(() => {});
    await synapse.destroy();
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  };
  return world;
}

export const ghostOf = (user: string, domain: string): string => `@_parley_${user}=40${domain}:hs.test`;
