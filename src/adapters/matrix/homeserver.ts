// Client-server calls toward the homeserver, as ghosts: the appservice token plus the
// `user_id` assertion. matrix-js-sdk's MatrixClient gives the HTTP layer (bearer auth,
// URL prefixing, JSON, MatrixError/ConnectionError, local timeouts); the endpoints are
// called through `http.authedRequest` with `user_id` on every request, because
//  - the SDK's `queryParams` client option is not applied to requests in 37.x (so the
//    typed helpers like setDisplayName/createRoom/sendTyping cannot carry the assertion), and
//  - its high-level sendEvent/sendReceipt expect a synced Room/MatrixEvent and an encryption
//    decision, which an appservice that never syncs does not have.
import { createHash } from 'node:crypto';
import { setMaxListeners } from 'node:events';
import {
  ConnectionError,
  createClient,
  type ICreateClientOpts,
  type MatrixClient,
  MatrixError,
  Method,
} from 'matrix-js-sdk';
import type { Logger } from '../../core/logger.js';

type SdkLogger = NonNullable<ICreateClientOpts['logger']>;
type RequestOpts = NonNullable<Parameters<MatrixClient['http']['authedRequest']>[4]>;

/** A failed call: `retryable` when the homeserver is unreachable, overloaded or 5xx. */
export class HomeserverError extends Error {
  override name = 'HomeserverError';
  constructor(
    message: string,
    readonly retryable: boolean,
    readonly status?: number,
    readonly errcode?: string,
  ) {
    super(message);
  }
}

/** What the adapter needs of the homeserver (the unit tests give a fake). */
export interface HomeserverApi {
  /** True when /_matrix/client/versions answers. */
  ping(): Promise<boolean>;
  /** Register an appservice user (idempotent: an existing user is fine). */
  register(localpart: string): Promise<void>;
  setDisplayName(userId: string, name: string): Promise<void>;
  /** Create a direct-message room as `asUser`, inviting `invitee`; returns the room id. */
  createDirectRoom(asUser: string, invitee: string): Promise<string>;
  /** The rooms `asUser` has joined. */
  joinedRooms(asUser: string): Promise<string[]>;
  /** `userId`'s membership (join, invite, leave, ...) in a room `asUser` is in; null when none. */
  membership(asUser: string, roomId: string, userId: string): Promise<string | null>;
  joinRoom(asUser: string, roomId: string): Promise<void>;
  leaveRoom(asUser: string, roomId: string): Promise<void>;
  /** Send a room event; `txnId` makes a retried send idempotent. Returns the event id. */
  sendEvent(
    asUser: string,
    roomId: string,
    type: string,
    content: Record<string, unknown>,
    txnId: string,
  ): Promise<string>;
  sendTyping(asUser: string, roomId: string, typing: boolean, timeoutMs: number): Promise<void>;
  sendReadReceipt(asUser: string, roomId: string, eventId: string): Promise<void>;
  setPresence(asUser: string, presence: string, statusMsg?: string): Promise<void>;
}

export interface SdkHomeserverOptions {
  baseUrl: string;
  asToken: string;
  logger: Logger;
  timeoutMs: number;
}

function sdkLogger(log: Logger): SdkLogger {
  const l: SdkLogger = {
    trace: () => {},
    debug: () => {},
    info: () => {},
    warn: (...msg: unknown[]) => log.debug({ sdk: msg.map(String).join(' ') }, 'matrix-js-sdk'),
    error: (...msg: unknown[]) => log.debug({ sdk: msg.map(String).join(' ') }, 'matrix-js-sdk'),
    getChild: () => l,
  };
  return l;
}

/** Turn whatever the SDK threw into a HomeserverError with a retry verdict. */
export function toHomeserverError(err: unknown, what: string): HomeserverError {
  if (err instanceof HomeserverError) return err;
  if (err instanceof MatrixError) {
    const status = err.httpStatus;
    const retryable = status === undefined || status >= 500 || status === 429 || status === 408;
    return new HomeserverError(
      `${what}: ${err.errcode ?? status} ${err.data?.error ?? err.message}`,
      retryable,
      status,
      err.errcode,
    );
  }
  if (err instanceof ConnectionError)
    return new HomeserverError(`${what}: homeserver unreachable (${err.message})`, true);
  const e = err as { name?: string; message?: string; httpStatus?: number };
  if (e?.name === 'AbortError' || e?.name === 'TimeoutError')
    return new HomeserverError(`${what}: timed out`, true);
  if (typeof e?.httpStatus === 'number') {
    return new HomeserverError(
      `${what}: HTTP ${e.httpStatus}`,
      e.httpStatus >= 500 || e.httpStatus === 429,
      e.httpStatus,
    );
  }
  return new HomeserverError(`${what}: ${e?.message ?? String(err)}`, true);
}

export class SdkHomeserver implements HomeserverApi {
  readonly #bot: MatrixClient;
  readonly #sdkLog: SdkLogger;

