// A bounded FIFO of events in the store, consumed by peek-then-ack: an item leaves the queue
// only after it was sent or handled otherwise, so a consumer killed midway leaves it for
// the next one (at least once, in order). Every replica may push; one consumes at a time
// (the holder of a lease). This process's operations on it are serialised.
import { FormatRegistry } from '@sinclair/typebox';
import { TypeCompiler } from '@sinclair/typebox/compiler';
import { CanonicalEvent } from '../model.js';
import type { Store } from '../store.js';

/** What a queue stores: the event, when it was queued, and the adapter's own fields. */
export type QueuedItem<X extends object = Record<never, never>> = X & {
  event: CanonicalEvent;
  /** When it was queued (ms since the epoch). */
  at: number;
};

export type QueueStore = Pick<Store, 'enqueue' | 'dequeue' | 'peek' | 'ack' | 'queueLength'>;

export interface StoreQueueOptions {
  store: QueueStore;
  /** The queue's name in the store. */
  key: string;
  maxLength: number;
  /** How long an item may wait before it counts as expired; no limit when absent. */
  maxAgeMs?: number;
  now?: () => number;
  /** A payload that does not parse (a store shared with a different version): reported, dropped. */
  onCorrupt?: (payload: string) => void;
}

const BATCH = 100;
const isEvent = TypeCompiler.Compile(CanonicalEvent);
// The events' `time` format, as the policy and HTTP layers register it (whichever loads first).
const DATE_TIME = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?(?:Z|[+-]\d{2}:\d{2})$/i;
if (!FormatRegistry.Has('date-time')) {
  FormatRegistry.Set('date-time', (v) => DATE_TIME.test(v) && !Number.isNaN(Date.parse(v)));
}

export class StoreQueue<X extends object = Record<never, never>> {
  readonly #o: StoreQueueOptions & { now: () => number };
  #chain: Promise<unknown> = Promise.resolve();
  #size = 0;
  #oldestAt: number | null = null;

  constructor(o: StoreQueueOptions) {
    this.#o = { now: Date.now, ...o };
  }

  /** Items waiting (as last known to this process). */
  get size(): number {
    return this.#size;
  }

  /** When the oldest waiting item expires (ms since the epoch), or null (empty, or no age limit). */
  get nextExpiry(): number | null {
    const max = this.#o.maxAgeMs;
    return this.#oldestAt === null || max === undefined ? null : this.#oldestAt + max;
  }

  get key(): string {
    return this.#o.key;
  }

  /** Learn what waits in the store (an earlier run, or other replicas): its length and oldest item. */
  sync(): Promise<void> {
    return this.#locked(() => this.#learn());
  }

  /** Queue an event (with the adapter's fields); false (nothing written) when full. */
  push(event: CanonicalEvent, extra?: X): Promise<boolean> {
    return this.#locked(async () => {
      const item = { ...extra, event, at: this.#o.now() };
      const ok = await this.#o.store.enqueue(this.#o.key, JSON.stringify(item), this.#o.maxLength);
      if (ok) {
        this.#size++;
        if (this.#oldestAt === null) this.#oldestAt = item.at;
      }
      return ok;
    });
  }

  /**
   * Send what waits, oldest first; expired items go to `expired` instead. Stops at the
   * first item `send` answers false for (it could not be sent now): it and the rest stay
   * queued, in order. Returns how many were sent.
   */
  flush(
    send: (item: QueuedItem<X>) => Promise<boolean>,
    expired: (item: QueuedItem<X>) => Promise<void>,
  ): Promise<number> {
    return this.#locked(async () => {
      let sent = 0;
      for (;;) {
        const batch = await this.#o.store.peek(this.#o.key, BATCH);
        if (batch.length === 0) break;
        for (const payload of batch) {
          const item = this.#parse(payload);
          if (item && this.#expired(item)) await expired(item);
          else if (item) {
            if (!(await send(item))) {
              await this.#learn();
              return sent;
            }
            sent++;
          }
          // Fewer acked than peeked: another consumer took the head meanwhile; look again.
          if ((await this.#o.store.ack(this.#o.key, [payload])) === 0) break;
        }
      }
      this.#size = 0;
      this.#oldestAt = null;
      return sent;
    });
  }

  /** Take out the items at the head that waited too long (to `expired`); the others stay, in order. */
  sweep(expired: (item: QueuedItem<X>) => Promise<void>): Promise<number> {
    return this.#locked(async () => {
      const next = this.nextExpiry;
      if (next === null || next > this.#o.now()) return 0;
      let n = 0;
      for (;;) {
        const [payload] = await this.#o.store.peek(this.#o.key, 1);
        if (payload === undefined) break;
        const item = this.#parse(payload);
        // Items are queued in time order: the first one still young ends the sweep.
        if (item && !this.#expired(item)) break;
        if (item) {
          await expired(item);
          n++;
        }
        if ((await this.#o.store.ack(this.#o.key, [payload])) === 0) break;
      }
      await this.#learn();
      return n;
    });
  }

  /** Remove and return everything (shutdown with a store that does not outlive the process). */
  takeAll(): Promise<QueuedItem<X>[]> {
    return this.#locked(async () => {
      const all: QueuedItem<X>[] = [];
      for (;;) {
        const batch = await this.#o.store.dequeue(this.#o.key, 1000);
        for (const p of batch) {
          const item = this.#parse(p);
          if (item) all.push(item);
        }
        if (batch.length < 1000) break;
      }
      this.#size = 0;
      this.#oldestAt = null;
      return all;
    });
  }

  #expired(item: QueuedItem<X>): boolean {
    const max = this.#o.maxAgeMs;
    return max !== undefined && this.#o.now() - item.at >= max;
  }

  async #learn(): Promise<void> {
    this.#size = await this.#o.store.queueLength(this.#o.key);
    if (this.#size === 0) {
      this.#oldestAt = null;
      return;
    }
    const [head] = await this.#o.store.peek(this.#o.key, 1);
    // An unreadable head is as good as expired: the next sweep drops it.
    this.#oldestAt = (head !== undefined ? this.#parse(head, false)?.at : undefined) ?? 0;
  }

  #parse(payload: string, report = true): QueuedItem<X> | null {
    try {
      const v = JSON.parse(payload) as { at?: unknown; event?: unknown } | null;
      if (v && typeof v.at === 'number' && v.event && typeof v.event === 'object') return v as QueuedItem<X>;
      // A bare event, as the Matrix adapter's own queue kept them (the same list, before the
      // core queue): it carries no time, so it counts as queued now.
      if (isEvent.Check(v)) return { event: v, at: this.#o.now() } as QueuedItem<X>;
    } catch {
      // fall through
    }
    if (report) this.#o.onCorrupt?.(payload);
    return null;
  }

  #locked<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.#chain.then(fn, fn);
    this.#chain = run.catch(() => {});
    return run;
  }
}
