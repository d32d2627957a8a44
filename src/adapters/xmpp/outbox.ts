// The outbox: events delivered while this replica cannot send them (the link is down, or
// another replica holds it) wait here, in a bounded FIFO queue in the store, until the
// link's holder sends them (in order) or until they are too old (bounced to their
// senders). Every replica may push; only the link's holder consumes, by peek-then-ack, so
// that an item leaves the queue only after it was sent or bounced (a holder killed midway
// leaves it for the next). This process's operations are serialised.
import type { Notice, Refusal } from '../../core/adapter.js';
import type { CanonicalEvent } from '../../core/model.js';
import type { Store } from '../../core/store.js';

export interface OutboxItem {
  event: CanonicalEvent;
  /** When it was queued (ms since the epoch). */
  at: number;
  /** Not the event itself but a refusal to tell its XMPP sender (a standby cannot). */
  refusal?: Refusal;
  /** Not the event itself but a notice (e.g. delivered degraded) for its XMPP sender. */
  notice?: Notice;
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

  /** The queue's name in the store. */
  get key(): string {
    return this.#o.key;
  }

  /** Learn what waits in the store (an earlier run, or other replicas). */
  load(): Promise<void> {
    return this.sync();
  }

  /** Learn what waits in the store: its length and when the oldest item was queued. */
  sync(): Promise<void> {
    return this.#locked(() => this.#learn());
  }

  /** Queue an event (or a refusal or notice about it); false (nothing written) when full. */
  push(event: CanonicalEvent, refusal?: Refusal, notice?: Notice): Promise<boolean> {
    return this.#locked(async () => {
      const item: OutboxItem = {
        event,
        at: this.#o.now(),
        ...(refusal ? { refusal } : {}),
        ...(notice ? { notice } : {}),
      };
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
    send: (e: CanonicalEvent, item: OutboxItem) => Promise<boolean>,
    expired: (i: OutboxItem) => Promise<void>,
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
            if (!(await send(item.event, item))) {
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

  /** Bounce the items at the head that waited longer than the timeout; the others stay, in order. */
  sweep(expired: (i: OutboxItem) => Promise<void>): Promise<number> {
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
  drainAll(): Promise<OutboxItem[]> {
    return this.#locked(async () => {
      const all: OutboxItem[] = [];
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

  #expired(item: OutboxItem): boolean {
    return this.#o.now() - item.at >= this.#o.timeoutMs;
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

  #parse(payload: string, report = true): OutboxItem | null {
    try {
      const v = JSON.parse(payload) as Partial<OutboxItem>;
      if (v && typeof v.at === 'number' && v.event && typeof v.event === 'object') return v as OutboxItem;
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
