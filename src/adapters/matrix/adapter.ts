// The Matrix adapter: Parley as an application service of a homeserver. Remote users are
// ghosts (`@_parley_<user=40domain>:<server>`); a Matrix user talks to one in a direct room
// (they invite the ghost, or the ghost opens the room for inbound traffic). Whatever the
// homeserver pushes is translated and handed to the pipeline (inbound.ts); what the
// pipeline delivers is sent as the ghost (outbound-send.ts), through a bounded store queue
// while the homeserver is down (outbound-queue.ts). This file holds the link's lifecycle
// and state and wires those parts together.
import { randomUUID } from 'node:crypto';
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
import { dispatchKind, type KindTable, kindsOf } from '../../core/kind-table.js';
import type { Logger } from '../../core/logger.js';
import type { CallAction, CanonicalEvent } from '../../core/model.js';
import { buildAppserviceApp } from './appservice.js';
import type { Registration, ResolvedMatrixConfig } from './config.js';
import { Ghosts, mxid } from './ghosts.js';
import { type HomeserverApi, HomeserverError } from './homeserver.js';
import { MatrixInbound } from './inbound.js';
import type { MatrixLink } from './link.js';
import { Notices } from './notices.js';
import { OutboundQueue } from './outbound-queue.js';
import { matrixKindTable, type SendParts, sendToMatrix } from './outbound-send.js';
import { GhostPresence } from './presence.js';
import { Rooms } from './rooms.js';

/** Delivers nothing: the table's shape alone, for the capabilities declared before any link exists. */
const declarationOnly = async (): Promise<DeliveryResult> => ({
  ok: false,
  refused: true,
  reason: 'no Matrix link',
});

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
  readonly #prefix: string;
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
  readonly #queue: OutboundQueue;
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
    this.#prefix = `matrix:${opts.name}:`;
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
    const { queue } = opts.config;
    this.#queue = new OutboundQueue({
      key: `${this.#prefix}outq`,
      owner: this.#link.owner,
      maxLength: queue.maxLength,
      retryInitialMs: queue.retryInitialMs,
      retryMaxMs: queue.retryMaxMs,
      ping: () => this.#hs.ping(),
      send: (e) => sendToMatrix(this.#sending, e),
      setStatus: (state, detail) => this.#setStatus(state, detail),
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
      prefix: this.#prefix,
      owner,
      get ctx() {
        return self.#ctx;
      },
      get store() {
        return self.#started.store;
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
      store: ctx.store,
      keyPrefix: this.#prefix,
      bodyLimit: this.#cfg.maxTransactionBytes,
      logger: this.#log,
      handlers: {
        onTransaction: (txn) => this.#inbound.onTransaction(txn),
        onUserQuery: (userId) => this.#inbound.onUserQuery(userId),
      },
    });
    this.#app = app;
    this.url = await app.listen({ host: this.#cfg.listen.host, port: this.#cfg.listen.port });
    const up = await this.#hs.ping();
    if (up) this.#setStatus('up');
    else this.#setStatus('down', `homeserver ${this.#cfg.homeserver} unreachable`);
    await this.#queue.start(ctx, up);
    this.#presence.start();
  }

  status(): LinkStatus {
    return this.#status;
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    const queueStopped = this.#queue.stop();
    this.#presence.stop();
    if (this.#app) await this.#app.close();
    this.#app = null;
    await queueStopped;
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
    if (this.#stopped) return { ok: false, reason: 'the Matrix link is stopping' };
    if (!this.#queue.backlog) {
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
    return this.#queue.enqueue(e);
  }
}
