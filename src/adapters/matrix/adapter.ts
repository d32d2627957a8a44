// The Matrix adapter: Parley as an application service of a homeserver. Remote users are
// ghosts (`@_parley_<user=40domain>:<server>`); a Matrix user talks to one in a direct room
// (they invite the ghost, or the ghost opens the room for inbound traffic). Whatever the
// homeserver pushes is translated and handed to the pipeline; what the pipeline delivers
// is sent as the ghost, through a bounded store queue while the homeserver is down.
import { randomUUID } from 'node:crypto';
import { TypeCompiler } from '@sinclair/typebox/compiler';
import type { FastifyInstance } from 'fastify';
import type {
  Adapter,
  AdapterContext,
  Capabilities,
  Delivery,
  DeliveryResult,
  LinkState,
  LinkStatus,
  Notice,
  Refusal,
} from '../../core/adapter.js';
import { type Address, formatAddress, type RemoteUser, tryParseAddress } from '../../core/address.js';
import type { Logger } from '../../core/logger.js';
import { type CallAction, CanonicalEvent, type EventKind, type MessageRequest } from '../../core/model.js';
import { buildAppserviceApp, type Transaction } from './appservice.js';
import {
  CALL_EVENT_TYPES,
  type CallMedia,
  callFromMatrix,
  callMediaOf,
  callToMatrix,
  sessionIdFor,
} from './calls.js';
import type { Registration, ResolvedMatrixConfig } from './config.js';
import { fromGhost, type GhostOptions, toGhost } from './ghost.js';
import { type HomeserverApi, HomeserverError, sendTxnId } from './homeserver.js';
import {
  checkClientEvent,
  checkEphemeralEvent,
  type MatrixClientEvent,
  type MatrixEphemeralEvent,
  messageFromMatrix,
  messageToMatrix,
  presenceFromMatrix,
  presenceToMatrix,
  readReceipts,
  typingUsers,
} from './translate.js';

const checkCanonical = TypeCompiler.Compile(CanonicalEvent);
const ID_TTL_MS = 30 * 24 * 3600_000;
const EVENT_DEDUPE_TTL_MS = 7 * 24 * 3600_000;
const TYPING_TIMEOUT_MS = 30_000;
const LEASE_TTL_MS = 30_000;
/** A replica opening a DM room holds the pair's lease this many request timeouts at most. */
const ROOM_LEASE_REQUESTS = 4;
const ROOM_WAIT_POLL_MS = 50;
const ROOM_ATTEMPT_TTL_MS = 24 * 3600_000;
const MATRIX_REQUESTS: MessageRequest[] = ['displayed', 'chatstates'];

export const MATRIX_CAPABILITIES: Capabilities = {
  kinds: new Set<EventKind>(['message', 'presence', 'chatstate', 'receipt', 'call']),
  edits: true,
  html: true,
  attachments: true,
  // Matrix has no ringing event: a ringing is accepted and not shown (clients ring on the invite).
  callActions: new Set<CallAction>(['invite', 'ringing', 'answer', 'candidate', 'hangup']),
  maxBodyLength: 65_536,
};

interface RoomInfo {
  /** The Matrix user (`@alice:hs.test`). */
  user: string;
  /** The ghost (`@_parley_bob=40corp.test:hs.test`). */
  ghost: string;
}

export interface MatrixAdapterOptions {
  name: string;
  config: ResolvedMatrixConfig;
  registration: Registration;
  homeserver: HomeserverApi;
  logger: Logger;
}

const mxid = (a: Pick<Address, 'user' | 'domain'>): string => `@${a.user}:${a.domain}`;
function parseMxid(id: string): { user: string; domain: string } | null {
  const m = /^@([^:]+):(.+)$/.exec(id);
  return m ? { user: m[1] as string, domain: (m[2] as string).toLowerCase() } : null;
}

export class MatrixAdapter implements Adapter {
  readonly network = 'matrix' as const;
  readonly name: string;
  readonly domains: readonly string[];
  readonly capabilities = MATRIX_CAPABILITIES;

