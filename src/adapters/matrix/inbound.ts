// Inbound: what the homeserver pushes to the appservice. Room events (invites and leaves of
// ghosts' rooms, messages, calls, encrypted events) and ephemeral events (typing, read
// receipts, presence) are translated and handed to the pipeline, each once.
import { randomUUID } from 'node:crypto';
import { formatAddress } from '../../core/address.js';
import type { CanonicalEvent, MessageRequest } from '../../core/model.js';
import type { Transaction } from './appservice.js';
import { CALL_EVENT_TYPES, type CallMedia, callFromMatrix, callMediaOf } from './calls.js';
import { type Ghosts, parseMxid } from './ghosts.js';
import { HomeserverError } from './homeserver.js';
import type { MatrixLink } from './link.js';
import type { Notices } from './notices.js';
import type { RoomInfo, Rooms } from './rooms.js';
import {
  checkClientEvent,
  checkEphemeralEvent,
  type MatrixClientEvent,
  type MatrixEphemeralEvent,
  messageFromMatrix,
  presenceFromMatrix,
  readReceipts,
  typingUsers,
} from './translate.js';

const EVENT_DEDUPE_TTL_MS = 7 * 24 * 3600_000;
const MATRIX_REQUESTS: MessageRequest[] = ['displayed', 'chatstates'];

export interface InboundParts {
  link: MatrixLink;
  ghosts: Ghosts;
  rooms: Rooms;
  notices: Notices;
  /** The domains whose users live behind this link. */
  domains: readonly string[];
}

export class MatrixInbound {
  readonly #p: InboundParts;
  /** Rooms whose Matrix user is typing now (only changes are submitted). */
  readonly #typing = new Map<string, boolean>();
  /** Each Matrix user's last presence, as `show|status` (only changes are submitted). */
  readonly #presence = new Map<string, string>();

  constructor(parts: InboundParts) {
    this.#p = parts;
  }

