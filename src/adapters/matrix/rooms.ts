// The direct rooms: one per pair of a Matrix user and a ghost, mapped both ways in the store
// (pair -> room, room -> pair), and opened once across replicas when Parley speaks first.
import type { RemoteUser } from '../../core/address.js';
import type { Ghosts } from './ghosts.js';
import { HomeserverError } from './homeserver.js';
import type { MatrixLink } from './link.js';

/** A replica opening a DM room holds the pair's lease this many request timeouts at most. */
const ROOM_LEASE_REQUESTS = 4;
const ROOM_WAIT_POLL_MS = 50;
const ROOM_ATTEMPT_TTL_MS = 24 * 3600_000;

export interface RoomInfo {
  /** The Matrix user (`@alice:hs.test`). */
  user: string;
  /** The ghost (`@_parley_bob=40corp.test:hs.test`). */
  ghost: string;
}

export class Rooms {
  readonly #link: MatrixLink;
  readonly #ghosts: Ghosts;
  /** Rooms being opened by this process, by pair: concurrent sends wait for the same one. */
  readonly #opening = new Map<string, Promise<string>>();

  constructor(link: MatrixLink, ghosts: Ghosts) {
    this.#link = link;
    this.#ghosts = ghosts;
  }

  /** The pair's room, if it has one. */
  async roomOf(user: string, ghost: string): Promise<string | null> {
    return this.#link.state.hget(`pairs:${user}`, ghost);
  }

  async map(roomId: string, info: RoomInfo): Promise<void> {
    const { state } = this.#link;
    await state.hset(`pairs:${info.user}`, info.ghost, roomId);
    await state.hset('rooms', roomId, JSON.stringify(info));
  }

  async unmap(roomId: string, info: RoomInfo): Promise<void> {
    const { state } = this.#link;
    if ((await this.roomOf(info.user, info.ghost)) === roomId) {
      await state.hdel(`pairs:${info.user}`, info.ghost);
    }
    await state.hdel('rooms', roomId);
  }

  /** The pair a room is mapped to, or null when Parley does not bridge it. */
  async info(roomId: string): Promise<RoomInfo | null> {
    const raw = await this.#link.state.hget('rooms', roomId);
    if (!raw) return null;
    try {
      const v = JSON.parse(raw) as RoomInfo;
      return typeof v.user === 'string' && typeof v.ghost === 'string' ? v : null;
    } catch {
      return null;
    }
  }

  /** The DM room of the pair, created by the ghost (is_direct) when there is none. */
  async ensure(user: string, ghost: string, remote: RemoteUser): Promise<string> {
    const existing = await this.roomOf(user, ghost);
    if (existing) return existing;
    const key = `${user}|${ghost}`;
    const pending = this.#opening.get(key);
    if (pending) return pending;
    const p = this.#openOnce(user, ghost, remote);
    this.#opening.set(key, p);
    try {
      return await p;
    } finally {
      this.#opening.delete(key);
    }
  }

  /**
   * Open the pair's room, once across replicas sharing the store: the replica holding the
   * pair's lease creates and maps it; the others wait for that mapping. A holder that dies
   * lets its lease lapse (a few request timeouts) and the next one opens the room.
   */
  async #openOnce(user: string, ghost: string, remote: RemoteUser): Promise<string> {
    const { state, owner, hs, cfg } = this.#link;
    const lease = `dm:${user}|${ghost}`;
    const ttl = ROOM_LEASE_REQUESTS * cfg.requestTimeoutMs;
    const deadline = Date.now() + 2 * ttl;
    for (;;) {
      const mapped = await this.roomOf(user, ghost);
      if (mapped) return mapped;
      if (await state.acquireLease(lease, owner, ttl)) {
        try {
          await this.#ghosts.ensure(ghost, remote);
          const again = await this.roomOf(user, ghost); // the previous holder finished just now
          if (again) return again;
          // createRoom has no transaction id: an attempt that timed out (or died) may have
          // made the room all the same. The marker says to look for it before making another.
          const attempt = `dm-attempt:${user}|${ghost}`;
          let roomId = (await state.get(attempt)) ? await this.#orphan(user, ghost) : null;
          if (roomId)
            this.#link.log.info({ roomId, user, ghost }, 'adopted a direct room an earlier attempt made');
          else {
            await state.set(attempt, '1', ROOM_ATTEMPT_TTL_MS);
            roomId = await hs.createDirectRoom(ghost, user);
            this.#link.log.info({ roomId, user, ghost }, 'opened a direct room');
          }
          await this.map(roomId, { user, ghost });
          await state.del(attempt);
          return roomId;
        } finally {
          await state.releaseLease(lease, owner).catch(() => {});
        }
      }
      if (Date.now() > deadline) {
        throw new HomeserverError(`another replica is still opening the room of ${user} and ${ghost}`, true);
      }
      await new Promise((r) => setTimeout(r, ROOM_WAIT_POLL_MS));
    }
  }

  /** A room the ghost is in with `user` invited or joined that no pair maps to, if any. */
  async #orphan(user: string, ghost: string): Promise<string | null> {
    const { hs } = this.#link;
    for (const roomId of await hs.joinedRooms(ghost)) {
      if (await this.info(roomId)) continue;
      const m = await hs.membership(ghost, roomId, user);
      if (m === 'invite' || m === 'join') return roomId;
    }
    return null;
  }
}
