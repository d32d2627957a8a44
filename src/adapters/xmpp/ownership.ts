// Which replica connects an XMPP component link, and what the others do meanwhile. The
// holder of the lease connects, publishes its link state in the store and drains the
// shared outbox, where every replica (standbys included) queues what it delivers to XMPP.
// Standbys keep trying the lease and report the holder's link state as their own, for
// readiness: a standby is ready when the link is up somewhere, because its deliveries reach
// XMPP through the outbox.
import type { LinkState } from '../../core/adapter.js';
import type { Logger } from '../../core/logger.js';
import type { Store } from '../../core/store.js';
import { LinkLease } from './lease.js';
import type { Outbox } from './outbox.js';

export interface OwnershipOptions {
  store: Store;
  /** The adapter's name: keys are `xmpp:<name>:link` (lease) and `xmpp:<name>:link-state`. */
  adapter: string;
  replica: string;
  ttlMs: number;
  renewMs: number;
  /** How often the holder looks for events other replicas queued. */
  pollMs: number;
  outbox: Outbox;
  logger: Logger;
  /** This replica took the lease: connect (resolves after the first attempt). */
  connect(): Promise<void>;
  /** It lost the lease: disconnect. */
  disconnect(reason: string): Promise<void>;
  /** A standby's view of the link, for readiness. */
  report(state: LinkState, detail: string): void;
  /** Events wait in the shared outbox (the holder's link is up): send them. */
  pending(): void;
  linkUp(): boolean;
}

interface SharedState {
  owner: string;
  state: LinkState;
  detail?: string;
}

export class LinkOwnership {
  readonly #o: OwnershipOptions;
  readonly #lease: LinkLease;
  #chain: Promise<void> = Promise.resolve();
  #poller: NodeJS.Timeout | null = null;
  #polling = false;
  #published: SharedState | null = null;
  #publishedAt = 0;
  #reported = '';

  constructor(o: OwnershipOptions) {
    this.#o = o;
    this.#lease = new LinkLease({
      store: o.store,
      name: `xmpp:${o.adapter}:link`,
      owner: o.replica,
      ttlMs: o.ttlMs,
      renewMs: o.renewMs,
      expireLocally: o.store.kind !== 'memory',
      logger: o.logger,
      onAcquired: () => this.#serial(() => this.#acquired()),
      onLost: (reason) => this.#serial(() => this.#lost(reason)),
      onStandby: (holder, problem) => void this.#standby(holder, problem),
    });
  }

  /** True while this replica holds the link lease. */
  get owner(): boolean {
    return this.#lease.held;
  }

  /** Who holds the link as last seen (this replica's id when it does). */
  get holder(): string | null {
    return this.#lease.holder;
  }

  /** Take the lease if free (then connect: resolves after the first attempt) or stand by. */
  async start(): Promise<void> {
    await this.#lease.start();
    await this.#chain;
    this.#poller = setInterval(() => void this.#poll(), this.#o.pollMs);
    this.#poller.unref();
  }

  /** The holder's link changed: tell the standbys. */
  publish(state: LinkState, detail?: string): void {
    if (!this.#lease.held) return;
    this.#published = { owner: this.#o.replica, state, ...(detail ? { detail } : {}) };
    void this.#write();
  }

  /** Stop trying; release the lease (after the caller closed the link) and forget the state. */
  async stop(): Promise<void> {
    if (this.#poller) clearInterval(this.#poller);
    this.#poller = null;
    const held = this.#lease.held;
    await this.#lease.stop();
    await this.#chain;
    if (held) await this.#o.store.del(this.#stateKey()).catch(() => {});
  }

  #stateKey(): string {
    return `xmpp:${this.#o.adapter}:link-state`;
  }

  #serial(fn: () => Promise<void>): void {
    this.#chain = this.#chain.then(fn).catch((err: unknown) => {
      this.#o.logger.error({ err }, 'xmpp link ownership change failed');
    });
  }

  async #acquired(): Promise<void> {
    this.#reported = '';
    await this.#o.connect();
  }

  async #lost(reason: string): Promise<void> {
    this.#published = null;
    await this.#o.disconnect(reason);
    this.#report('down', `standby: lost the link lease (${reason})`);
  }

  async #write(): Promise<void> {
    const s = this.#published;
    if (!s) return;
    this.#publishedAt = Date.now();
    await this.#o.store.set(this.#stateKey(), JSON.stringify(s), this.#o.ttlMs).catch(() => {});
  }

  async #standby(holder: string | null, problem?: string): Promise<void> {
    await this.#o.outbox.sync().catch(() => {});
    if (problem !== undefined) {
      this.#report(
        'down',
        `standby: the store does not answer, so the link lease cannot be taken (${problem})`,
      );
      return;
    }
    if (!holder) {
      this.#report('starting', 'standby: no replica holds the link lease yet');
      return;
    }
    let shared: SharedState | null = null;
    try {
      const raw = await this.#o.store.get(this.#stateKey());
      shared = raw ? (JSON.parse(raw) as SharedState) : null;
    } catch {
      shared = null;
    }
    if (this.#lease.held) return;
    if (!shared || shared.owner !== holder) {
      this.#report('starting', `standby: replica ${holder} holds the link and is connecting it`);
    } else if (shared.state === 'up') {
      this.#report('up', `standby: the link is held by replica ${holder}`);
    } else {
      const why = shared.detail ? `: ${shared.detail}` : '';
      this.#report('down', `standby: the link held by replica ${holder} is ${shared.state}${why}`);
    }
  }

  #report(state: LinkState, detail: string): void {
    const key = `${state}\n${detail}`;
    if (key === this.#reported) return;
    this.#reported = key;
    this.#o.report(state, detail);
  }

  async #poll(): Promise<void> {
    if (this.#polling || !this.#lease.held) return;
    this.#polling = true;
    try {
      if (Date.now() - this.#publishedAt >= this.#o.renewMs) await this.#write();
      if (!this.#o.linkUp()) return;
      if ((await this.#o.store.queueLength(this.#o.outbox.key)) > 0) this.#o.pending();
    } catch (err) {
      this.#o.logger.debug({ err: String(err) }, 'xmpp outbox poll failed');
    } finally {
      this.#polling = false;
    }
  }
}
