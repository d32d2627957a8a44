// Who is who on the homeserver: the ghosts that stand for remote users
// (`@_parley_bob=40corp.test:hs.test`), the gateway's own users, and registering a ghost
// with the homeserver before it first acts.
import type { Address, RemoteUser } from '../../core/address.js';
import { fromGhost, type GhostOptions, toGhost } from './ghost.js';
import type { MatrixLink } from './link.js';

export const mxid = (a: Pick<Address, 'user' | 'domain'>): string => `@${a.user}:${a.domain}`;

export function parseMxid(id: string): { user: string; domain: string } | null {
  const m = /^@([^:]+):(.+)$/.exec(id);
  return m ? { user: m[1] as string, domain: (m[2] as string).toLowerCase() } : null;
}

export class Ghosts {
  readonly #link: MatrixLink;
  readonly #opts: GhostOptions;
  /** Ghosts this process knows are registered (the store says so for every replica). */
  readonly #ready = new Set<string>();

  constructor(link: MatrixLink) {
    this.#link = link;
    this.#opts = { serverName: link.cfg.serverName, matrixPrefix: link.cfg.ghostPrefix };
  }

  /** The ghost that stands for a remote user. */
  ghostFor(remote: RemoteUser): string {
    return mxid(toGhost(remote, 'matrix', this.#opts));
  }

  /** The remote user a ghost stands for, or null when `userId` is not one of ours. */
  remoteOf(userId: string): RemoteUser | null {
    const p = parseMxid(userId);
    if (!p) return null;
    return fromGhost({ network: 'matrix', user: p.user, domain: p.domain }, this.#opts);
  }

  /** The appservice's own user or one of its ghosts. */
  isOurs(userId: string): boolean {
    const { cfg, reg } = this.#link;
    return (
      userId === `@${reg.sender_localpart}:${cfg.serverName}` ||
      (userId.startsWith(`@${cfg.ghostPrefix}`) && userId.endsWith(`:${cfg.serverName}`))
    );
  }

  /** Register the ghost (with its display name) unless it already is. */
  async ensure(ghost: string, remote: RemoteUser): Promise<void> {
    if (this.#ready.has(ghost)) return;
    const { state, hs } = this.#link;
    if ((await state.hget('ghosts', ghost)) === null) {
      const local = parseMxid(ghost)?.user as string;
      await hs.register(local);
      try {
        await hs.setDisplayName(ghost, `${remote.user}@${remote.domain}`);
      } catch (err) {
        this.#link.log.warn({ err, ghost }, 'could not set the ghost display name');
      }
      await state.hset('ghosts', ghost, '1');
    }
    this.#ready.add(ghost);
  }
}
