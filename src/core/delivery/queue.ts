// The delivery queue an adapter is offered (AdapterContext.queue): a StoreQueue plus who
// drains it and when. Events wait while this replica cannot send them (the link is down, or
// another replica holds it); the consumer — the replica the adapter says consumes it, e.g.
// the link lease's holder — sends them in order when it can, retries after a doubling
// backoff when a send fails, looks every `pollMs` for what other replicas queued, and
// takes out what waited longer than `maxAgeMs` (by default bounced to the sender as
// `expired`). One FIFO per queue: events of one conversation keep their order.
import type { Logger } from '../logger.js';
import type { CanonicalEvent } from '../model.js';
import { type QueuedItem, type QueueStore, StoreQueue } from './store-queue.js';

export type { QueuedItem } from './store-queue.js';

export interface DeliveryQueueOptions<X extends object = Record<never, never>> {
  /** Most items waiting; a push beyond it fails (nothing written). */
  maxLength: number;
  /** How long an item may wait before it is taken out and handed to `expired`; no limit when absent. */
  maxAgeMs?: number;
  /**
   * Send one item, oldest first. True: it is done (sent, or handled otherwise, e.g. bounced)
   * and leaves the queue. False: it cannot be sent now; it and those behind it stay, and the
   * drain is tried again after the backoff. A throw counts as false (and is logged).
   */
  send(item: QueuedItem<X>): Promise<boolean>;
  /** This replica consumes the queue now (e.g. it holds the link lease). Default: always. */
  consumer?(): boolean;
  /** Sending can work now (e.g. the link is up): a drain waits until it can. Default: always. */
  ready?(): boolean;
  /** An item that waited longer than `maxAgeMs`. Default: its event is bounced as `expired`. */
  expired?(item: QueuedItem<X>): Promise<void>;
  /** The reason told to the sender of an expired event (the default `expired`). */
  expiredReason?: string;
  /** The retry delay after a drain stopped short: doubling from `initialMs` up to `maxMs`. */
  backoff?: { initialMs: number; maxMs: number };
  /** How often the consumer looks for items other replicas queued (default 100 ms). */
  pollMs?: number;
  /** How often a replica that does not consume learns the queue's length (default 1 s). */
  syncMs?: number;
  now?: () => number;
}

export interface DeliveryQueue<X extends object = Record<never, never>> {
  /** The queue's name in the store. */
  readonly key: string;
  /** Items waiting, as last known to this replica. */
  readonly size: number;
  /** When the oldest item expires (ms since the epoch), or null. */
  readonly nextExpiry: number | null;
  /** Nothing waits and no drain runs: an event sent directly now overtakes nothing. */
  readonly idle: boolean;
  /** Learn what waits in the store and start the timers (sweep, poll, retry). */
  start(): Promise<void>;
  /** Queue an event (with the adapter's fields); false when full. The consumer drains it when it can. */
  push(event: CanonicalEvent, extra?: X): Promise<boolean>;
  /** Drain now if this replica consumes and can send (e.g. the link just came up); resolves when done. */
  drain(): Promise<void>;
  /** Stop the timers and wait for a drain in progress; what waits stays in the store. */
  stop(): Promise<void>;
  /** Remove and return everything (a shutdown whose store dies with the process). */
  takeAll(): Promise<QueuedItem<X>[]>;
}

export interface QueueDeps {
  store: QueueStore;
  key: string;
  logger: Logger;
  /** The default for `expired`. */
  bounceExpired(event: CanonicalEvent, reason: string): Promise<void>;
}

const always = () => true;

export function deliveryQueue<X extends object = Record<never, never>>(
  deps: QueueDeps,
  o: DeliveryQueueOptions<X>,
): DeliveryQueue<X> {
  return new Drained<X>(deps, o);
}

class Drained<X extends object> implements DeliveryQueue<X> {
  readonly #q: StoreQueue<X>;
  readonly #o: DeliveryQueueOptions<X>;
  readonly #log: Logger;
  readonly #expired: (item: QueuedItem<X>) => Promise<void>;
  readonly #consumer: () => boolean;
  readonly #ready: () => boolean;
  readonly #now: () => number;
  #draining: Promise<void> | null = null;
  #sweeper: NodeJS.Timeout | null = null;
  #poller: NodeJS.Timeout | null = null;
  #retry: NodeJS.Timeout | null = null;
  #backoffMs: number;
  #polling = false;
  /** A drain was asked for while one ran: it looks again before it ends. */
  #again = false;
  #syncedAt = 0;
  #stopped = false;

