// The component link (XEP-0114) with reconnection: @xmpp/component does the stream and the
// handshake; this module owns the lifecycle — exponential backoff with jitter, a watchdog
// on each attempt, up/down reports — and hands every incoming stanza to one handler that
// is never allowed to throw into the socket's data callback.
import type net from 'node:net';
import { type Component, component } from '@xmpp/component';
import type { Element } from '@xmpp/xml';
import type { Logger } from '../../core/logger.js';
import { WriteCoalescer } from './coalescer.js';
import { TurnSlicer } from './slicer.js';

/**
 * How long a stop waits for the server to close the stream. The link lease is released
 * only after it, so a server slow to answer held the handover for the whole connect
 * timeout (10 s, seen in replicas.test.ts); a normal close takes milliseconds.
 */
const CLOSE_TIMEOUT_MS = 2000;

/** How many incoming stanzas are handled per turn of the event loop (slicer.ts). */
const STANZAS_PER_TURN = 32;

export interface LinkOptions {
  service: string;
  domain: string;
  secret: string;
  initialDelayMs: number;
  maxDelayMs: number;
  connectTimeoutMs: number;
  logger: Logger;
  onStanza(el: Element): void;
  onUp(): void;
  onDown(detail: string): void;
}

/**
 * What the adapter needs of its link to the XMPP server. ComponentLink is the real one; a
 * test injects another (an in-memory link) through the adapter's `link` option.
 */
export interface XmppLink {
  /** True while stanzas can be sent. */
  readonly up: boolean;
  /** Connect; resolves after the first attempt (up or not): the link keeps retrying. */
  start(): Promise<void>;
  /** Resolves when the link is up (or rejects after `timeoutMs`). */
  whenUp(timeoutMs: number): Promise<void>;
  /** Send one stanza; false when the link is down or the write failed. */
  send(el: Element): Promise<boolean>;
  stop(): Promise<void>;
}

/** Makes the adapter's link; it reports through the callbacks in `o`. */
export type XmppLinkFactory = (o: LinkOptions) => XmppLink;

export const componentLink: XmppLinkFactory = (o) => new ComponentLink(o);

export class ComponentLink implements XmppLink {
  readonly #o: LinkOptions;
  #xmpp: Component | null = null;
  #writer: WriteCoalescer | null = null;
  #up = false;
  #stopped = false;
  #attempts = 0;
  #timer: NodeJS.Timeout | null = null;
  #connecting = false;
  #lastError = '';
  #upWaiters: (() => void)[] = [];
  #attemptDropped: ((reason: Error) => void) | null = null;
  #reportedDown = false;
  #reportedDetail = '';
  /** The current attempt ended with a stream error from the server. */
  #streamError = false;

  /** Incoming stanzas, handled STANZAS_PER_TURN per turn of the event loop (slicer.ts). */
  readonly #inbox = new TurnSlicer<Element>(STANZAS_PER_TURN, (el) => this.#handle(el));

  constructor(o: LinkOptions) {
    this.#o = o;
  }