  readonly #cfg: ResolvedMatrixConfig;
  readonly #reg: Registration;
  readonly #hs: HomeserverApi;
  #log: Logger;
  #ctx: AdapterContext | null = null;
  #app: FastifyInstance | null = null;
  #status: LinkStatus = { state: 'starting', since: new Date().toISOString() };
  readonly #ghostOpts: GhostOptions;
  readonly #prefix: string;
  readonly #owner = randomUUID();
  readonly #ghostsReady = new Set<string>();
  readonly #roomLocks = new Map<string, Promise<string>>();
  readonly #typing = new Map<string, boolean>();
  readonly #presence = new Map<string, string>();
  /** The tail of each ghost's presence writes (see #presenceInOrder). */
  readonly #presenceWrites = new Map<string, Promise<void>>();
  #backlog = false;
  #drainTimer: NodeJS.Timeout | null = null;
  #presenceTimer: NodeJS.Timeout | null = null;
  #draining = false;
  /** Something was enqueued while a drain was running: drain again when it ends. */
  #rerun = false;
  #backoffMs: number;
  #stopped = false;
  /** The bound appservice address, e.g. http://127.0.0.1:9000. */
  url: string | null = null;

  constructor(opts: MatrixAdapterOptions) {
    this.name = opts.name;
    this.#cfg = opts.config;
    this.#reg = opts.registration;
    this.#hs = opts.homeserver;
    this.#log = opts.logger;
    this.domains = opts.config.domains;
    this.#ghostOpts = { serverName: opts.config.serverName, matrixPrefix: opts.config.ghostPrefix };
    this.#prefix = `matrix:${opts.name}:`;
    this.#backoffMs = opts.config.queue.retryInitialMs;
  }

  get #store() {
    if (!this.#ctx) throw new Error(`matrix adapter ${this.name} is not started`);
    return this.#ctx.store;
  }

  #setStatus(state: LinkState, detail?: string): void {
    if (this.#status.state === state && this.#status.detail === detail) return;
    this.#status = { state, since: new Date().toISOString(), ...(detail ? { detail } : {}) };
    this.#ctx?.setStatus(state, detail);
  }