  constructor(deps: QueueDeps, o: DeliveryQueueOptions<X>) {
    this.#o = o;
    this.#log = deps.logger;
    this.#now = o.now ?? Date.now;
    this.#consumer = o.consumer ?? always;
    this.#ready = o.ready ?? always;
    this.#backoffMs = o.backoff?.initialMs ?? 1000;
    const reason = o.expiredReason ?? 'It waited in the queue longer than the gateway keeps events.';
    this.#expired = o.expired ?? ((item) => deps.bounceExpired(item.event, reason));
    this.#q = new StoreQueue<X>({
      store: deps.store,
      key: deps.key,
      maxLength: o.maxLength,
      ...(o.maxAgeMs !== undefined ? { maxAgeMs: o.maxAgeMs } : {}),
      now: this.#now,
      onCorrupt: (p) =>
        deps.logger.error({ queue: deps.key, payload: p.slice(0, 200) }, 'unreadable queued item dropped'),
    });
  }

  get key(): string {
    return this.#q.key;
  }

  get size(): number {
    return this.#q.size;
  }

  get nextExpiry(): number | null {
    return this.#q.nextExpiry;
  }

  get idle(): boolean {
    return this.#q.size === 0 && !this.#draining;
  }

  async start(): Promise<void> {
    this.#stopped = false;
    await this.#q.sync();
    this.#syncedAt = Date.now();
    if (this.#o.maxAgeMs !== undefined) {
      const period = Math.max(50, Math.min(1000, Math.floor(this.#o.maxAgeMs / 4)));
      this.#sweeper = setInterval(() => void this.#sweep(), period);
      this.#sweeper.unref();
    }
    this.#poller = setInterval(() => void this.#poll(), this.#o.pollMs ?? 100);
    this.#poller.unref();
  }

  push(event: CanonicalEvent, extra?: X): Promise<boolean> {
    return this.#q.push(event, extra);
  }

  drain(): Promise<void> {
    if (this.#draining) {
      this.#again = true;
      return this.#draining;
    }
    if (this.#stopped || !this.#consumer() || !this.#ready()) return Promise.resolve();
    const run = async () => {
      // Let the assignment below happen before the loop can finish.
      await Promise.resolve();
      let stalled = false;
      try {
        do {
          this.#again = false;
          while (this.#q.size > 0 && !stalled && this.#consumer() && this.#ready()) {
            const sent = await this.#q.flush(async (item) => {
              const ok = await this.#o.send(item).catch((err: unknown) => {
                this.#log.warn({ err, queue: this.key, eventId: item.event.id }, 'queued item not sent');
                return false;
              });
              if (!ok) stalled = true;
              return ok;
            }, this.#expired);
            if (sent > 0) this.#log.info({ queue: this.key, sent }, 'queue drained');
          }
        } while (this.#again && !stalled);
      } catch (err) {
        stalled = true;
        this.#log.error({ err, queue: this.key }, 'queue drain failed');
      } finally {
        this.#draining = null;
      }
      if (stalled) this.#retryLater();
      else this.#backoffMs = this.#o.backoff?.initialMs ?? 1000;
    };
    this.#draining = run();
    return this.#draining;
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    for (const t of [this.#sweeper, this.#poller]) if (t) clearInterval(t);
    if (this.#retry) clearTimeout(this.#retry);
    this.#sweeper = this.#poller = this.#retry = null;
    await this.#draining;
  }

  takeAll(): Promise<QueuedItem<X>[]> {
    return this.#q.takeAll();
  }

  #retryLater(): void {
    if (this.#stopped || this.#retry) return;
    const delay = this.#backoffMs;
    this.#backoffMs = Math.min(delay * 2, this.#o.backoff?.maxMs ?? 30_000);
    this.#retry = setTimeout(() => {
      this.#retry = null;
      void this.drain();
    }, delay);
    this.#retry.unref();
  }

  async #sweep(): Promise<void> {
    // Only the consumer takes items out of the shared queue.
    if (this.#q.size === 0 || this.#draining || !this.#consumer()) return;
    try {
      await this.#q.sweep(this.#expired);
    } catch (err) {
      this.#log.error({ err, queue: this.key }, 'queue sweep failed');
    }
  }

  /** The consumer looks for what other replicas queued; the others keep their count fresh. */
  async #poll(): Promise<void> {
    if (this.#polling || this.#stopped) return;
    this.#polling = true;
    try {
      if (!this.#consumer()) {
        if (Date.now() - this.#syncedAt < (this.#o.syncMs ?? 1000)) return;
        this.#syncedAt = Date.now();
        await this.#q.sync();
      } else if (!this.#draining && this.#ready() && this.#retry === null) {
        await this.#q.sync();
        if (this.#q.size > 0) void this.drain();
      }
    } catch (err) {
      this.#log.debug({ err: String(err), queue: this.key }, 'queue poll failed');
    } finally {
      this.#polling = false;
    }
  }
}