  #handle(el: Element): void {
    try {
      this.#o.onStanza(el);
    } catch (err) {
      this.#o.logger.error({ err }, 'xmpp stanza handler failed');
    }
  }

  /** The TCP socket of the current connection (diagnostics and tests), null when none. */
  get socket(): net.Socket | null {
    // @xmpp/connection-tcp connects a net.Socket; the Component type does not declare it.
    return (this.#xmpp as { socket?: net.Socket | null } | null)?.socket ?? null;
  }

  get up(): boolean {
    return this.#up;
  }

  /** Why the link is down, for readiness. */
  get detail(): string {
    return this.#lastError;
  }

  /** Connect; resolves after the first attempt (up or not): the link keeps retrying. */
  async start(): Promise<void> {
    this.#stopped = false;
    const xmpp = component({ service: this.#o.service, domain: this.#o.domain, password: this.#o.secret });
    // Own backoff instead of xmpp.js's fixed one-second retry.
    xmpp.reconnect.stop();
    // The middleware's iq handling would answer iqs a second time and parses JIDs with a
    // constructor that throws inside the socket callback: Parley handles stanzas itself.
    xmpp.removeAllListeners('element');
    xmpp.timeout = this.#o.connectTimeoutMs;
    xmpp.on('error', (err: Error) => {
      const d = describe(err);
      const isStream = Boolean((err as Error & { condition?: string }).condition);
      // The server's stream error (e.g. not-authorized) says more than the socket reset after it.
      if (isStream || !this.#streamError) this.#lastError = d;
      if (isStream) this.#streamError = true;
      this.#o.logger.warn({ err: d }, 'xmpp component link error');
    });
    xmpp.on('stanza', (el: Element) => this.#inbox.push(el));
    // Send each coalesced write at once. With Nagle's algorithm a write made while the
    // previous one is unacknowledged waits for the ACK, which the server delays (up to 40 ms
    // on Linux): in bench:xmpp the gateway path lost ~20 % of its rate to such stalls.
    xmpp.on('connect', () => this.socket?.setNoDelay(true));
    xmpp.on('online', () => {
      this.#attempts = 0;
      this.#up = true;
      this.#lastError = '';
      this.#reportedDown = false;
      this.#o.logger.info({ component: this.#o.domain }, 'xmpp component link up');
      for (const w of this.#upWaiters.splice(0)) w();
      this.#o.onUp();
    });
    xmpp.on('disconnect', () => this.#dropped());
    this.#xmpp = xmpp;
    this.#writer = new WriteCoalescer({ write: (data) => xmpp.write(data) });
    await this.#attempt();
  }

  /** Resolves when the link is up (or rejects after `timeoutMs`). */
  whenUp(timeoutMs: number): Promise<void> {
    if (this.#up) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const t = setTimeout(() => {
        this.#upWaiters = this.#upWaiters.filter((w) => w !== done);
        reject(new Error(`xmpp link not up within ${timeoutMs} ms (${this.#lastError || 'no answer'})`));
      }, timeoutMs);
      const done = () => {
        clearTimeout(t);
        resolve();
      };
      this.#upWaiters.push(done);
    });
  }

  /** Send one stanza; false when the link is down or the write failed. */
  async send(el: Element): Promise<boolean> {
    const xmpp = this.#xmpp;
    if (!xmpp || !this.#writer || !this.#up || xmpp.status !== 'online') return false;
    try {
      await this.#writer.write(el.toString());
      return true;
    } catch (err) {
      this.#o.logger.warn({ err: describe(err) }, 'xmpp send failed');
      return false;
    }
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = null;
    // An attempt in progress ends now, not at its connect timeout: whoever awaits it (a
    // replica handing its link lease over) would wait that long (10 s by default).
    this.#attemptDropped?.(new Error('the link is stopping'));
    const xmpp = this.#xmpp;
    const wasUp = this.#up;
    this.#up = false;
    if (!xmpp) return;
    // A link that never came up has no stream worth closing politely: the socket goes below.
    if (wasUp && xmpp.status !== 'offline' && xmpp.status !== 'disconnect') {
      await withTimeout(xmpp.stop(), Math.min(this.#o.connectTimeoutMs, CLOSE_TIMEOUT_MS)).catch(() => {});
    }
    // A server that did not answer the close (or stopped reading) leaves the socket open,
    // and sends waiting for it to drain would never settle: their events would hold the
    // gateway's shutdown drain for its whole timeout. Destroying it fails them now.
    const socket = this.socket;
    if (socket && !socket.destroyed) socket.destroy();
    xmpp.removeAllListeners();
    xmpp.on('error', () => {});
    if (wasUp) this.#o.logger.info({ component: this.#o.domain }, 'xmpp component link closed');
  }

  async #attempt(): Promise<void> {
    const xmpp = this.#xmpp;
    if (!xmpp || this.#stopped || this.#connecting) return;
    this.#connecting = true;
    this.#attempts++;
    this.#streamError = false;
    let waiter: (() => void) | null = null;
    try {
      // The handshake runs in @xmpp/component's `open` listener: wait for `online`, or for
      // the server to close the stream (a wrong secret), or for stop().
      const outcome = new Promise<void>((resolve, reject) => {
        waiter = resolve;
        this.#upWaiters.push(resolve);
        this.#attemptDropped = reject;
      });
      const steps = (async () => {
        await xmpp.connect(this.#o.service);
        await xmpp.open({ domain: this.#o.domain });
        await outcome;
      })();
      // Raced with `outcome` so that a drop or a stop ends the attempt even while connect
      // or open still wait for the server.
      await withTimeout(Promise.race([steps, outcome]), this.#o.connectTimeoutMs);
    } catch (err) {
      if (!this.#lastError) this.#lastError = describe(err);
      this.#o.logger.debug({ err: describe(err), attempt: this.#attempts }, 'xmpp connect attempt failed');
      // A half-open attempt (socket up, no handshake) is torn down; the close schedules a retry.
      if (!this.#up && xmpp.status !== 'disconnect' && xmpp.status !== 'offline') {
        await withTimeout(xmpp.disconnect(100), 500).catch(() => {});
      }
      if (!this.#up && !this.#timer) this.#schedule();
    } finally {
      this.#connecting = false;
      this.#attemptDropped = null;
      // A failed attempt's waiter must not pile up while the server stays away.
      if (waiter) this.#upWaiters = this.#upWaiters.filter((w) => w !== waiter);
    }
  }

  #dropped(): void {
    const wasUp = this.#up;
    this.#up = false;
    if (this.#stopped) return;
    if (wasUp) {
      this.#o.logger.warn({ component: this.#o.domain }, 'xmpp component link down');
      if (!this.#lastError) this.#lastError = 'connection closed';
    }
    this.#attemptDropped?.(new Error(this.#lastError || 'connection closed'));
    const detail = this.#lastError || 'connection closed';
    if (wasUp || !this.#reportedDown || detail !== this.#reportedDetail) {
      this.#reportedDown = true;
      this.#reportedDetail = detail;
      this.#o.onDown(detail);
    }
    if (!this.#connecting) this.#schedule();
  }

  #schedule(): void {
    if (this.#stopped || this.#timer) return;
    const { initialDelayMs, maxDelayMs } = this.#o;
    const exp = ComponentLink.backoff(this.#attempts, initialDelayMs, maxDelayMs);
    const delay = Math.round(exp * (0.8 + Math.random() * 0.4));
    this.#timer = setTimeout(
      () => {
        this.#timer = null;
        void this.#attempt();
      },
      Math.min(delay, maxDelayMs),
    );
    this.#timer.unref?.();
  }

  /** The delay the next retry would wait at most, for tests of the backoff. */
  static backoff(attempt: number, initialDelayMs: number, maxDelayMs: number): number {
    return Math.min(maxDelayMs, initialDelayMs * 2 ** Math.min(20, Math.max(0, attempt - 1)));
  }
}

function describe(err: unknown): string {
  if (err instanceof Error) {
    const condition = (err as Error & { condition?: string }).condition;
    if (condition === 'not-authorized') return 'not-authorized: the server refused the component secret';
    if (condition) return `${condition}${err.message && err.message !== condition ? `: ${err.message}` : ''}`;
    const code = (err as NodeJS.ErrnoException).code;
    return code ? `${code}: ${err.message}` : err.message || err.name;
  }
  return String(err);
}

function withTimeout<T>(p: Promise<T>, ms: number): Promise<T> {
  let t: NodeJS.Timeout | undefined;
  return Promise.race([
    p,
    new Promise<T>((_, reject) => {
      t = setTimeout(() => reject(new Error(`timed out after ${ms} ms`)), ms);
    }),
  ]).finally(() => clearTimeout(t));
}
