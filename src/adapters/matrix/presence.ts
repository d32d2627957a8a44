// The ghosts' presence on the homeserver. Ghosts never sync, so the homeserver would turn
// them offline after a while: what each last said is kept in the store and set again
// periodically, and one ghost's writes run in order so a refresh never undoes a newer one.
import type { MatrixLink } from './link.js';

/** A ghost's presence as the homeserver takes it. */
export interface MatrixPresence {
  presence: string;
  status_msg?: string;
}

export class GhostPresence {
  readonly #link: MatrixLink;
  /** The tail of each ghost's presence writes (see #inOrder). */
  readonly #writes = new Map<string, Promise<void>>();
  #timer: NodeJS.Timeout | null = null;

  constructor(link: MatrixLink) {
    this.#link = link;
  }

  /** The ghosts' last presence, by ghost, under the link's prefix. */
  readonly #key = 'ghost-presence';

  /** Start the periodic refresh. */
  start(): void {
    this.#timer = setInterval(() => void this.#refresh(), this.#link.cfg.presenceRefreshMs);
    this.#timer.unref();
  }

  stop(): void {
    if (this.#timer) clearInterval(this.#timer);
    this.#timer = null;
  }

  /** Set a ghost's presence and keep it for the refresh (offline: refresh no more). */
  set(ghost: string, p: MatrixPresence): Promise<void> {
    return this.#inOrder(ghost, async () => {
      await this.#link.hs.setPresence(ghost, p.presence, p.status_msg);
      if (p.presence === 'offline') await this.#link.state.hdel(this.#key, ghost);
      else await this.#link.state.hset(this.#key, ghost, JSON.stringify(p));
    });
  }

  /** Set the ghosts' presence again, before the homeserver times it out (they never sync). */
  async #refresh(): Promise<void> {
    const link = this.#link;
    if (link.stopped || link.status !== 'up' || !link.ctx) return;
    try {
      const ghosts = Object.keys(await link.state.hgetall(this.#key));
      for (const ghost of ghosts) {
        if (link.stopped) return;
        // Read again inside the ghost's queue: a presence that arrived while this refresh
        // ran is newer than the list read above, and must not be overwritten by it.
        await this.#inOrder(ghost, async () => {
          const raw = await link.state.hget(this.#key, ghost);
          if (raw === null) return;
          const p = JSON.parse(raw) as MatrixPresence;
          await link.hs.setPresence(ghost, p.presence, p.status_msg);
        });
      }
    } catch (err) {
      link.log.debug({ err }, 'ghost presence refresh failed');
    }
  }

  /**
   * Run one ghost's presence writes one after another. The periodic refresh and a live
   * presence otherwise race: the refresh could set a ghost's older presence after the newer
   * one, and the homeserver would show the old one until the next refresh.
   */
  #inOrder(ghost: string, write: () => Promise<void>): Promise<void> {
    const before = this.#writes.get(ghost) ?? Promise.resolve();
    const done = before.then(write);
    const settled = done.catch(() => {});
    this.#writes.set(ghost, settled);
    void settled.then(() => {
      if (this.#writes.get(ghost) === settled) this.#writes.delete(ghost);
    });
    return done;
  }
}
