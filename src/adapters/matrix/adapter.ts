// The Matrix adapter: Parley as an application service of a homeserver. Remote users are
// ghosts (`@_parley_<user=40domain>:<server>`); a Matrix user talks to one in a direct room
// (they invite the ghost, or the ghost opens the room for inbound traffic). Whatever the
// homeserver pushes is translated and handed to the pipeline (inbound.ts); what the
// pipeline delivers is sent as the ghost (outbound-send.ts), or, while the homeserver is down,
// through the core delivery queue (`outq`), which the holder of its lease drains. This file
// holds the link's lifecycle, its state and the way to the homeserver, and wires the parts.
import { randomUUID } from 'node:crypto';
import { TypeCompiler } from '@sinclair/typebox/compiler';
import type { FastifyInstance } from 'fastify';
import type {
  Adapter,
  AdapterContext,
  Capabilities,
  Delivery,
  DeliveryResult,
  LinkState,
  LinkStatus,
  Notice,
  Refusal,
} from '../../core/adapter.js';
import { tryParseAddress } from '../../core/address.js';
import type { LinkLease } from '../../core/delivery/link-lease.js';
import type { DeliveryQueue } from '../../core/delivery/queue.js';
import { dispatchKind, type KindTable, kindsOf } from '../../core/kind-table.js';
import type { Logger } from '../../core/logger.js';
import { type CallAction, CanonicalEvent } from '../../core/model.js';
import { buildAppserviceApp } from './appservice.js';
import type { Registration, ResolvedMatrixConfig } from './config.js';
import { Ghosts, mxid } from './ghosts.js';
import { type HomeserverApi, HomeserverError } from './homeserver.js';
import { MatrixInbound } from './inbound.js';
import type { MatrixLink } from './link.js';
import { Notices } from './notices.js';
import { matrixKindTable, type SendParts, sendToMatrix } from './outbound-send.js';
import { GhostPresence } from './presence.js';
import { Rooms } from './rooms.js';

/** Delivers nothing: the table's shape alone, for the capabilities declared before any link exists. */
const declarationOnly = async (): Promise<DeliveryResult> => ({
  ok: false,
  refused: true,
  reason: 'no Matrix link',
});

/**
 * The queue's lease (store key `matrix:<link>:outq`): one replica drains. Its holder renews it
 * every 10 s; when it dies, another takes over within 30 s of its last renewal.
 */
const DRAIN_LEASE = { ttlMs: 30_000, renewMs: 10_000 };
/** Where a version before the peek/ack queue kept the event it was retrying. */
const LEGACY_HEAD = 'outq:head';
const isEvent = TypeCompiler.Compile(CanonicalEvent);

export const MATRIX_CAPABILITIES: Capabilities = {
  kinds: kindsOf(matrixKindTable(declarationOnly)),
  edits: true,
  html: true,
  attachments: true,
  // Matrix has no ringing event: a ringing is accepted and not shown (clients ring on the invite).
  callActions: new Set<CallAction>(['invite', 'ringing', 'answer', 'candidate', 'hangup']),
  maxBodyLength: 65_536,
};

export interface MatrixAdapterOptions {
  name: string;
  config: ResolvedMatrixConfig;
  registration: Registration;
  homeserver: HomeserverApi;
  logger: Logger;
}

export class MatrixAdapter implements Adapter {
  readonly network = 'matrix' as const;
  readonly name: string;
  readonly domains: readonly string[];
  readonly capabilities = MATRIX_CAPABILITIES;

  readonly #cfg: ResolvedMatrixConfig;
  readonly #hs: HomeserverApi;
  readonly #reg: Registration;
  #log: Logger;
  #ctx: AdapterContext | null = null;
  #app: FastifyInstance | null = null;
  #status: LinkStatus = { state: 'starting', since: new Date().toISOString() };
  #stopped = false;
  readonly #link: MatrixLink;
  readonly #ghosts: Ghosts;
  readonly #rooms: Rooms;
  readonly #presence: GhostPresence;
  readonly #notices: Notices;
  readonly #inbound: MatrixInbound;
  /** What waits for the homeserver, in the store; created at start. */
  #queue: DeliveryQueue | null = null;
  #lease: LinkLease | null = null;
  /** An event an earlier version left under `outq:head`: sent before the queue's first item. */
  #legacyHead: CanonicalEvent | null = null;
  /** While the link is down: when to look whether the homeserver is back. */
  #probe: NodeJS.Timeout | null = null;
  #probeMs: number;
  readonly #sending: SendParts;
  readonly #table: KindTable = matrixKindTable((d) => this.#deliver(d.event));
  /** The bound appservice address, e.g. http://127.0.0.1:9000. */
  url: string | null = null;

