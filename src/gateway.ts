// The composition root: config -> store, policy, audit, pipeline, adapters, HTTP.
// The only module that knows every concrete implementation.
import { dirname } from 'node:path';
import type { FastifyInstance } from 'fastify';
import { adminRecorder, createAdminServices } from './admin-services.js';
import type { LoadedConfig } from './config.js';
import { type Adapter, AdapterConfigError } from './core/adapter.js';
import { queryLog } from './core/audit/query.js';
import { AuditWriter } from './core/audit/writer.js';
import type { Logger } from './core/logger.js';
import { networkModule } from './core/network.js';
import { Pipeline } from './core/pipeline.js';
import type { Store } from './core/store.js';
import { problemAt, SourceError } from './core/yaml-source.js';
import { buildHttpApp } from './http/app.js';
import { PrometheusMetrics } from './http/metrics.js';
import { POLICY_RECORD_KIND, PolicyRuntime } from './policy-runtime.js';
// Registers the networks this build speaks (the adapters' modules).
import './networks.js';
import { Retention } from './retention.js';
import { auditPipelineDepth, openStore } from './store/open.js';

export interface GatewayOptions {
  logger: Logger;
  /** In-process adapters added to the configured ones (tests, benchmarks, embedding). */
  extraAdapters?: Adapter[];
  /** Listen for HTTP (default true). */
  http?: boolean;
  /** Watch the policy file (default: config policy.watch, else true). */
  watchPolicy?: boolean;
  /** How often the watched policy file is polled (default 1 s). */
  policyPollMs?: number;
  /** How long shutdown waits for in-flight events (default 10 s). */
  drainTimeoutMs?: number;
  /** The clock of the trail and retention (tests age records with it; default the system's). */
  now?: () => Date;
}

export interface Gateway {
  pipeline: Pipeline;
  store: Store;
  policy: PolicyRuntime;
  audit: AuditWriter;
  metrics: PrometheusMetrics;
  adapters: Adapter[];
  http: FastifyInstance | null;
  /** The bound HTTP address, e.g. http://127.0.0.1:8080. */
  url: string | null;
  /** Graceful stop: stop intake, drain, flush the audit, close links and the store. */
  stop(): Promise<void>;
}

/**
 * How far back start looks for the last policy record (records, newest first, read 1000 a
 * round trip): a bounded start-up cost on a busy trail. Beyond it the newest record's
 * policy version stands in (a changed text under an unchanged version then goes unseen).
 */
const POLICY_LOOKBACK = 50_000;

/**
 * The policy the trail last says was in force: the details of the last policy record that
 * put one in force (a refused edit changed nothing), else the version the newest record
 * was decided under (a trail from before policy records, or one whose policy records are
 * further back than POLICY_LOOKBACK); null for an empty trail.
 */
async function lastPolicyInTrail(log: Store['audit']): Promise<Record<string, unknown> | null> {
  const head = await log.head();
  if (!head) return null;
  const filter = { category: 'admin' as const, kind: POLICY_RECORD_KIND };
  let before: number | null = null;
  let scanned = 0;
  while (scanned < POLICY_LOOKBACK) {
    const page = await queryLog(log, filter, before, 20, { maxScan: POLICY_LOOKBACK, pageSize: 1000 });
    const found = page.records.find((r) => r.details?.ok === true);
    if (found?.details) return found.details;
    if (page.next === null || (before !== null && page.next >= before)) break;
    // Twenty refused edits in a row: look further back, within the same budget.
    scanned += (before ?? head.seq + 1) - page.next;
    before = page.next;
  }
  const [newest] = await log.reverseRange(head.seq, 1);
  return newest ? { version: newest.policyVersion } : null;
}

/**
 * Create adapters from the config, each by its network's module; rejects with a SourceError
 * pointing at the bad block.
 */
export async function createAdapters(loaded: LoadedConfig, logger: Logger): Promise<Adapter[]> {
  const out: Adapter[] = [];
  for (const [name, cfg] of Object.entries(loaded.config.adapters ?? {})) {
    const network = networkModule(cfg.type);
    const at = (path: (string | number)[], message: string) =>
      new SourceError([problemAt(loaded.source, path, message)]);
    if (!network) {
      throw at(
        ['adapters', name, 'type'],
        `adapter type "${cfg.type}" is not available in this version of Parley (remove adapters.${name} for now)`,
      );
    }
    try {
      out.push(
        await network.create(name, cfg, {
          logger: logger.child({ adapter: name }),
          configDir: dirname(loaded.file),
        }),
      );
    } catch (err) {
      if (err instanceof AdapterConfigError) {
        throw at(['adapters', name, ...err.path], err.message);
      }
      throw err;
    }
  }
  return out;
}

