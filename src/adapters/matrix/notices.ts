// Telling a Matrix user something in their direct room: an m.notice from the ghost they
// talk to (a refusal, a degraded delivery, an encrypted room Parley cannot read).
import type { Notice, Refusal } from '../../core/adapter.js';
import { tryParseAddress } from '../../core/address.js';
import type { CanonicalEvent } from '../../core/model.js';
import { type Ghosts, mxid } from './ghosts.js';
import { sendTxnId } from './homeserver.js';
import type { MatrixLink } from './link.js';
import type { Rooms } from './rooms.js';

export class Notices {
  readonly #link: MatrixLink;
  readonly #ghosts: Ghosts;
  readonly #rooms: Rooms;

  constructor(link: MatrixLink, ghosts: Ghosts, rooms: Rooms) {
    this.#link = link;
    this.#ghosts = ghosts;
    this.#rooms = rooms;
  }

  /** A refusal: an m.notice from the ghost in the room the refused event came from. */
  async refused(event: CanonicalEvent, refusal: Refusal): Promise<void> {
    // Typing, receipts and presence are refused silently: a notice per keystroke would be noise.
    const callInvite = event.kind === 'call' && event.action === 'invite';
    if (event.kind !== 'message' && !callInvite) {
      this.#link.log.debug({ eventId: event.id, code: refusal.code }, 'refused (no notice for this kind)');
      return;
    }
    const where = await this.#roomOfSender(event);
    if (!where) return;
    const { ghost, roomId } = where;
    if (event.kind === 'call') {
      // Stop the caller's client ringing: the ghost rejects the call.
      try {
        await this.#link.hs.sendEvent(
          ghost,
          roomId,
          'm.call.reject',
          { call_id: event.callId, party_id: 'parley', version: '1' },
          sendTxnId(`reject.${event.id}`, 0),
        );
      } catch (err) {
        this.#link.log.warn({ err, roomId }, 'could not reject a refused call');
      }
    }
    await this.post(ghost, roomId, `Not delivered: ${refusal.reason}`, `refusal.${event.id}`);
  }

  /** A degraded delivery: an m.notice from the recipient's ghost in the sender's room with it. */
  async degraded(event: CanonicalEvent, notice: Notice): Promise<void> {
    const where = await this.#roomOfSender(event);
    if (!where) return;
    await this.post(where.ghost, where.roomId, notice.text, `degraded.${event.id}`);
  }

  /** Post an m.notice as `ghost`; `key` makes a repeat of the same notice idempotent. */
  async post(ghost: string, roomId: string, text: string, key: string): Promise<void> {
    try {
      await this.#link.hs.sendEvent(
        ghost,
        roomId,
        'm.room.message',
        { msgtype: 'm.notice', body: text },
        sendTxnId(key, 0),
      );
    } catch (err) {
      this.#link.log.warn({ err, roomId }, 'could not send a notice');
    }
  }

  /** The room of a Matrix sender with the ghost of the event's recipient, if mapped. */
  async #roomOfSender(event: CanonicalEvent): Promise<{ ghost: string; roomId: string } | null> {
    const from = tryParseAddress(event.from);
    const to = tryParseAddress(event.to);
    if (!from || !to || from.network !== 'matrix') return null;
    const ghost = this.#ghosts.ghostFor({ user: to.user, domain: to.domain });
    const roomId = await this.#rooms.roomOf(mxid(from), ghost);
    return roomId ? { ghost, roomId } : null;
  }
}
