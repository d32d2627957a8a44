// The Matrix link's outbound queue: while the homeserver is unreachable, delivered events
// wait in a bounded store queue shared by the replicas, and one replica at a time (the
// holder of the queue's lease) sends them in order when it is back, retrying with a
// doubling backoff. An event leaves the queue only once the homeserver took or refused it.
// The adapter sees only the interface below, so that another queue can take its place.
import { TypeCompiler } from '@sinclair/typebox/compiler';
import type { AdapterContext, DeliveryResult } from '../../core/adapter.js';
import { CanonicalEvent } from '../../core/model.js';
import type { Store } from '../../core/store.js';
import { HomeserverError } from './homeserver.js';

const checkCanonical = TypeCompiler.Compile(CanonicalEvent);
const LEASE_TTL_MS = 30_000;

export interface OutboundQueueOptions {
  /** The store key of the queue (its lease has the same key). */
  key: string;
  /** This replica's id for the queue's lease. */
  owner: string;
  /** Most events waiting; beyond it enqueue answers a failure. */
  maxLength: number;
  /** First retry delay while the homeserver is unreachable, doubled up to retryMaxMs. */
  retryInitialMs: number;
  retryMaxMs: number;
  /** Is the homeserver reachable? Asked before a drain that has no backlog to prove it. */
  ping(): Promise<boolean>;
  /** Send one queued event; a retryable HomeserverError keeps it queued for the next try. */
  send(event: CanonicalEvent): Promise<void>;
  /** What a drain found out about the link. */
  setStatus(state: 'up' | 'down', detail?: string): void;
}

/** What the queue uses of the gateway's context: the shared store, a logger, bounces. */
export type OutboundQueueContext = Pick<AdapterContext, 'store' | 'logger' | 'bounce'>;

export class OutboundQueue {
  readonly #o: OutboundQueueOptions;
  #ctx: OutboundQueueContext | null = null;
  /** Events wait (or may): new deliveries queue behind them to keep the order. */
  #backlog = false;
  #timer: NodeJS.Timeout | null = null;
  #draining = false;
  /** Something was enqueued while a drain was running: drain again when it ends. */
  #rerun = false;
  #backoffMs: number;
  #stopped = false;

  constructor(opts: OutboundQueueOptions) {
    this.#o = opts;
    this.#backoffMs = opts.retryInitialMs;
  }

  /** True while events wait: a delivery must be queued behind them, not sent ahead. */
  get backlog(): boolean {
    return this.#backlog;
  }

  /**
   * Start (again): take up what an earlier process left in the queue, and drain — at once
   * when the homeserver is `up`, after the backoff when it is not.
   */
  async start(ctx: OutboundQueueContext, up: boolean): Promise<void> {
    this.#ctx = ctx;
    this.#stopped = false;
    const store = ctx.store;
    this.#backlog = (await store.queueLength(this.#o.key)) > 0 || (await store.get(this.#headKey)) !== null;
    if (this.#backlog || !up) this.#schedule(up ? 0 : this.#backoffMs);
  }

  /** Queue an event: `queued`, or a failure when the queue is full. */
  async enqueue(e: CanonicalEvent): Promise<DeliveryResult> {
    const ok = await this.#started.store.enqueue(this.#o.key, JSON.stringify(e), this.#o.maxLength);
    if (!ok) {
      return {
        ok: false,
        reason: `the homeserver is unreachable and ${this.#o.maxLength} events already wait`,
      };
    }
    this.#backlog = true;
    if (this.#draining) this.#rerun = true;
    else if (!this.#timer) this.#schedule(this.#backoffMs);
    return { ok: true, queued: true };
  }

  /** Drain no more (what waits stays in the store) and let another replica take the queue. */
  async stop(): Promise<void> {
    this.#stopped = true;
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = null;
    if (this.#ctx) await this.#ctx.store.releaseLease(this.#o.key, this.#o.owner).catch(() => {});
  }

  get #started(): OutboundQueueContext {
    if (!this.#ctx) throw new Error('the outbound queue is not started');
    return this.#ctx;
  }

  /** Where an earlier version kept the event being retried. */
  get #headKey(): string {
    return `${this.#o.key}:head`;
  }

  #schedule(delayMs: number): void {
    if (this.#stopped) return;
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = setTimeout(() => {
      this.#timer = null;
      void this.#drain();
    }, delayMs);
    this.#timer.unref();
  }

  /** Send queued events in order; on a retryable failure wait (doubling) and try again. */
  async #drain(): Promise<void> {
    if (this.#draining || this.#stopped || !this.#ctx) return;
    this.#draining = true;
    const o = this.#o;
    const ctx = this.#ctx;
    const store = ctx.store;
    const q = o.key;
    try {
      if (!(await store.acquireLease(q, o.owner, LEASE_TTL_MS))) {
        this.#schedule(LEASE_TTL_MS / 2);
        return;
      }
      if (!this.#backlog && !(await o.ping())) throw new HomeserverError('homeserver unreachable', true);
      for (;;) {
        if (this.#stopped) return;
        if (!(await store.acquireLease(q, o.owner, LEASE_TTL_MS))) {
          // Another replica took over (ours lapsed while a send hung): it drains now.
          this.#schedule(LEASE_TTL_MS / 2);
          return;
        }
        const next = await this.#peek(store);
        if (next === null) break;
        let event: unknown;
        try {
          event = JSON.parse(next.payload);
        } catch {
          event = null;
        }
        if (!checkCanonical.Check(event)) {
          ctx.logger.error({ payload: next.payload.slice(0, 200) }, 'dropped an unreadable queued event');
          await next.ack();
          continue;
        }
        try {
          await o.send(event);
        } catch (err) {
          if (err instanceof HomeserverError && err.retryable) throw err;
          ctx.logger.error({ err, eventId: event.id }, 'a queued event was refused by the homeserver');
          await ctx.bounce(event, {
            code: 'delivery',
            rule: null,
            reason: `The Matrix homeserver refused it: ${err instanceof Error ? err.message : String(err)}`,
          });
        }
        // Only now does it leave the queue: a crash before this line sends it again (same
        // transaction id, so the homeserver keeps one copy), never loses it.
        await next.ack();
        this.#backoffMs = o.retryInitialMs;
      }
      this.#backlog = false;
      o.setStatus('up');
    } catch (err) {
      const detail = err instanceof Error ? err.message : String(err);
      o.setStatus('down', detail);
      ctx.logger.warn({ detail, retryInMs: this.#backoffMs }, 'homeserver unreachable; will retry');
      this.#schedule(this.#backoffMs);
      this.#backoffMs = Math.min(this.#backoffMs * 2, o.retryMaxMs);
    } finally {
      this.#draining = false;
      if (this.#rerun) {
        this.#rerun = false;
        this.#backlog = true;
        if (!this.#timer) this.#schedule(0);
      }
    }
  }

  /**
   * The queue's head, left in place until `ack`. An item under the old head key goes first.
   */
  async #peek(store: Store): Promise<{ payload: string; ack(): Promise<void> } | null> {
    const headKey = this.#headKey;
    const legacy = await store.get(headKey);
    if (legacy !== null) return { payload: legacy, ack: () => store.del(headKey) };
    const [head] = await store.peek(this.#o.key, 1);
    if (head === undefined) return null;
    return {
      payload: head,
      ack: async () => {
        await store.ack(this.#o.key, [head]);
      },
    };
  }
}