  async start(ctx: AdapterContext): Promise<void> {
    this.#ctx = ctx;
    this.#log = ctx.logger;
    this.#stopped = false;
    const app = buildAppserviceApp({
      hsToken: this.#reg.hs_token,
      store: ctx.store,
      keyPrefix: this.#prefix,
      bodyLimit: this.#cfg.maxTransactionBytes,
      logger: this.#log,
      handlers: {
        onTransaction: (txn) => this.#onTransaction(txn),
        onUserQuery: (userId) => this.#onUserQuery(userId),
      },
    });
    this.#app = app;
    this.url = await app.listen({ host: this.#cfg.listen.host, port: this.#cfg.listen.port });
    const up = await this.#hs.ping();
    if (up) this.#setStatus('up');
    else this.#setStatus('down', `homeserver ${this.#cfg.homeserver} unreachable`);
    this.#backlog =
      (await ctx.store.queueLength(`${this.#prefix}outq`)) > 0 ||
      (await ctx.store.get(`${this.#prefix}outq:head`)) !== null;
    if (this.#backlog || !up) this.#scheduleDrain(up ? 0 : this.#backoffMs);
    this.#presenceTimer = setInterval(() => void this.#refreshPresence(), this.#cfg.presenceRefreshMs);
    this.#presenceTimer.unref();
  }

  /** Set the ghosts' presence again, before the homeserver times it out (they never sync). */
  async #refreshPresence(): Promise<void> {
    if (this.#stopped || this.#status.state !== 'up' || !this.#ctx) return;
    try {
      const key = `${this.#prefix}ghost-presence`;
      const ghosts = Object.keys(await this.#ctx.store.hgetall(key));
      for (const ghost of ghosts) {
        if (this.#stopped) return;
        // Read again inside the ghost's queue: a presence that arrived while this refresh
        // ran is newer than the list read above, and must not be overwritten by it.
        await this.#presenceInOrder(ghost, async () => {
          const raw = await this.#store.hget(key, ghost);
          if (raw === null) return;
          const p = JSON.parse(raw) as { presence: string; status_msg?: string };
          await this.#hs.setPresence(ghost, p.presence, p.status_msg);
        });
      }
    } catch (err) {
      this.#log.debug({ err }, 'ghost presence refresh failed');
    }
  }

  /**
   * Run one ghost's presence writes one after another. The periodic refresh and a live
   * presence otherwise race: the refresh could set a ghost's older presence after the newer
   * one, and the homeserver would show the old one until the next refresh.
   */
  #presenceInOrder(ghost: string, write: () => Promise<void>): Promise<void> {
    const before = this.#presenceWrites.get(ghost) ?? Promise.resolve();
    const done = before.then(write);
    const settled = done.catch(() => {});
    this.#presenceWrites.set(ghost, settled);
    void settled.then(() => {
      if (this.#presenceWrites.get(ghost) === settled) this.#presenceWrites.delete(ghost);
    });
    return done;
  }

  status(): LinkStatus {
    return this.#status;
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    if (this.#drainTimer) clearTimeout(this.#drainTimer);
    this.#drainTimer = null;
    if (this.#presenceTimer) clearInterval(this.#presenceTimer);
    this.#presenceTimer = null;
    if (this.#app) await this.#app.close();
    this.#app = null;
    if (this.#ctx) await this.#ctx.store.releaseLease(`${this.#prefix}outq`, this.#owner).catch(() => {});
    this.#setStatus('stopped');
  }

  // -------------------------------------------------------------------------------------
  // Ghosts and rooms

  #ghostFor(remote: RemoteUser): string {
    return mxid(toGhost(remote, 'matrix', this.#ghostOpts));
  }

  /** The remote user a ghost stands for, or null when `userId` is not one of ours. */
  #remoteOf(userId: string): RemoteUser | null {
    const p = parseMxid(userId);
    if (!p) return null;
    return fromGhost({ network: 'matrix', user: p.user, domain: p.domain }, this.#ghostOpts);
  }

  #isOurs(userId: string): boolean {
    return (
      userId === `@${this.#reg.sender_localpart}:${this.#cfg.serverName}` ||
      (userId.startsWith(`@${this.#cfg.ghostPrefix}`) && userId.endsWith(`:${this.#cfg.serverName}`))
    );
  }

  async #ensureGhost(ghost: string, remote: RemoteUser): Promise<void> {
    if (this.#ghostsReady.has(ghost)) return;
    if ((await this.#store.hget(`${this.#prefix}ghosts`, ghost)) === null) {
      const local = parseMxid(ghost)?.user as string;
      await this.#hs.register(local);
      try {
        await this.#hs.setDisplayName(ghost, `${remote.user}@${remote.domain}`);
      } catch (err) {
        this.#log.warn({ err, ghost }, 'could not set the ghost display name');
      }
      await this.#store.hset(`${this.#prefix}ghosts`, ghost, '1');
    }
    this.#ghostsReady.add(ghost);
  }

  async #roomOf(user: string, ghost: string): Promise<string | null> {
    return this.#store.hget(`${this.#prefix}pairs:${user}`, ghost);
  }

  async #mapRoom(roomId: string, info: RoomInfo): Promise<void> {
    await this.#store.hset(`${this.#prefix}pairs:${info.user}`, info.ghost, roomId);
    await this.#store.hset(`${this.#prefix}rooms`, roomId, JSON.stringify(info));
  }

  async #unmapRoom(roomId: string, info: RoomInfo): Promise<void> {
    if ((await this.#roomOf(info.user, info.ghost)) === roomId) {
      await this.#store.hdel(`${this.#prefix}pairs:${info.user}`, info.ghost);
    }
    await this.#store.hdel(`${this.#prefix}rooms`, roomId);
  }

  async #roomInfo(roomId: string): Promise<RoomInfo | null> {
    const raw = await this.#store.hget(`${this.#prefix}rooms`, roomId);
    if (!raw) return null;
    try {
      const v = JSON.parse(raw) as RoomInfo;
      return typeof v.user === 'string' && typeof v.ghost === 'string' ? v : null;
    } catch {
      return null;
    }
  }

  /** The DM room of the pair, created by the ghost (is_direct) when there is none. */
  async #ensureRoom(user: string, ghost: string, remote: RemoteUser): Promise<string> {
    const existing = await this.#roomOf(user, ghost);
    if (existing) return existing;
    const key = `${user}|${ghost}`;
    const pending = this.#roomLocks.get(key);
    if (pending) return pending;
    const p = this.#openRoomOnce(user, ghost, remote);
    this.#roomLocks.set(key, p);
    try {
      return await p;
    } finally {
      this.#roomLocks.delete(key);
    }
  }

  /**
   * Open the pair's room, once across replicas sharing the store: the replica holding the
   * pair's lease creates and maps it; the others wait for that mapping. A holder that dies
   * lets its lease lapse (a few request timeouts) and the next one opens the room.
   */
  async #openRoomOnce(user: string, ghost: string, remote: RemoteUser): Promise<string> {
    const lease = `${this.#prefix}dm:${user}|${ghost}`;
    const ttl = ROOM_LEASE_REQUESTS * this.#cfg.requestTimeoutMs;
    const deadline = Date.now() + 2 * ttl;
    for (;;) {
      const mapped = await this.#roomOf(user, ghost);
      if (mapped) return mapped;
      if (await this.#store.acquireLease(lease, this.#owner, ttl)) {
        try {
          await this.#ensureGhost(ghost, remote);
          const again = await this.#roomOf(user, ghost); // the previous holder finished just now
          if (again) return again;
          // createRoom has no transaction id: an attempt that timed out (or died) may have
          // made the room all the same. The marker says to look for it before making another.
          const attempt = `${this.#prefix}dm-attempt:${user}|${ghost}`;
          let roomId = (await this.#store.get(attempt)) ? await this.#orphanRoom(user, ghost) : null;
          if (roomId)
            this.#log.info({ roomId, user, ghost }, 'adopted a direct room an earlier attempt made');
          else {
            await this.#store.set(attempt, '1', ROOM_ATTEMPT_TTL_MS);
            roomId = await this.#hs.createDirectRoom(ghost, user);
            this.#log.info({ roomId, user, ghost }, 'opened a direct room');
          }
          await this.#mapRoom(roomId, { user, ghost });
          await this.#store.del(attempt);
          return roomId;
        } finally {
          await this.#store.releaseLease(lease, this.#owner).catch(() => {});
        }
      }
      if (Date.now() > deadline) {
        throw new HomeserverError(`another replica is still opening the room of ${user} and ${ghost}`, true);
      }
      await new Promise((r) => setTimeout(r, ROOM_WAIT_POLL_MS));
    }
  }

  /** A room the ghost is in with `user` invited or joined that no pair maps to, if any. */
  async #orphanRoom(user: string, ghost: string): Promise<string | null> {
    for (const roomId of await this.#hs.joinedRooms(ghost)) {
      if (await this.#roomInfo(roomId)) continue;
      const m = await this.#hs.membership(ghost, roomId, user);
      if (m === 'invite' || m === 'join') return roomId;
    }
    return null;
  }

  async #rememberIds(canonicalId: string, eventId: string): Promise<void> {
    await this.#store.set(`${this.#prefix}id:out:${canonicalId}`, eventId, ID_TTL_MS);
    await this.#store.set(`${this.#prefix}id:in:${eventId}`, canonicalId, ID_TTL_MS);
  }

  /** The Matrix event id for a canonical id (ids that came from Matrix are Matrix ids). */
  async #matrixIdOf(canonicalId: string): Promise<string | null> {
    const mapped = await this.#store.get(`${this.#prefix}id:out:${canonicalId}`);
    if (mapped) return mapped;
    return canonicalId.startsWith('$') ? canonicalId : null;
  }

  /** The canonical id for a Matrix event id (Parley's own sends map back to the sender's id). */
  async #canonicalIdOf(eventId: string): Promise<string> {
    return (await this.#store.get(`${this.#prefix}id:in:${eventId}`)) ?? eventId;
  }

  // -------------------------------------------------------------------------------------
  // Inbound: the homeserver's transactions

  async #onUserQuery(userId: string): Promise<boolean> {
    const remote = this.#remoteOf(userId);
    if (!remote || !this.#ctx) return false;
    const net = this.#ctx.networkOf(remote.domain);
    if (!net || net === 'matrix') return false;
    try {
      await this.#ensureGhost(userId, remote);
    } catch (err) {
      this.#log.warn({ err, userId }, 'user query: could not register the ghost');
      return false;
    }
    return true;
  }

  async #onTransaction(txn: Transaction): Promise<void> {
    for (const raw of txn.events) {
      if (this.#stopped) throw new Error('stopping');
      if (!checkClientEvent.Check(raw)) {
        const first = checkClientEvent.Errors(raw).First();
        this.#log.warn(
          { txnId: txn.txnId, where: first?.path, problem: first?.message },
          'malformed event skipped',
        );
        continue;
      }
      // Exactly once per event, even when a transaction is retried after a partial failure.
      const key = `${this.#prefix}ev:${raw.event_id}`;
      // A message's room is read beside the dedupe claim: one store round trip, not two.
      const info = raw.type === 'm.room.message' ? this.#roomInfo(raw.room_id) : undefined;
      info?.catch(() => {}); // a failure surfaces where it is awaited; not unhandled when skipped
      if (!(await this.#store.setIfAbsent(key, '1', EVENT_DEDUPE_TTL_MS))) continue;
      try {
        await this.#onRoomEvent(raw, info);
      } catch (err) {
        if (err instanceof HomeserverError && err.retryable) {
          await this.#store.del(key);
          throw err;
        }
        this.#log.warn({ err, eventId: raw.event_id, type: raw.type }, 'event not handled');
      }
    }
    for (const raw of txn.ephemeral) {
      if (!checkEphemeralEvent.Check(raw)) {
        this.#log.warn({ txnId: txn.txnId }, 'malformed ephemeral event skipped');
        continue;
      }
      try {
        await this.#onEphemeral(raw);
      } catch (err) {
        this.#log.warn({ err, type: raw.type }, 'ephemeral event not handled');
      }
    }
  }

  /** `prefetched`: the room's mapping, already being read (messages). */
  async #onRoomEvent(ev: MatrixClientEvent, prefetched?: Promise<RoomInfo | null>): Promise<void> {
    if (ev.type === 'm.room.member' && ev.state_key !== undefined) return this.#onMember(ev);
    if (this.#isOurs(ev.sender)) return; // our own echo
    if (CALL_EVENT_TYPES.has(ev.type)) return this.#onCallEvent(ev);
    if (ev.type === 'm.room.encrypted') return this.#onEncrypted(ev);
    if (ev.type !== 'm.room.message') return;
    const info = await (prefetched ?? this.#roomInfo(ev.room_id));
    if (!info) {
      this.#log.debug({ roomId: ev.room_id }, 'message in a room Parley does not bridge');
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
    const info = await this.#roomInfo(ev.room_id);
    if (!info || ev.sender !== info.user) return;
    if (!(await this.#store.setIfAbsent(`${this.#prefix}e2ee-notice:${ev.room_id}`, '1', 3600_000))) return;
    await this.#notice(
      info.ghost,
      ev.room_id,
      'Not delivered: this conversation is end-to-end encrypted and the gateway cannot read it. Start a chat without encryption.',
      `e2ee.${ev.event_id}`,
    );
  }

  async #onCallEvent(ev: MatrixClientEvent): Promise<void> {
    const info = await this.#roomInfo(ev.room_id);
    if (!info || ev.sender !== info.user) return;
    const callId = typeof ev.content.call_id === 'string' ? ev.content.call_id : '';
    const key = `${this.#prefix}call:${callId}`;
    let known: CallMedia[] = [];
    const raw = callId ? await this.#store.get(key) : null;
    if (raw) {
      try {
        known = JSON.parse(raw) as CallMedia[];
      } catch {
        known = [];
      }
    }
    const parts = callFromMatrix(ev.type, ev.content, known);
    if (!parts) {
      this.#log.warn({ eventId: ev.event_id, type: ev.type }, 'malformed call event skipped');
      return;
    }
    if (parts.session && (parts.action === 'invite' || parts.action === 'answer')) {
      await this.#store.set(key, JSON.stringify(callMediaOf(parts.session)), 24 * 3600_000);
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
    return { id, time: time.toISOString(), ...ends, adapter: this.name, traceId: randomUUID() };
  }

  /** Canonical from/to for traffic from the Matrix user of `info` to the ghost's remote user. */
  #ends(info: RoomInfo): { from: string; to: string } | null {
    const remote = this.#remoteOf(info.ghost);
    const user = parseMxid(info.user);
    if (!remote || !user || !this.#ctx) return null;
    const net = this.#ctx.networkOf(remote.domain);
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
    const remote = this.#remoteOf(info.ghost);
    await this.#notice(
      info.ghost,
      roomId,
      `Not delivered: no network here serves ${remote?.domain ?? 'that address'}.`,
      `unroutable.${randomUUID()}`,
    );
  }

  async #submit(event: CanonicalEvent): Promise<void> {
    if (!this.#ctx) return;
    const out = await this.#ctx.submit(event);
    this.#log.debug({ eventId: event.id, kind: event.kind, status: out.status }, 'submitted');
  }

  async #onMember(ev: MatrixClientEvent): Promise<void> {
    const target = ev.state_key as string;
    const membership = typeof ev.content.membership === 'string' ? ev.content.membership : '';
    const remote = this.#remoteOf(target);
    if (membership === 'invite' && remote && !this.#isOurs(ev.sender)) {
      const net = this.#ctx?.networkOf(remote.domain);
      if (!net || net === 'matrix') {
        this.#log.info({ target, roomId: ev.room_id }, 'invite for a ghost of an unserved domain: rejected');
        await this.#hs.leaveRoom(target, ev.room_id).catch(() => {});
        return;
      }
      await this.#ensureGhost(target, remote);
      await this.#hs.joinRoom(target, ev.room_id);
      await this.#mapRoom(ev.room_id, { user: ev.sender, ghost: target });
      this.#log.info(
        { roomId: ev.room_id, user: ev.sender, ghost: target },
        'joined a direct room on invite',
      );
      return;
    }
    if (membership === 'leave' || membership === 'ban') {
      const info = await this.#roomInfo(ev.room_id);
      if (!info || (target !== info.user && target !== info.ghost)) return;
      await this.#unmapRoom(ev.room_id, info);
      if (target === info.user) await this.#hs.leaveRoom(info.ghost, ev.room_id).catch(() => {});
    }
  }

  async #onEphemeral(ev: MatrixEphemeralEvent): Promise<void> {
    switch (ev.type) {
      case 'm.typing': {
        if (!ev.room_id) return;
        const info = await this.#roomInfo(ev.room_id);
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
        const info = await this.#roomInfo(ev.room_id);
        if (!info) return;
        const ends = this.#ends(info);
        if (!ends) return;
        for (const r of readReceipts(ev.content)) {
          if (r.userId !== info.user) continue;
          // Only receipts for what Parley delivered mean something to the remote sender.
          const canonical = await this.#store.get(`${this.#prefix}id:in:${r.eventId}`);
          if (!canonical) continue;
          const once = `${this.#prefix}rcpt:${r.eventId}:${r.userId}`;
          if (!(await this.#store.setIfAbsent(once, '1', EVENT_DEDUPE_TTL_MS))) continue;
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
        if (!sender || this.#isOurs(sender)) return;
        const who = parseMxid(sender);
        if (!who || !this.domains.includes(who.domain)) return;
        const p = presenceFromMatrix(ev.content);
        if (!p) return;
        const fingerprint = `${p.show}|${p.status ?? ''}`;
        if (this.#presence.get(sender) === fingerprint) return;
        this.#presence.set(sender, fingerprint);
        const pairs = await this.#store.hgetall(`${this.#prefix}pairs:${sender}`);
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

  // -------------------------------------------------------------------------------------
  // Refusals: an m.notice from the ghost in the room the refused event came from

  async refuse(event: CanonicalEvent, refusal: Refusal): Promise<void> {
    // Typing, receipts and presence are refused silently: a notice per keystroke would be noise.
    const callInvite = event.kind === 'call' && event.action === 'invite';
    if (event.kind !== 'message' && !callInvite) {
      this.#log.debug({ eventId: event.id, code: refusal.code }, 'refused (no notice for this kind)');
      return;
    }
    const from = tryParseAddress(event.from);
    const to = tryParseAddress(event.to);
    if (!from || !to || from.network !== 'matrix') return;
    const ghost = this.#ghostFor({ user: to.user, domain: to.domain });
    const roomId = await this.#roomOf(mxid(from), ghost);
    if (!roomId) return;
    if (event.kind === 'call') {
      // Stop the caller's client ringing: the ghost rejects the call.
      try {
        await this.#hs.sendEvent(
          ghost,
          roomId,
          'm.call.reject',
          { call_id: event.callId, party_id: 'parley', version: '1' },
          sendTxnId(`reject.${event.id}`, 0),
        );
      } catch (err) {
        this.#log.warn({ err, roomId }, 'could not reject a refused call');
      }
    }
    await this.#notice(ghost, roomId, `Not delivered: ${refusal.reason}`, `refusal.${event.id}`);
  }

  /** A degraded delivery: an m.notice from the recipient's ghost in the sender's room with it. */
  async notice(event: CanonicalEvent, notice: Notice): Promise<void> {
    const from = tryParseAddress(event.from);
    const to = tryParseAddress(event.to);
    if (!from || !to || from.network !== 'matrix') return;
    const ghost = this.#ghostFor({ user: to.user, domain: to.domain });
    const roomId = await this.#roomOf(mxid(from), ghost);
    if (!roomId) return;
    await this.#notice(ghost, roomId, notice.text, `degraded.${event.id}`);
  }

  async #notice(ghost: string, roomId: string, text: string, key: string): Promise<void> {
    try {
      await this.#hs.sendEvent(
        ghost,
        roomId,
        'm.room.message',
        { msgtype: 'm.notice', body: text },
        sendTxnId(key, 0),
      );
    } catch (err) {
      this.#log.warn({ err, roomId }, 'could not send a notice');
    }
  }

  // -------------------------------------------------------------------------------------
  // Outbound: deliveries, through the queue while the homeserver is down

  async deliver(delivery: Delivery): Promise<DeliveryResult> {
    const e = delivery.event;
    const to = tryParseAddress(e.to);
    const from = tryParseAddress(e.from);
    if (!to || !from || to.network !== 'matrix') {
      return { ok: false, retryable: false, reason: `not a Matrix recipient: ${e.to}` };
    }
    if (this.#remoteOf(mxid(to)) || this.#isOurs(mxid(to))) {
      return { ok: false, retryable: false, reason: 'the recipient is a gateway user' };
    }
    if (this.#stopped) return { ok: false, retryable: true, reason: 'the Matrix link is stopping' };
    if (!this.#backlog) {
      try {
        await this.#send(e);
        if (this.#status.state !== 'up') this.#setStatus('up');
        return { ok: true };
      } catch (err) {
        const he = err instanceof HomeserverError ? err : new HomeserverError(String(err), false);
        if (!he.retryable) return { ok: false, retryable: false, reason: he.message };
        this.#setStatus('down', he.message);
      }
    }
    return this.#enqueue(e);
  }

  async #enqueue(e: CanonicalEvent): Promise<DeliveryResult> {
    const ok = await this.#store.enqueue(`${this.#prefix}outq`, JSON.stringify(e), this.#cfg.queue.maxLength);
    if (!ok) {
      return {
        ok: false,
        retryable: true,
        reason: `the homeserver is unreachable and ${this.#cfg.queue.maxLength} events already wait`,
      };
    }
    this.#backlog = true;
    if (this.#draining) this.#rerun = true;
    else if (!this.#drainTimer) this.#scheduleDrain(this.#backoffMs);
    return { ok: true, queued: true };
  }

  #scheduleDrain(delayMs: number): void {
    if (this.#stopped) return;
    if (this.#drainTimer) clearTimeout(this.#drainTimer);
    this.#drainTimer = setTimeout(() => {
      this.#drainTimer = null;
      void this.#drain();
    }, delayMs);
    this.#drainTimer.unref();
  }

  /** Send queued events in order; on a retryable failure wait (doubling) and try again. */
  async #drain(): Promise<void> {
    if (this.#draining || this.#stopped || !this.#ctx) return;
    this.#draining = true;
    const store = this.#ctx.store;
    const q = `${this.#prefix}outq`;
    const headKey = `${q}:head`;
    try {
      if (!(await store.acquireLease(q, this.#owner, LEASE_TTL_MS))) {
        this.#scheduleDrain(LEASE_TTL_MS / 2);
        return;
      }
      if (!this.#backlog && !(await this.#hs.ping()))
        throw new HomeserverError('homeserver unreachable', true);
      for (;;) {
        if (this.#stopped) return;
        if (!(await store.acquireLease(q, this.#owner, LEASE_TTL_MS))) {
          // Another replica took over (ours lapsed while a send hung): it drains now.
          this.#scheduleDrain(LEASE_TTL_MS / 2);
          return;
        }
        const next = await this.#peekQueued(q, headKey);
        if (next === null) break;
        let event: unknown;
        try {
          event = JSON.parse(next.payload);
        } catch {
          event = null;
        }
        if (!checkCanonical.Check(event)) {
          this.#log.error({ payload: next.payload.slice(0, 200) }, 'dropped an unreadable queued event');
          await next.ack();
          continue;
        }
        try {
          await this.#send(event);
        } catch (err) {
          if (err instanceof HomeserverError && err.retryable) throw err;
          this.#log.error({ err, eventId: event.id }, 'a queued event was refused by the homeserver');
          await this.#ctx.bounce(event, {
            code: 'delivery',
            rule: null,
            reason: `The Matrix homeserver refused it: ${err instanceof Error ? err.message : String(err)}`,
          });
        }
        // Only now does it leave the queue: a crash before this line sends it again (same
        // transaction id, so the homeserver keeps one copy), never loses it.
        await next.ack();
        this.#backoffMs = this.#cfg.queue.retryInitialMs;
      }
      this.#backlog = false;
      this.#setStatus('up');
    } catch (err) {
      const detail = err instanceof Error ? err.message : String(err);
      this.#setStatus('down', detail);
      this.#log.warn({ detail, retryInMs: this.#backoffMs }, 'homeserver unreachable; will retry');
      this.#scheduleDrain(this.#backoffMs);
      this.#backoffMs = Math.min(this.#backoffMs * 2, this.#cfg.queue.retryMaxMs);
    } finally {
      this.#draining = false;
      if (this.#rerun) {
        this.#rerun = false;
        this.#backlog = true;
        if (!this.#drainTimer) this.#scheduleDrain(0);
      }
    }
  }

  /**
   * The queue's head, left in place until `ack`. An item under `headKey` (where an earlier
   * version kept the event being retried) goes first.
   */
  async #peekQueued(q: string, headKey: string): Promise<{ payload: string; ack(): Promise<void> } | null> {
    const store = this.#store;
    const legacy = await store.get(headKey);
    if (legacy !== null) return { payload: legacy, ack: () => store.del(headKey) };
    const [head] = await store.peek(q, 1);
    if (head === undefined) return null;
    return {
      payload: head,
      ack: async () => {
        await store.ack(q, [head]);
      },
    };
  }

  /** Send one canonical event to the homeserver as the sender's ghost. Throws HomeserverError. */
  async #send(e: CanonicalEvent): Promise<void> {
    const to = tryParseAddress(e.to);
    const from = tryParseAddress(e.from);
    if (!to || !from) throw new HomeserverError('malformed address', false);
    const remote: RemoteUser = { user: from.user, domain: from.domain };
    const ghost = this.#ghostFor(remote);
    const user = mxid(to);
    switch (e.kind) {
      case 'message': {
        const roomId = await this.#ensureRoom(user, ghost, remote);
        const refs: { replaces?: string; replyTo?: string } = {};
        if (e.replaces) {
          const id = await this.#matrixIdOf(e.replaces);
          if (id) refs.replaces = id;
        }
        if (e.replyTo) {
          const id = await this.#matrixIdOf(e.replyTo);
          if (id) refs.replyTo = id;
        }
        const parts = messageToMatrix(e, refs);
        for (const [i, part] of parts.entries()) {
          const eventId = await this.#hs.sendEvent(
            ghost,
            roomId,
            part.type,
            part.content,
            sendTxnId(e.id, i),
          );
          if (i === 0) await this.#rememberIds(e.id, eventId);
          else await this.#store.set(`${this.#prefix}id:in:${eventId}`, e.id, ID_TTL_MS);
        }
        return;
      }
      case 'chatstate': {
        const roomId = await this.#roomOf(user, ghost);
        if (!roomId) return; // no conversation yet: nothing to show
        await this.#hs.sendTyping(ghost, roomId, e.state === 'composing', TYPING_TIMEOUT_MS);
        return;
      }
      case 'receipt': {
        if (e.receipt !== 'displayed') return; // Matrix has read receipts only
        const roomId = await this.#roomOf(user, ghost);
        const eventId = await this.#matrixIdOf(e.messageId);
        if (!roomId || !eventId) return;
        await this.#hs.sendReadReceipt(ghost, roomId, eventId);
        return;
      }
      case 'presence': {
        await this.#ensureGhost(ghost, remote);
        const p = presenceToMatrix(e);
        await this.#presenceInOrder(ghost, async () => {
          await this.#hs.setPresence(ghost, p.presence, p.status_msg);
          if (p.presence === 'offline') await this.#store.hdel(`${this.#prefix}ghost-presence`, ghost);
          else await this.#store.hset(`${this.#prefix}ghost-presence`, ghost, JSON.stringify(p));
        });
        return;
      }
      case 'call': {
        if (e.action === 'ringing') return; // Matrix clients show ringing from the invite
        const roomId =
          e.action === 'invite'
            ? await this.#ensureRoom(user, ghost, remote)
            : await this.#roomOf(user, ghost);
        if (!roomId) throw new HomeserverError(`no Matrix conversation for call ${e.callId}`, false);
        const sessionId = sessionIdFor(e.callId);
        const out = callToMatrix(e, 'parley', sessionId);
        if (!out) {
          if (e.action === 'candidate') return; // nothing to signal
          throw new HomeserverError(`a call ${e.action} without a session description`, false);
        }
        await this.#hs.sendEvent(ghost, roomId, out.type, out.content, sendTxnId(e.id, 0));
        return;
      }
    }
  }
}