  get #link(): MatrixLink {
    return this.#p.link;
  }

  /** The canonical id for a Matrix event id (Parley's own sends map back to the sender's id). */
  async #canonicalIdOf(eventId: string): Promise<string> {
    return (await this.#link.ids.canonical(eventId)) ?? eventId;
  }

  /** The homeserver asks whether a user exists: a ghost of a served domain does (registered now). */
  async onUserQuery(userId: string): Promise<boolean> {
    const remote = this.#p.ghosts.remoteOf(userId);
    const ctx = this.#link.ctx;
    if (!remote || !ctx) return false;
    const net = ctx.networkOf(remote.domain);
    if (!net || net === 'matrix') return false;
    try {
      await this.#p.ghosts.ensure(userId, remote);
    } catch (err) {
      this.#link.log.warn({ err, userId }, 'user query: could not register the ghost');
      return false;
    }
    return true;
  }

  async onTransaction(txn: Transaction): Promise<void> {
    for (const raw of txn.events) {
      if (this.#link.stopped) throw new Error('stopping');
      if (!checkClientEvent.Check(raw)) {
        const first = checkClientEvent.Errors(raw).First();
        this.#link.log.warn(
          { txnId: txn.txnId, where: first?.path, problem: first?.message },
          'malformed event skipped',
        );
        continue;
      }
      // Exactly once per event, even when a transaction is retried after a partial failure.
      const key = `ev:${raw.event_id}`;
      // A message's room is read beside the dedupe claim: one store round trip, not two.
      const info = raw.type === 'm.room.message' ? this.#p.rooms.info(raw.room_id) : undefined;
      info?.catch(() => {}); // a failure surfaces where it is awaited; not unhandled when skipped
      if (!(await this.#link.state.setIfAbsent(key, '1', EVENT_DEDUPE_TTL_MS))) continue;
      try {
        await this.#onRoomEvent(raw, info);
      } catch (err) {
        if (err instanceof HomeserverError && err.retryable) {
          await this.#link.state.del(key);
          throw err;
        }
        this.#link.log.warn({ err, eventId: raw.event_id, type: raw.type }, 'event not handled');
      }
    }
    for (const raw of txn.ephemeral) {
      if (!checkEphemeralEvent.Check(raw)) {
        this.#link.log.warn({ txnId: txn.txnId }, 'malformed ephemeral event skipped');
        continue;
      }
      try {
        await this.#onEphemeral(raw);
      } catch (err) {
        this.#link.log.warn({ err, type: raw.type }, 'ephemeral event not handled');
      }
    }
  }

  /** `prefetched`: the room's mapping, already being read (messages). */
  async #onRoomEvent(ev: MatrixClientEvent, prefetched?: Promise<RoomInfo | null>): Promise<void> {
    if (ev.type === 'm.room.member' && ev.state_key !== undefined) return this.#onMember(ev);
    if (this.#p.ghosts.isOurs(ev.sender)) return; // our own echo
    if (CALL_EVENT_TYPES.has(ev.type)) return this.#onCallEvent(ev);
    if (ev.type === 'm.room.encrypted') return this.#onEncrypted(ev);
    if (ev.type !== 'm.room.message') return;
    const info = await (prefetched ?? this.#p.rooms.info(ev.room_id));
    if (!info) {
      this.#link.log.debug({ roomId: ev.room_id }, 'message in a room Parley does not bridge');
      return;
    }
    if (ev.sender !== info.user) return;
    const parts = messageFromMatrix(ev.content);
    if (!parts) return;
    const ends = this.#ends(info);
    if (!ends) return this.#noticeUnroutable(ev.room_id, info);
    const event = {
      kind: 'message' as const,
      ...this.#base(ev.event_id, ends, ev.origin_server_ts),
      ...parts,
      // Matrix clients send read receipts and typing; they have no delivery receipts.
      requests: MATRIX_REQUESTS,
    };
    if (event.replaces) event.replaces = await this.#canonicalIdOf(event.replaces);
    if (event.replyTo) event.replyTo = await this.#canonicalIdOf(event.replyTo);
    await this.#submit(event);
  }

  /** Parley cannot read end-to-end encrypted events: say so in the room (at most hourly). */
  async #onEncrypted(ev: MatrixClientEvent): Promise<void> {
    const info = await this.#p.rooms.info(ev.room_id);
    if (!info || ev.sender !== info.user) return;
    const once = `e2ee-notice:${ev.room_id}`;
    if (!(await this.#link.state.setIfAbsent(once, '1', 3600_000))) return;
    await this.#p.notices.post(
      info.ghost,
      ev.room_id,
      'Not delivered: this conversation is end-to-end encrypted and the gateway cannot read it. Start a chat without encryption.',
      `e2ee.${ev.event_id}`,
    );
  }

  async #onCallEvent(ev: MatrixClientEvent): Promise<void> {
    const info = await this.#p.rooms.info(ev.room_id);
    if (!info || ev.sender !== info.user) return;
    const callId = typeof ev.content.call_id === 'string' ? ev.content.call_id : '';
    const key = `call:${callId}`;
    let known: CallMedia[] = [];
    const raw = callId ? await this.#link.state.get(key) : null;
    if (raw) {
      try {
        known = JSON.parse(raw) as CallMedia[];
      } catch {
        known = [];
      }
    }
    const parts = callFromMatrix(ev.type, ev.content, known);
    if (!parts) {
      this.#link.log.warn({ eventId: ev.event_id, type: ev.type }, 'malformed call event skipped');
      return;
    }
    if (parts.session && (parts.action === 'invite' || parts.action === 'answer')) {
      await this.#link.state.set(key, JSON.stringify(callMediaOf(parts.session)), 24 * 3600_000);
    }
    const ends = this.#ends(info);
    if (!ends) return this.#noticeUnroutable(ev.room_id, info);
    await this.#submit({ kind: 'call', ...this.#base(ev.event_id, ends, ev.origin_server_ts), ...parts });
  }

  #base(
    id: string,
    ends: { from: string; to: string },
    ts?: number,
  ): { id: string; time: string; from: string; to: string; adapter: string; traceId: string } {
    const time =
      typeof ts === 'number' && Number.isFinite(ts) && ts > 0 && ts < 1e14 ? new Date(ts) : new Date();
    return { id, time: time.toISOString(), ...ends, adapter: this.#link.name, traceId: randomUUID() };
  }

  /** Canonical from/to for traffic from the Matrix user of `info` to the ghost's remote user. */
  #ends(info: RoomInfo): { from: string; to: string } | null {
    const remote = this.#p.ghosts.remoteOf(info.ghost);
    const user = parseMxid(info.user);
    const ctx = this.#link.ctx;
    if (!remote || !user || !ctx) return null;
    const net = ctx.networkOf(remote.domain);
    if (!net || net === 'matrix') return null;
    try {
      return {
        from: formatAddress({ network: 'matrix', user: user.user, domain: user.domain }),
        to: formatAddress({ network: net, user: remote.user, domain: remote.domain }),
      };
    } catch {
      return null;
    }
  }

  async #noticeUnroutable(roomId: string, info: RoomInfo): Promise<void> {
    const remote = this.#p.ghosts.remoteOf(info.ghost);
    await this.#p.notices.post(
      info.ghost,
      roomId,
      `Not delivered: no network here serves ${remote?.domain ?? 'that address'}.`,
      `unroutable.${randomUUID()}`,
    );
  }

  async #submit(event: CanonicalEvent): Promise<void> {
    const ctx = this.#link.ctx;
    if (!ctx) return;
    const out = await ctx.submit(event);
    this.#link.log.debug({ eventId: event.id, kind: event.kind, status: out.status }, 'submitted');
  }

  async #onMember(ev: MatrixClientEvent): Promise<void> {
    const { ghosts, rooms } = this.#p;
    const { hs, log } = this.#link;
    const target = ev.state_key as string;
    const membership = typeof ev.content.membership === 'string' ? ev.content.membership : '';
    const remote = ghosts.remoteOf(target);
    if (membership === 'invite' && remote && !ghosts.isOurs(ev.sender)) {
      const net = this.#link.ctx?.networkOf(remote.domain);
      if (!net || net === 'matrix') {
        log.info({ target, roomId: ev.room_id }, 'invite for a ghost of an unserved domain: rejected');
        await hs.leaveRoom(target, ev.room_id).catch(() => {});
        return;
      }
      await ghosts.ensure(target, remote);
      await hs.joinRoom(target, ev.room_id);
      await rooms.map(ev.room_id, { user: ev.sender, ghost: target });
      log.info({ roomId: ev.room_id, user: ev.sender, ghost: target }, 'joined a direct room on invite');
      return;
    }
    if (membership === 'leave' || membership === 'ban') {
      const info = await rooms.info(ev.room_id);
      if (!info || (target !== info.user && target !== info.ghost)) return;
      await rooms.unmap(ev.room_id, info);
      if (target === info.user) await hs.leaveRoom(info.ghost, ev.room_id).catch(() => {});
    }
  }

  async #onEphemeral(ev: MatrixEphemeralEvent): Promise<void> {
    switch (ev.type) {
      case 'm.typing': {
        if (!ev.room_id) return;
        const info = await this.#p.rooms.info(ev.room_id);
        if (!info) return;
        const typing = typingUsers(ev.content).includes(info.user);
        const before = this.#typing.get(ev.room_id) ?? false;
        if (typing === before) return;
        if (typing) this.#typing.set(ev.room_id, true);
        else this.#typing.delete(ev.room_id);
        const ends = this.#ends(info);
        if (!ends) return;
        await this.#submit({
          kind: 'chatstate',
          ...this.#base(`typing.${randomUUID()}`, ends),
          state: typing ? 'composing' : 'paused',
        });
        return;
      }
      case 'm.receipt': {
        if (!ev.room_id) return;
        const info = await this.#p.rooms.info(ev.room_id);
        if (!info) return;
        const ends = this.#ends(info);
        if (!ends) return;
        for (const r of readReceipts(ev.content)) {
          if (r.userId !== info.user) continue;
          // Only receipts for what Parley delivered mean something to the remote sender.
          const canonical = await this.#link.ids.canonical(r.eventId);
          if (!canonical) continue;
          const once = `rcpt:${r.eventId}:${r.userId}`;
          if (!(await this.#link.state.setIfAbsent(once, '1', EVENT_DEDUPE_TTL_MS))) continue;
          await this.#submit({
            kind: 'receipt',
            ...this.#base(`receipt.${randomUUID()}`, ends),
            receipt: 'displayed',
            messageId: canonical,
          });
        }
        return;
      }
      case 'm.presence': {
        const sender = ev.sender;
        if (!sender || this.#p.ghosts.isOurs(sender)) return;
        const who = parseMxid(sender);
        if (!who || !this.#p.domains.includes(who.domain)) return;
        const p = presenceFromMatrix(ev.content);
        if (!p) return;
        const fingerprint = `${p.show}|${p.status ?? ''}`;
        if (this.#presence.get(sender) === fingerprint) return;
        this.#presence.set(sender, fingerprint);
        const pairs = await this.#link.state.hgetall(`pairs:${sender}`);
        for (const ghost of Object.keys(pairs)) {
          const ends = this.#ends({ user: sender, ghost });
          if (!ends) continue;
          await this.#submit({ kind: 'presence', ...this.#base(`presence.${randomUUID()}`, ends), ...p });
        }
        return;
      }
      default:
        return;
    }
  }
}
