// One holder among the replicas for something only one may do at a time (connect a link,
// drain a queue): a lease in the store, taken and renewed by its holder and retried by the
// others (standbys). The holder counts itself holder only while its last successful
// renewal is younger than the TTL minus one renewal period, so that it lets go before
// another replica can take the lease, also when the store stops answering.
import type { Logger } from '../logger.js';
import type { Store } from '../store.js';

export type LeaseStore = Pick<Store, 'acquireLease' | 'releaseLease' | 'leaseOwner'>;

export interface LeaseOptions {
  store: LeaseStore;
  /** The lease's name in the store, e.g. `xmpp:corp:link`. */
  name: string;
  /** Who this replica is (its replica id). */
  owner: string;
  ttlMs: number;
  /** How often the holder renews and a standby tries to take it. */
  renewMs: number;
  logger: Logger;
  /** This replica took the lease. */
  onAcquired(): void;
  /** It lost the lease (taken over, or not renewed in time); stop using what it guards. */
  onLost(reason: string): void;
  /** After each attempt that did not get the lease: who holds it (null: unknown or nobody). */
  onStandby?(holder: string | null, problem?: string): void;
  /** After each successful renewal (not the first take). */
  onRenewed?(): void;
  /**
   * Let go when renewals stop succeeding for TTL minus one period (default true). A memory
   * store lives in this process: nobody else can take the lease while this one is stalled.
   */
  expireLocally?: boolean;
  now?: () => number;
}

export class Lease {
  readonly #o: LeaseOptions;
  readonly #now: () => number;
  #held = false;
  /** When the last successful take or renewal was sent (ms). */
  #lastOk = 0;
  #holder: string | null = null;
  #timer: NodeJS.Timeout | null = null;
  /** Fires when the holder must let go unless a renewal succeeded meanwhile. */
  #deadline: NodeJS.Timeout | null = null;
  #busy = false;
  #stopped = false;

  constructor(o: LeaseOptions) {
    this.#o = o;
    this.#now = o.now ?? Date.now;
  }

  /** True while this replica holds the lease and its last renewal is recent enough. */
  get held(): boolean {
    if (!this.#held) return false;
    return this.#o.expireLocally === false || this.#now() - this.#lastOk < this.#o.ttlMs - this.#o.renewMs;
  }

  /** The holder as last seen: this replica, another, or null when unknown or nobody. */
  get holder(): string | null {
    return this.#holder;
  }

  get owner(): string {
    return this.#o.owner;
  }

  get name(): string {
    return this.#o.name;
  }

  /** Make the first attempt (its callback runs before this resolves), then keep trying. */
  async start(): Promise<void> {
    this.#stopped = false;
    await this.tick();
    this.#schedule();
  }

  /** One attempt to take or renew the lease (the timer calls it; tests may too). */
  async tick(): Promise<void> {
    // Let go before the lease can expire in the store, even while a renewal hangs.
    if (this.#held && !this.held) {
      this.#lose(`the lease was not renewed for ${this.#now() - this.#lastOk} ms (store unreachable?)`);
    }
    if (this.#busy || this.#stopped) return;
    this.#busy = true;
    const sentAt = this.#now();
    try {
      const ok = await this.#o.store.acquireLease(this.#o.name, this.#o.owner, this.#o.ttlMs);
      if (this.#stopped) return;
      // An answer slower than the margin proves nothing about now: the next attempt decides.
      if (ok && this.#o.expireLocally !== false && this.#now() - sentAt >= this.#o.ttlMs - this.#o.renewMs)
        return;
      if (ok) {
        this.#lastOk = sentAt;
        this.#holder = this.#o.owner;
        this.#armDeadline();
        if (!this.#held) {
          this.#held = true;
          this.#o.logger.info({ lease: this.#o.name, replica: this.#o.owner }, 'took the lease');
          this.#o.onAcquired();
        } else this.#o.onRenewed?.();
        return;
      }
      if (this.#held) this.#lose('another replica holds it');
      this.#holder = await this.#o.store.leaseOwner(this.#o.name).catch(() => null);
      this.#o.onStandby?.(this.#holder);
    } catch (err) {
      const problem = err instanceof Error ? err.message : String(err);
      this.#o.logger.warn({ lease: this.#o.name, err: problem }, 'could not take or renew the lease');
      if (this.#held && !this.held) this.#lose(`the store did not answer (${problem})`);
      if (!this.#held) this.#o.onStandby?.(null, problem);
    } finally {
      this.#busy = false;
    }
  }

  /** Stop trying; release the lease when held (a graceful stop hands over at once). */
  async stop(): Promise<void> {
    this.#stopped = true;
    if (this.#timer) clearTimeout(this.#timer);
    if (this.#deadline) clearTimeout(this.#deadline);
    this.#timer = null;
    this.#deadline = null;
    if (!this.#held) return;
    this.#held = false;
    this.#holder = null;
    await this.#o.store.releaseLease(this.#o.name, this.#o.owner).catch((err: unknown) => {
      this.#o.logger.warn({ lease: this.#o.name, err: String(err) }, 'could not release the lease');
    });
  }

  #armDeadline(): void {
    if (this.#o.expireLocally === false) return;
    if (this.#deadline) clearTimeout(this.#deadline);
    const at = this.#lastOk + this.#o.ttlMs - this.#o.renewMs;
    this.#deadline = setTimeout(
      () => {
        this.#deadline = null;
        if (this.#held && !this.held && !this.#stopped) {
          this.#lose(`the lease was not renewed for ${this.#now() - this.#lastOk} ms (store unreachable?)`);
        }
      },
      Math.max(0, at - this.#now()),
    );
    this.#deadline.unref();
  }

  #lose(reason: string): void {
    if (this.#deadline) clearTimeout(this.#deadline);
    this.#deadline = null;
    this.#held = false;
    this.#holder = null;
    this.#o.logger.warn({ lease: this.#o.name, replica: this.#o.owner, reason }, 'lost the lease');
    this.#o.onLost(reason);
  }

  #schedule(): void {
    if (this.#stopped) return;
    this.#timer = setTimeout(() => {
      this.#timer = null;
      // Not chained to the attempt: a hanging store call must not delay the expiry check.
      void this.tick();
      this.#schedule();
    }, this.#o.renewMs);
    this.#timer.unref();
  }
}
