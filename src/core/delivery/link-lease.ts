// The link lease an adapter is offered (AdapterContext.lease): which replica connects a
// link that only one may hold (an XMPP component, say), and what the others report
// meanwhile. The holder connects and publishes its link state in the store (`<lease>-state`);
// standbys keep trying the lease and report the holder's link state as their own, for
// readiness: a standby is ready when the link is up somewhere, since what it delivers
// reaches the network through the shared delivery queue, which the holder drains.
import type { LinkState } from '../adapter.js';
import type { Logger } from '../logger.js';
import type { Store } from '../store.js';
import { Lease } from './lease.js';

export interface LinkLeaseOptions {
  /** How long the lease lives without renewal: the takeover time when its holder dies. */
  ttlMs: number;
  /** How often the holder renews it and the standbys try to take it (at most a third of ttlMs). */
  renewMs: number;
  /** This replica took the lease: connect (the lease's `start` waits for the first attempt). */
  acquired(): Promise<void>;
  /** It lost the lease (another replica may hold it now): disconnect. */
  lost(reason: string): Promise<void>;
  /** How the link looks from this replica while it does not hold it (for readiness). */
  standby(state: LinkState, detail: string): void;
}

export interface LinkLease {
  /** The lease's name in the store. */
  readonly name: string;
  /** True while this replica holds the lease (and its last renewal is recent enough). */
  readonly held: boolean;
  /** Who holds it as last seen (this replica's id when it does), or null. */
  readonly holder: string | null;
  /** Take the lease if free (then `acquired` runs before this resolves) or stand by. */
  start(): Promise<void>;
  /** The holder's link changed: tell the standbys (ignored unless held). */
  publish(state: LinkState, detail?: string): void;
  /** Stop trying; release the lease (close the link first) and forget the published state. */
  stop(): Promise<void>;
}

export interface LinkLeaseDeps {
  store: Pick<Store, 'kind' | 'acquireLease' | 'releaseLease' | 'leaseOwner' | 'get' | 'set' | 'del'>;
  name: string;
  replicaId: string;
  logger: Logger;
}

interface SharedState {
  owner: string;
  state: LinkState;
  detail?: string;
}

export function linkLease(deps: LinkLeaseDeps, o: LinkLeaseOptions): LinkLease {
  return new HeldLink(deps, o);
}

class HeldLink implements LinkLease {
  readonly #d: LinkLeaseDeps;
  readonly #o: LinkLeaseOptions;
  readonly #lease: Lease;
  #chain: Promise<void> = Promise.resolve();
  #published: SharedState | null = null;
  #reported = '';

  constructor(d: LinkLeaseDeps, o: LinkLeaseOptions) {
    this.#d = d;
    this.#o = o;
    this.#lease = new Lease({
      store: d.store,
      name: d.name,
      owner: d.replicaId,
      ttlMs: o.ttlMs,
      renewMs: o.renewMs,
      expireLocally: d.store.kind !== 'memory',
      logger: d.logger,
      onAcquired: () => this.#serial(() => this.#acquired()),
      onLost: (reason) => this.#serial(() => this.#lost(reason)),
      onStandby: (holder, problem) => void this.#standby(holder, problem),
      onRenewed: () => void this.#write(),
    });
  }

  get name(): string {
    return this.#d.name;
  }

  get held(): boolean {
    return this.#lease.held;
  }

  get holder(): string | null {
    return this.#lease.holder;
  }

  async start(): Promise<void> {
    await this.#lease.start();
    await this.#chain;
  }

  publish(state: LinkState, detail?: string): void {
    if (!this.#lease.held) return;
    this.#published = { owner: this.#d.replicaId, state, ...(detail ? { detail } : {}) };
    void this.#write();
  }

  async stop(): Promise<void> {
    const held = this.#lease.held;
    await this.#lease.stop();
    await this.#chain;
    if (held) await this.#d.store.del(this.#stateKey()).catch(() => {});
  }

  #stateKey(): string {
    return `${this.#d.name}-state`;
  }

  #serial(fn: () => Promise<void>): void {
    this.#chain = this.#chain.then(fn).catch((err: unknown) => {
      this.#d.logger.error({ err, lease: this.#d.name }, 'link lease change failed');
    });
  }

  async #acquired(): Promise<void> {
    this.#reported = '';
    await this.#o.acquired();
  }

  async #lost(reason: string): Promise<void> {
    this.#published = null;
    await this.#o.lost(reason);
    this.#report('down', `standby: lost the link lease (${reason})`);
  }

  async #write(): Promise<void> {
    const s = this.#published;
    if (!s || !this.#lease.held) return;
    await this.#d.store.set(this.#stateKey(), JSON.stringify(s), this.#o.ttlMs).catch(() => {});
  }

  async #standby(holder: string | null, problem?: string): Promise<void> {
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
      const raw = await this.#d.store.get(this.#stateKey());
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
    this.#o.standby(state, detail);
  }
}
