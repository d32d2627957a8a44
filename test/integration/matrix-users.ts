// Real Matrix users for integration tests: matrix-js-sdk clients with their own access
// tokens, and a /sync loop (through the SDK's HTTP layer) that records what they see.
import { createClient, type MatrixClient, Method } from 'matrix-js-sdk';
import type { SynapseHandle } from '../harness/synapse.js';

export interface Seen {
  roomId: string;
  type: string;
  sender?: string;
  event_id?: string;
  state_key?: string;
  content: Record<string, unknown>;
  /** timeline | ephemeral | presence | invite */
  section: string;
}

interface SyncResponse {
  next_batch: string;
  presence?: { events?: { type: string; sender: string; content: Record<string, unknown> }[] };
  rooms?: {
    join?: Record<
      string,
      {
        timeline?: { events?: Omit<Seen, 'roomId' | 'section'>[] };
        ephemeral?: { events?: Omit<Seen, 'roomId' | 'section'>[] };
      }
    >;
    invite?: Record<string, { invite_state?: { events?: Omit<Seen, 'roomId' | 'section'>[] } }>;
  };
}

const quiet = {
  trace: () => {},
  debug: () => {},
  info: () => {},
  warn: () => {},
  error: () => {},
  getChild: () => quiet,
};

export class TestUser {
  readonly client: MatrixClient;
  readonly seen: Seen[] = [];
  #since: string | null = null;
  #running = false;
  #loop: Promise<void> | null = null;
  #waiters: { pred: (s: Seen) => boolean; resolve: (s: Seen) => void }[] = [];
  /** Join rooms we are invited to. */
  autoJoin = true;

  constructor(
    readonly userId: string,
    accessToken: string,
    baseUrl: string,
  ) {
    this.client = createClient({ baseUrl, accessToken, userId, logger: quiet });
  }

  static async create(hs: SynapseHandle, localpart: string): Promise<TestUser> {
    const { userId, accessToken } = await hs.registerUser(localpart);
    const u = new TestUser(userId, accessToken, hs.url);
    u.start();
    return u;
  }

  start(): void {
    if (this.#running) return;
    this.#running = true;
    this.#loop = (async () => {
      while (this.#running) {
        try {
          // set_presence=offline: syncing does not change the user's presence, so what the test
          // sets with the presence API stays (a default sync would flip it back to online).
          const q: Record<string, string> = { timeout: '500', set_presence: 'offline' };
          if (this.#since) q.since = this.#since;
          // Our own unref'd timeout: the SDK's localTimeoutMs leaves a timer armed after the request.
          const res = await this.client.http.authedRequest<SyncResponse>(Method.Get, '/sync', q, undefined, {
            abortSignal: AbortSignal.timeout(10_000),
          } as never);
          this.#since = res.next_batch;
          await this.#ingest(res);
        } catch {
          if (this.#running) await new Promise((r) => setTimeout(r, 300));
        }
      }
    })();
  }

  async stop(): Promise<void> {
    this.#running = false;
    await this.#loop;
  }

  #record(s: Seen): void {
    this.seen.push(s);
    for (const w of this.#waiters.slice()) {
      if (w.pred(s)) {
        this.#waiters.splice(this.#waiters.indexOf(w), 1);
        w.resolve(s);
      }
    }
  }

  async #ingest(res: SyncResponse): Promise<void> {
    for (const e of res.presence?.events ?? []) this.#record({ ...e, roomId: '', section: 'presence' });
    for (const [roomId, r] of Object.entries(res.rooms?.join ?? {})) {
      for (const e of r.timeline?.events ?? []) this.#record({ ...e, roomId, section: 'timeline' });
      for (const e of r.ephemeral?.events ?? []) this.#record({ ...e, roomId, section: 'ephemeral' });
    }
    for (const [roomId, r] of Object.entries(res.rooms?.invite ?? {})) {
      const invite = (r.invite_state?.events ?? []).find(
        (e) => e.type === 'm.room.member' && e.state_key === this.userId,
      );
      if (!invite || this.seen.some((s) => s.section === 'invite' && s.roomId === roomId)) continue;
      this.#record({ ...invite, roomId, section: 'invite' });
      if (this.autoJoin) await this.client.joinRoom(roomId).catch(() => {});
    }
  }

  /** Resolve with the first event (already seen or coming) that matches. */
  waitFor(pred: (s: Seen) => boolean, what: string, timeoutMs = 20_000): Promise<Seen> {
    const already = this.seen.find(pred);
    if (already) return Promise.resolve(already);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#waiters = this.#waiters.filter((w) => w.resolve !== done);
        reject(new Error(`${this.userId} did not see ${what} within ${timeoutMs} ms`));
      }, timeoutMs);
      const done = (s: Seen) => {
        clearTimeout(timer);
        resolve(s);
      };
      this.#waiters.push({ pred, resolve: done });
    });
  }

  async send(roomId: string, content: Record<string, unknown>, type = 'm.room.message'): Promise<string> {
    const res = await this.client.http.authedRequest<{ event_id: string }>(
      Method.Put,
      `/rooms/${encodeURIComponent(roomId)}/send/${type}/${Date.now()}.${Math.random()}`,
      undefined,
      content,
    );
    return res.event_id;
  }

  async readReceipt(roomId: string, eventId: string): Promise<void> {
    await this.client.http.authedRequest(
      Method.Post,
      `/rooms/${encodeURIComponent(roomId)}/receipt/m.read/${encodeURIComponent(eventId)}`,
      undefined,
      {},
    );
  }
}

/** Wait until `f` returns a truthy value (polling). */
export async function until<T>(
  f: () => T | Promise<T>,
  what: string,
  timeoutMs = 20_000,
): Promise<NonNullable<T>> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await f();
    if (v) return v as NonNullable<T>;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}