  constructor(readonly opts: SdkHomeserverOptions) {
    this.#sdkLog = sdkLogger(opts.logger);
    this.#bot = createClient({
      baseUrl: this.opts.baseUrl,
      accessToken: this.opts.asToken,
      useAuthorizationHeader: true,
      logger: this.#sdkLog,
    });
    // The SDK hangs each request's abort listener on one client-wide signal: more than ten
    // concurrent sends would print Node's "possible EventTarget memory leak" warning.
    const shared = (this.#bot.http as unknown as { abortController?: AbortController }).abortController;
    if (shared) setMaxListeners(0, shared.signal);
  }

  /**
   * Per-request options: the timeout is our own AbortSignal.timeout (an unref'd timer). The
   * SDK's localTimeoutMs arms a plain setTimeout that is never cleared, which would keep a
   * stopping process alive for the whole timeout.
   */
  #opts(): RequestOpts {
    return { abortSignal: AbortSignal.timeout(this.opts.timeoutMs) } as RequestOpts;
  }

  async ping(): Promise<boolean> {
    try {
      const res = await fetch(`${this.opts.baseUrl}/_matrix/client/versions`, {
        signal: AbortSignal.timeout(Math.min(this.opts.timeoutMs, 5000)),
      });
      await res.arrayBuffer();
      return res.ok;
    } catch {
      return false;
    }
  }

  async register(localpart: string): Promise<void> {
    try {
      // registerRequest() sends no access token; the appservice registration needs the as_token.
      await this.#bot.http.authedRequest(
        Method.Post,
        '/register',
        undefined,
        { type: 'm.login.application_service', username: localpart, inhibit_login: true },
        this.#opts(),
      );
    } catch (err) {
      const e = toHomeserverError(err, `register ${localpart}`);
      if (e.errcode === 'M_USER_IN_USE') return;
      throw e;
    }
  }

  /** An authenticated request as `asUser` (the `user_id` assertion on every call). */
  async #as<T>(
    what: string,
    asUser: string,
    method: Method,
    path: string,
    body?: Record<string, unknown>,
  ): Promise<T> {
    try {
      return (await this.#bot.http.authedRequest<T>(
        method,
        path,
        { user_id: asUser },
        body,
        this.#opts(),
      )) as T;
    } catch (err) {
      throw toHomeserverError(err, what);
    }
  }

  async setDisplayName(userId: string, name: string): Promise<void> {
    await this.#as(
      `set display name of ${userId}`,
      userId,
      Method.Put,
      `/profile/${encodeURIComponent(userId)}/displayname`,
      {
        displayname: name,
      },
    );
  }

  async createDirectRoom(asUser: string, invitee: string): Promise<string> {
    const res = await this.#as<{ room_id: string }>(
      `create a room for ${invitee}`,
      asUser,
      Method.Post,
      '/createRoom',
      {
        invite: [invitee],
        is_direct: true,
        preset: 'trusted_private_chat',
      },
    );
    return res.room_id;
  }

  async joinedRooms(asUser: string): Promise<string[]> {
    const res = await this.#as<{ joined_rooms?: unknown }>(
      `rooms of ${asUser}`,
      asUser,
      Method.Get,
      '/joined_rooms',
    );
    return Array.isArray(res.joined_rooms)
      ? res.joined_rooms.filter((r): r is string => typeof r === 'string')
      : [];
  }

  async membership(asUser: string, roomId: string, userId: string): Promise<string | null> {
    try {
      const res = await this.#as<{ membership?: unknown }>(
        `membership of ${userId} in ${roomId}`,
        asUser,
        Method.Get,
        `/rooms/${encodeURIComponent(roomId)}/state/m.room.member/${encodeURIComponent(userId)}`,
      );
      return typeof res.membership === 'string' ? res.membership : null;
    } catch (err) {
      if (err instanceof HomeserverError && err.status === 404) return null;
      throw err;
    }
  }

  async joinRoom(asUser: string, roomId: string): Promise<void> {
    await this.#as(`join ${roomId}`, asUser, Method.Post, `/rooms/${encodeURIComponent(roomId)}/join`, {});
  }

  async leaveRoom(asUser: string, roomId: string): Promise<void> {
    await this.#as(`leave ${roomId}`, asUser, Method.Post, `/rooms/${encodeURIComponent(roomId)}/leave`, {});
  }

  async sendEvent(
    asUser: string,
    roomId: string,
    type: string,
    content: Record<string, unknown>,
    txnId: string,
  ): Promise<string> {
    const res = await this.#as<{ event_id: string }>(
      `send ${type} to ${roomId}`,
      asUser,
      Method.Put,
      `/rooms/${encodeURIComponent(roomId)}/send/${encodeURIComponent(type)}/${encodeURIComponent(txnId)}`,
      content,
    );
    return res.event_id;
  }

  async sendTyping(asUser: string, roomId: string, typing: boolean, timeoutMs: number): Promise<void> {
    await this.#as(
      `typing in ${roomId}`,
      asUser,
      Method.Put,
      `/rooms/${encodeURIComponent(roomId)}/typing/${encodeURIComponent(asUser)}`,
      typing ? { typing: true, timeout: timeoutMs } : { typing: false },
    );
  }

  async sendReadReceipt(asUser: string, roomId: string, eventId: string): Promise<void> {
    await this.#as(
      `receipt in ${roomId}`,
      asUser,
      Method.Post,
      `/rooms/${encodeURIComponent(roomId)}/receipt/m.read/${encodeURIComponent(eventId)}`,
      {},
    );
  }

  async setPresence(asUser: string, presence: string, statusMsg?: string): Promise<void> {
    await this.#as(
      `presence of ${asUser}`,
      asUser,
      Method.Put,
      `/presence/${encodeURIComponent(asUser)}/status`,
      statusMsg !== undefined ? { presence, status_msg: statusMsg } : { presence },
    );
  }
}

/** A transaction id for an outgoing event: stable for the same canonical event and part. */
export const sendTxnId = (eventId: string, part: number): string =>
  `parley.${createHash('sha256').update(`${eventId}\u0000${part}`).digest('base64url').slice(0, 32)}`;
