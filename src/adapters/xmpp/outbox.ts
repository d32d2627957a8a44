// The outbox: events the pipeline delivered while the link was down wait here, in a bounded
// FIFO queue in the store, until the link is back (flushed in order) or until they are too
// old (bounced to their senders). One owner per link touches it; operations are serialised.
import type { CanonicalEvent } from '../../core/model.js';
import type { Store } from '../../core/store.js';

export interface OutboxItem {
  event: CanonicalEvent;
  /** When it was queued (ms since the epoch). */
  at: number;
}

export interface OutboxOptions {
  store: Store;
  key: string;
  maxLength: number;
  timeoutMs: number;
  now?: () => number;
  /** A payload that does not parse (a store shared with a different version): logged, dropped. */
  onCorrupt?: (payload: string) => void;
}

const BATCH = 100;

export class Outbox {
  readonly #o: Required<Omit<OutboxOptions, 'onCorrupt'>> & Pick<OutboxOptions, 'onCorrupt'>;
  #chain: Promise<unknown> = Promise.resolve();
  #size = 0;
  #oldestAt: number | null = null;

  constructor(o: OutboxOptions) {
    this.#o = { now: Date.now, ...o };
  }

  /** Items waiting (as last known to this process). */
  get size(): number {
    return this.#size;
  }

  /** When the oldest waiting item expires (ms since the epoch), or null when empty. */
  get nextExpiry(): number | null {
    return this.#oldestAt === null ? null : this.#oldestAt + this.#o.timeoutMs;
  }

  /** Learn what an earlier run left in the store. */
  async load(): Promise<void> {
    await this.#locked(async () => {
      const items = await this.#takeAll();
      await this.#putBack(items);
    });
  }

  /** Queue an event; false (nothing written) when the queue is full. */
  push(event: CanonicalEvent): Promise<boolean> {
    return this.#locked(async () => {
      const item: OutboxItem = { event, at: this.#o.now() };
      const ok = await this.#o.store.enqueue(this.#o.key, JSON.stringify(item), this.#o.maxLength);
      if (ok) {
        this.#size++;
        if (this.#oldestAt === null) this.#oldestAt = item.at;
      }
      return ok;
    });
  }

  /**
   * Send what waits, oldest first. Expired items go to `expired` instead. Stops at the
   * first item `send` cannot deliver (the link dropped again); it and the rest stay queued
   * in order. Returns how many were sent.
   */
  flush(
    send: (e: CanonicalEvent) => Promise<boolean>,
    expired: (i: OutboxItem) => Promise<void>,
  ): Promise<number> {
    return this.#locked(async () => {
      let sent = 0;
      for (;;) {
        const batch = this.#parse(await this.#o.store.dequeue(this.#o.key, BATCH));
        if (batch.length === 0) break;
        for (let i = 0; i < batch.length; i++) {
          const item = batch[i]!;
          if (this.#expired(item)) {
            await expired(item);
            continue;
          }
          if (await send(item.event)) {
            sent++;
            continue;
          }
          await this.#putBack([...batch.slice(i), ...(await this.#takeAll())]);
          return sent;
        }
      }
      this.#size = 0;
      this.#oldestAt = null;
      return sent;
    });
  }

  /** Bounce every item that waited longer than the timeout; the others keep their order. */
  sweep(expired: (i: OutboxItem) => Promise<void>): Promise<number> {
    return this.#locked(async () => {
      const next = this.nextExpiry;
      if (next === null || next > this.#o.now()) return 0;
      const all = await this.#takeAll();
      const keep: OutboxItem[] = [];
      let n = 0;
      for (const item of all) {
        if (this.#expired(item)) {
          await expired(item);
          n++;
        } else keep.push(item);
      }
      await this.#putBack(keep);
      return n;
    });
  }

  /** Remove and return everything (shutdown with a store that does not outlive the process). */
  drainAll(): Promise<OutboxItem[]> {
    return this.#locked(async () => {
      const all = await this.#takeAll();
      this.#size = 0;
      this.#oldestAt = null;
      return all;
    });
  }

  #expired(item: OutboxItem): boolean {
    return this.#o.now() - item.at >= this.#o.timeoutMs;
  }

  async #takeAll(): Promise<OutboxItem[]> {
    const out: OutboxItem[] = [];
    for (;;) {
      const batch = await this.#o.store.dequeue(this.#o.key, 1000);
      out.push(...this.#parse(batch));
      if (batch.length < 1000) return out;
    }
  }

  async #putBack(items: OutboxItem[]): Promise<void> {
    // Items taken out are put back whole: the bound was checked when they were queued.
    const bound = Math.max(this.#o.maxLength, items.length);
    for (const item of items) await this.#o.store.enqueue(this.#o.key, JSON.stringify(item), bound);
    this.#size = items.length;
    this.#oldestAt = items[0]?.at ?? null;
  }

  #parse(payloads: string[]): OutboxItem[] {
    const out: OutboxItem[] = [];
    for (const p of payloads) {
      try {
        const v = JSON.parse(p) as Partial<OutboxItem>;
        if (v && typeof v.at === 'number' && v.event && typeof v.event === 'object') {
          out.push(v as OutboxItem);
          continue;
        }
      } catch {
        // fall through
      }
      this.#o.onCorrupt?.(p);
    }
    return out;
  }

  #locked<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.#chain.then(fn, fn);
    this.#chain = run.catch(() => {});
    return run;
  }
}
