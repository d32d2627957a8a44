// Sending a canonical event to the homeserver as its sender's ghost, one sender per event
// kind. MATRIX_SENDS names each kind's sender or 'unsupported' and is exhaustive: a new kind
// does not compile until it is sent or declined here. The adapter's KindTable, and so the
// kinds it declares, derive from it (matrixKindTable).
import type { Delivery, DeliveryResult } from '../../core/adapter.js';
import { type RemoteUser, tryParseAddress } from '../../core/address.js';
import type { IdMap } from '../../core/delivery/ids.js';
import type { KindHandler, KindTable } from '../../core/kind-table.js';
import type { CanonicalEvent, EventKind, EventOf } from '../../core/model.js';
import { callToMatrix, sessionIdFor } from './calls.js';
import { type Ghosts, mxid } from './ghosts.js';
import { HomeserverError, sendTxnId } from './homeserver.js';
import type { MatrixLink } from './link.js';
import type { GhostPresence } from './presence.js';
import type { Rooms } from './rooms.js';
import { messageToMatrix, presenceToMatrix } from './translate.js';

const TYPING_TIMEOUT_MS = 30_000;

/** What the senders use. */
export interface SendParts {
  link: MatrixLink;
  ghosts: Ghosts;
  rooms: Rooms;
  presence: GhostPresence;
}

/** Who an outbound event goes between: the sender's ghost and the Matrix user. */
interface Ends {
  remote: RemoteUser;
  ghost: string;
  user: string;
}

/** Sends one event of kind K, or throws HomeserverError (`retryable` when the link failed). */
type Send<K extends EventKind> = (parts: SendParts, e: EventOf<K>, ends: Ends) => Promise<void>;

/** Every kind, sent or declined. */
export type SendTable = { readonly [K in EventKind]: Send<K> | 'unsupported' };

/** The Matrix event id for a canonical id (ids that came from Matrix are Matrix ids). */
async function matrixIdOf(ids: IdMap, canonicalId: string): Promise<string | null> {
  return (await ids.networkId(canonicalId)) ?? (canonicalId.startsWith('$') ? canonicalId : null);
}

const sendMessage: Send<'message'> = async ({ link, rooms }, e, { remote, ghost, user }) => {
  const roomId = await rooms.ensure(user, ghost, remote);
  const refs: { replaces?: string; replyTo?: string } = {};
  if (e.replaces) {
    const id = await matrixIdOf(link.ids, e.replaces);
    if (id) refs.replaces = id;
  }
  if (e.replyTo) {
    const id = await matrixIdOf(link.ids, e.replyTo);
    if (id) refs.replyTo = id;
  }
  const parts = messageToMatrix(e, refs);
  for (const [i, part] of parts.entries()) {
    const eventId = await link.hs.sendEvent(ghost, roomId, part.type, part.content, sendTxnId(e.id, i));
    // The first part stands for the event; later parts resolve to it too.
    if (i === 0) await link.ids.put(e.id, eventId);
    else await link.ids.alias(eventId, e.id);
  }
};

const sendChatstate: Send<'chatstate'> = async ({ link, rooms }, e, { ghost, user }) => {
  const roomId = await rooms.roomOf(user, ghost);
  if (!roomId) return; // no conversation yet: nothing to show
  await link.hs.sendTyping(ghost, roomId, e.state === 'composing', TYPING_TIMEOUT_MS);
};

const sendReceipt: Send<'receipt'> = async ({ link, rooms }, e, { ghost, user }) => {
  if (e.receipt !== 'displayed') return; // Matrix has read receipts only
  const roomId = await rooms.roomOf(user, ghost);
  const eventId = await matrixIdOf(link.ids, e.messageId);
  if (!roomId || !eventId) return;
  await link.hs.sendReadReceipt(ghost, roomId, eventId);
};

const sendPresence: Send<'presence'> = async ({ ghosts, presence }, e, { remote, ghost }) => {
  await ghosts.ensure(ghost, remote);
  await presence.set(ghost, presenceToMatrix(e));
};

const sendCall: Send<'call'> = async ({ link, rooms }, e, { remote, ghost, user }) => {
  if (e.action === 'ringing') return; // Matrix clients show ringing from the invite
  const roomId =
    e.action === 'invite' ? await rooms.ensure(user, ghost, remote) : await rooms.roomOf(user, ghost);
  if (!roomId) throw new HomeserverError(`no Matrix conversation for call ${e.callId}`, false);
  const out = callToMatrix(e, 'parley', sessionIdFor(e.callId));
  if (!out) {
    if (e.action === 'candidate') return; // nothing to signal
    throw new HomeserverError(`a call ${e.action} without a session description`, false);
  }
  await link.hs.sendEvent(ghost, roomId, out.type, out.content, sendTxnId(e.id, 0));
};

export const MATRIX_SENDS: SendTable = {
  message: sendMessage,
  presence: sendPresence,
  chatstate: sendChatstate,
  receipt: sendReceipt,
  call: sendCall,
};

/** Send one canonical event to the homeserver as the sender's ghost. Throws HomeserverError. */
export async function sendToMatrix(parts: SendParts, e: CanonicalEvent): Promise<void> {
  const to = tryParseAddress(e.to);
  const from = tryParseAddress(e.from);
  if (!to || !from) throw new HomeserverError('malformed address', false);
  const send = MATRIX_SENDS[e.kind] as Send<EventKind> | 'unsupported';
  if (send === 'unsupported') throw new HomeserverError(`Matrix cannot carry ${e.kind} events`, false);
  const remote: RemoteUser = { user: from.user, domain: from.domain };
  await send(parts, e, { remote, ghost: parts.ghosts.ghostFor(remote), user: mxid(to) });
}

/**
 * The adapter's KindTable: every kind MATRIX_SENDS sends is handed to `deliver` (which sends
 * it now, or queues it while the homeserver is down); the others are declined.
 */
export function matrixKindTable(deliver: (d: Delivery) => Promise<DeliveryResult>): KindTable {
  const via = <K extends EventKind>(kind: K): KindHandler<K> | 'unsupported' =>
    MATRIX_SENDS[kind] === 'unsupported' ? 'unsupported' : deliver;
  return {
    message: via('message'),
    presence: via('presence'),
    chatstate: via('chatstate'),
    receipt: via('receipt'),
    call: via('call'),
  };
}