  constructor(opts: MatrixAdapterOptions) {
    this.name = opts.name;
    this.#cfg = opts.config;
    this.#reg = opts.registration;
    this.#hs = opts.homeserver;
    this.#log = opts.logger;
    this.domains = opts.config.domains;
    this.#probeMs = opts.config.queue.retryInitialMs;
    this.#link = this.#view(randomUUID());
    this.#ghosts = new Ghosts(this.#link);
    this.#rooms = new Rooms(this.#link, this.#ghosts);
    this.#presence = new GhostPresence(this.#link);
    this.#notices = new Notices(this.#link, this.#ghosts, this.#rooms);
    this.#sending = {
      link: this.#link,
      ghosts: this.#ghosts,
      rooms: this.#rooms,
      presence: this.#presence,
    };
    this.#inbound = new MatrixInbound({
      link: this.#link,
      ghosts: this.#ghosts,
      rooms: this.#rooms,
      notices: this.#notices,
      domains: this.domains,
    });
  }

  /** The parts' view of this link: its state is read from the adapter when they use it. */
  #view(owner: string): MatrixLink {
    const self = this;
    return {
      name: this.name,
      cfg: this.#cfg,
      reg: this.#reg,
      hs: this.#hs,
      owner,
      get ctx() {
        return self.#ctx;
      },
      get state() {
        return self.#started.state;
      },
      get ids() {
        return self.#started.ids;
      },
      get log() {
        return self.#log;
      },
      get status() {
        return self.#status.state;
      },
      get stopped() {
        return self.#stopped;
      },
    };
  }

  get #started(): AdapterContext {
    if (!this.#ctx) throw new Error(`matrix adapter ${this.name} is not started`);
    return this.#ctx;
  }

  #setStatus(state: LinkState, detail?: string): void {
    // A send still in flight at stop() does not report the link after it.
    if (this.#stopped && state !== 'stopped') return;
    if (state === 'down') this.#probeLater();
    else {
      if (this.#probe) clearTimeout(this.#probe);
      this.#probe = null;
      this.#probeMs = this.#cfg.queue.retryInitialMs;
    }
    if (this.#status.state === state && this.#status.detail === detail) return;
    this.#status = { state, since: new Date().toISOString(), ...(detail ? { detail } : {}) };
    this.#ctx?.setStatus(state, detail);
  }

  async start(ctx: AdapterContext): Promise<void> {
    this.#ctx = ctx;
    this.#log = ctx.logger;
    this.#stopped = false;
    const app = buildAppserviceApp({
      hsToken: this.#reg.hs_token,
      state: ctx.state,
      bodyLimit: this.#cfg.maxTransactionBytes,
      logger: this.#log,
      handlers: {
        onTransaction: (txn) => this.#inbound.onTransaction(txn),
        onUserQuery: (userId) => this.#inbound.onUserQuery(userId),
      },
    });
    this.#app = app;
    this.url = await app.listen({ host: this.#cfg.listen.host, port: this.#cfg.listen.port });
    if (await this.#hs.ping()) this.#setStatus('up');
    else this.#setStatus('down', `homeserver ${this.#cfg.homeserver} unreachable`);
    const { queue: q } = this.#cfg;
    const lease = ctx.lease('outq', {
      ...DRAIN_LEASE,
      // The holder's queue finds what waits by its poll (every 100 ms), also after a takeover.
      acquired: async () => {},
      lost: async () => {},
      // Every replica sends to the homeserver itself: the lease only says who drains.
      standby: () => {},
    });
    const queue = ctx.queue('outq', {
      maxLength: q.maxLength,
      backoff: { initialMs: q.retryInitialMs, maxMs: q.retryMaxMs },
      consumer: () => lease.held,
      send: (item) => this.#sendQueued(item.event),
    });
    this.#queue = queue;
    this.#lease = lease;
    await queue.start();
    await this.#adoptLegacyHead(queue);
    await lease.start();
    this.#presence.start();
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    // What waits stays in the store. A send in flight is not waited for (a hanging homeserver
    // must not hold up the stop); the lease is let go at once, for another replica to drain.
    void this.#queue?.stop();
    this.#presence.stop();
    if (this.#app) await this.#app.close();
    this.#app = null;
    await this.#lease?.stop();
    // A memory store dies with the process: tell the senders of what waits now rather than never.
    const ctx = this.#ctx;
    if (ctx && this.#queue && ctx.state.kind === 'memory') {
      for (const item of await this.#queue.takeAll()) {
        await ctx
          .bounce(
            item.event,
            { code: 'shutdown', rule: null, reason: 'The gateway stopped before the homeserver came back.' },
            'failed',
          )
          .catch((err: unknown) => this.#log.error({ err }, 'bounce failed'));
      }
    }
    this.#setStatus('stopped');
  }

  async refuse(event: CanonicalEvent, refusal: Refusal): Promise<void> {
    await this.#notices.refused(event, refusal);
  }

  async notice(event: CanonicalEvent, notice: Notice): Promise<void> {
    await this.#notices.degraded(event, notice);
  }

  deliver(delivery: Delivery): Promise<DeliveryResult> {
    return dispatchKind(this.#table, delivery);
  }

  /** Every kind Matrix carries: sent now, or queued behind a backlog or while the homeserver is down. */
  async #deliver(e: CanonicalEvent): Promise<DeliveryResult> {
    const to = tryParseAddress(e.to);
    const from = tryParseAddress(e.from);
    if (!to || !from || to.network !== 'matrix') {
      return { ok: false, refused: true, reason: `not a Matrix recipient: ${e.to}` };
    }
    if (this.#ghosts.remoteOf(mxid(to)) || this.#ghosts.isOurs(mxid(to))) {
      return { ok: false, refused: true, reason: 'the recipient is a gateway user' };
    }
    const queue = this.#queue;
    if (this.#stopped || !queue) return { ok: false, reason: 'the Matrix link is stopping' };
    // Sent directly only when that overtakes nothing queued.
    if (queue.idle) {
      try {
        await sendToMatrix(this.#sending, e);
        if (this.#status.state !== 'up') this.#setStatus('up');
        return { ok: true };
      } catch (err) {
        const he = err instanceof HomeserverError ? err : new HomeserverError(String(err), false);
        if (!he.retryable) return { ok: false, refused: true, reason: he.message };
        this.#setStatus('down', he.message);
      }
    }
    if (!(await queue.push(e))) {
      const max = this.#cfg.queue.maxLength;
      return { ok: false, reason: `the homeserver is unreachable and ${max} events already wait` };
    }
    // Queued behind a drain in progress while the homeserver is up: drain (again) now.
    if (this.#status.state === 'up') void queue.drain();
    return { ok: true, queued: true };
  }

  /**
   * The queue's send (on the lease holder): true when the homeserver took the event, or
   * refused it for good and its sender was told; false while it is unreachable (retried after
   * the queue's backoff). The resend of an event whose ack was lost has the same transaction
   * id, so the homeserver keeps one copy.
   */
  async #sendQueued(event: CanonicalEvent): Promise<boolean> {
    const head = this.#legacyHead;
    if (head) {
      const state = this.#started.state;
      // Another replica may have sent it meanwhile.
      if ((await state.get(LEGACY_HEAD)) !== null && !(await this.#sendOrBounce(head))) return false;
      this.#legacyHead = null;
      await state.del(LEGACY_HEAD);
    }
    return this.#sendOrBounce(event);
  }

  async #sendOrBounce(event: CanonicalEvent): Promise<boolean> {
    try {
      await sendToMatrix(this.#sending, event);
    } catch (err) {
      if (err instanceof HomeserverError && err.retryable) {
        this.#setStatus('down', err.message);
        this.#log.warn({ detail: err.message }, 'homeserver unreachable; will retry');
        return false;
      }
      this.#log.error({ err, eventId: event.id }, 'a queued event was refused by the homeserver');
      await this.#started.bounce(event, {
        code: 'delivery',
        rule: null,
        reason: `The Matrix homeserver refused it: ${err instanceof Error ? err.message : String(err)}`,
      });
    }
    this.#setStatus('up');
    return true;
  }

  /**
   * A version before the peek/ack queue kept the event it was retrying under `outq:head`: it
   * goes first — into the queue when that is empty, else before the queue's first item.
   */
  async #adoptLegacyHead(queue: DeliveryQueue): Promise<void> {
    this.#legacyHead = null;
    const state = this.#started.state;
    const raw = await state.get(LEGACY_HEAD);
    if (raw === null) return;
    let event: unknown = null;
    try {
      event = JSON.parse(raw);
    } catch {
      // unreadable: dropped below
    }
    if (!isEvent.Check(event)) {
      this.#log.error({ payload: raw.slice(0, 200) }, 'dropped an unreadable queued event');
    } else if (queue.size > 0 || !(await queue.push(event))) {
      this.#legacyHead = event;
      return;
    }
    await state.del(LEGACY_HEAD);
  }

  /**
   * While the link is down, look whether the homeserver is back, waiting longer each time
   * (`retryInitialMs` doubling to `retryMaxMs`) — unless this replica drains a backlog, whose
   * retries tell.
   */
  #probeLater(): void {
    if (this.#probe || this.#stopped) return;
    const delay = this.#probeMs;
    this.#probeMs = Math.min(delay * 2, this.#cfg.queue.retryMaxMs);
    this.#probe = setTimeout(() => {
      this.#probe = null;
      void this.#probeNow();
    }, delay);
    this.#probe.unref();
  }

  async #probeNow(): Promise<void> {
    if (this.#stopped || this.#status.state !== 'down') return;
    const draining = this.#lease?.held === true && (this.#queue?.size ?? 0) > 0;
    if (!draining && (await this.#hs.ping().catch(() => false))) {
      this.#setStatus('up');
      void this.#queue?.drain();
    } else this.#probeLater();
  }
}