export async function startGateway(loaded: LoadedConfig, opts: GatewayOptions): Promise<Gateway> {
  const { logger } = opts;
  const cfg = loaded.config;
  const policy = new PolicyRuntime(loaded.policyFile, logger.child({ component: 'policy' }));
  const adapters = [...(await createAdapters(loaded, logger)), ...(opts.extraAdapters ?? [])];
  const metrics = new PrometheusMetrics();
  const store = await openStore(cfg.store, logger.child({ component: 'store' }));
  const audit = new AuditWriter(store.audit, {
    maxInFlight: auditPipelineDepth(store),
    observer: metrics,
    logger: logger.child({ component: 'audit' }),
  });
  const pipeline = new Pipeline({
    policy: () => policy.current,
    audit,
    store,
    logger: logger.child({ component: 'pipeline' }),
    auditContent: cfg.audit?.content ?? 'full',
    failClosed: cfg.audit?.failClosed ?? true,
    observer: metrics,
    ...(opts.now ? { now: opts.now } : {}),
  });
  const recordAdmin = adminRecorder(audit, () => policy.current.version);
  policy.recordWith(recordAdmin);
  const retention = new Retention({
    store,
    retentionDays: cfg.audit?.retentionDays ?? null,
    record: recordAdmin,
    logger: logger.child({ component: 'retention' }),
    ...(opts.now ? { now: opts.now } : {}),
  });

  const started: Adapter[] = [];
  let http: FastifyInstance | null = null;
  let url: string | null = null;
  const stop = async () => {
    pipeline.stopIntake();
    const policyRecorded = policy.close();
    await retention.stop();
    // Adapters stop taking traffic from their networks first, then in-flight events drain.
    await Promise.allSettled(started.map((a) => a.stop()));
    const drained = await Promise.race([
      pipeline.drain().then(() => true),
      new Promise<boolean>((r) => setTimeout(() => r(false), opts.drainTimeoutMs ?? 10_000).unref()),
    ]);
    if (!drained)
      logger.warn(
        { inFlight: pipeline.inFlight },
        'shutdown: events still in flight after the drain timeout',
      );
    await policyRecorded;
    await audit.close().catch((err: unknown) => logger.error({ err }, 'shutdown: audit flush failed'));
    if (http) await http.close();
    await store.close();
    logger.info('stopped');
  };

  try {
    // A restart with another policy than the trail last recorded is a change of the policy
    // in force: recorded before the first event it decides. The same file again, or a new
    // trail, adds nothing (every decision record names its policy version).
    const last = await lastPolicyInTrail(store.audit).catch((err: unknown) => {
      logger.error({ err }, 'could not read the last recorded policy from the audit trail');
      return null;
    });
    await policy.recordStart(last);
    for (const a of adapters) {
      const ctx = pipeline.register(a);
      await a.start(ctx);
      started.push(a);
    }
    if (opts.watchPolicy ?? cfg.policy.watch ?? true) policy.watch(opts.policyPollMs);
    retention.start();
    if (opts.http ?? true) {
      const services = createAdminServices({
        policy,
        store,
        audit,
        pipeline,
        metrics: () => {
          // Link state and queue depth are read at scrape time; nothing else reports them.
          for (const [name, s] of pipeline.linkStatus())
            metrics.linkStatus(name, s.network, s.state === 'up');
          for (const a of adapters) {
            const depth = (a as { queued?: unknown }).queued;
            if (typeof depth === 'number') metrics.queued(a.name, depth);
          }
          return metrics.render();
        },
        retention,
      });
      http = await buildHttpApp({
        services,
        // An empty token (e.g. an unset `${VAR:-}`) disables that role rather than matching "".
        tokens: Object.fromEntries(Object.entries(cfg.http?.tokens ?? {}).filter(([, v]) => Boolean(v))),
        logger: logger.child({ component: 'http' }),
        ...(cfg.http?.bodyLimit ? { bodyLimit: cfg.http.bodyLimit } : {}),
        limits: cfg.http ?? {},
      });
      url = await http.listen({ host: loaded.listen.host, port: loaded.listen.port });
    }
  } catch (err) {
    await stop().catch(() => {});
    throw err;
  }
  logger.info(
    {
      config: loaded.file,
      policy: `${policy.current.name}@${policy.current.version}`,
      store: store.kind,
      adapters: adapters.map((a) => `${a.name}(${a.network})`),
      url,
    },
    'parley started',
  );
  return { pipeline, store, policy, audit, metrics, adapters, http, url, stop };
}
