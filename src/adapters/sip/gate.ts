// What a request from a permitted peer passes before it is handled: digest authentication
// when configured (with a replay check shared by the replicas through the store), then the
// identities it asserts — a peer speaks only for the domains it serves, a digest user only
// for its own user@domain. A request that fails is answered here (401/407, 403), and a
// forged identity is audited as the event it would have been.
import { createHash } from 'node:crypto';
import type { AdapterState } from '../../core/delivery/state.js';
import type { Logger } from '../../core/logger.js';
import type { CanonicalEvent } from '../../core/model.js';
import { type Reply, warning } from './answers.js';
import { attemptedEvent } from './attempted.js';
import type { AuthVerdict, DigestAuth } from './auth.js';
import { domainServed } from './config.js';
import { getHeader, isSipUri, type NameAddrView, type SipRequest, tagOf, viewNameAddr } from './message.js';
import type { PeerAcl } from './peers.js';
import type { Endpoint } from './transport.js';

export interface GateDeps {
  /** The adapter's name (the attempted events' adapter). */
  name: string;
  auth: DigestAuth | null;
  peers: PeerAcl;
  logger: Logger;
  /** The adapter's state (keys under `sip:<name>:`), once started. */
  state(): AdapterState | null;
  /** True for a request inside a call already set up (its dialog was authenticated). */
  isKnownDialog(req: SipRequest): boolean;
  /** Audit and refuse the event a request with a forged identity would have been. */
  reject(event: CanonicalEvent, why: string): Promise<void>;
}

export class RequestGate {
  constructor(readonly deps: GateDeps) {}

  /**
   * Call `handle` when the request's credentials (if asked for) and the identities it
   * asserts hold; otherwise answer it with `reply`.
   */
  admit(req: SipRequest, source: Endpoint, reply: Reply, handle: () => void): void {
    const verdict = this.#authenticate(req);
    if (verdict && !verdict.ok) {
      reply(verdict.status, verdict.reason, verdict.headers);
      return;
    }
    if (!verdict) {
      this.#vouch(req, source, null, reply, handle);
      return;
    }
    this.#firstUse(verdict.once).then(
      (first) => {
        if (first) return this.#vouch(req, source, verdict, reply, handle);
        const again = this.deps.auth!.replayed();
        this.deps.logger.warn(
          { method: req.method, user: verdict.user },
          'SIP digest credentials used twice',
        );
        if (!again.ok) reply(again.status, again.reason, again.headers);
      },
      (err: unknown) => {
        // Without the store the replay cannot be ruled out: refuse rather than accept.
        this.deps.logger.error({ err }, 'SIP digest replay check failed');
        reply(500, 'Server Internal Error', [{ name: 'Retry-After', value: '5' }]);
      },
    );
  }

  /**
   * Digest authentication when configured (null when not). CANCEL cannot be challenged
   * (RFC 3261 §22.1) and a BYE in a known call belongs to a dialog already authenticated.
   */
  #authenticate(req: SipRequest): AuthVerdict | null {
    const auth = this.deps.auth;
    if (!auth || req.method === 'CANCEL') return null;
    if (req.method === 'BYE' && this.deps.isKnownDialog(req)) return null;
    const v = auth.verify(req);
    if (!v.ok)
      this.deps.logger.info(
        { method: req.method, status: v.status, reason: v.reason },
        'SIP digest authentication',
      );
    return v;
  }

  /** True the first time these credentials are seen (in every replica sharing the store). */
  #firstUse(once: string): Promise<boolean> {
    const store = this.deps.state();
    const auth = this.deps.auth;
    if (!store || !auth) return Promise.resolve(false);
    const key = `digest:${createHash('sha256').update(once).digest('base64url')}`;
    return store.setIfAbsent(key, '1', auth.config.nonceTtlMs + 60_000);
  }

  #vouch(
    req: SipRequest,
    source: Endpoint,
    verdict: AuthVerdict | null,
    reply: Reply,
    handle: () => void,
  ): void {
    const why = this.#identityProblem(req, source, verdict);
    if (!why) {
      handle();
      return;
    }
    this.#refuseIdentity(req, source, why, reply).catch((err: unknown) => {
      this.deps.logger.error({ err }, 'SIP identity refusal failed');
      reply(403, why);
    });
  }

  /**
   * Why a request asserts an identity its sender may not speak for (null when it may): the
   * From of a MESSAGE, a new INVITE or SUBSCRIBE, and the From and To (the presentity) of a
   * PUBLISH must be in a domain the peer serves, and with digest authentication be the
   * authenticated user@domain itself. Requests inside a dialog were checked when it began;
   * what does not parse is left to the handler (400).
   */
  #identityProblem(req: SipRequest, source: Endpoint, verdict: AuthVerdict | null): string | null {
    const inDialog = tagOf(getHeader(req, 'To')) !== undefined;
    let headers: ('From' | 'To')[];
    switch (req.method) {
      case 'MESSAGE':
        headers = ['From'];
        break;
      case 'INVITE':
      case 'SUBSCRIBE':
        headers = inDialog ? [] : ['From'];
        break;
      case 'PUBLISH':
        headers = ['From', 'To'];
        break;
      default:
        headers = [];
    }
    for (const name of headers) {
      let uri: NameAddrView['uri'];
      try {
        uri = viewNameAddr(getHeader(req, name) ?? '', name).uri;
      } catch {
        continue;
      }
      if (!isSipUri(uri) || uri.user === undefined) continue;
      const host = uri.host.replace(/^\[|\]$/g, '').toLowerCase();
      if (!domainServed(host, this.deps.peers.speaksFor(source.address)))
        return `${name} domain not served by this peer`;
      const auth = this.deps.auth;
      if (verdict?.ok && auth && (uri.user !== verdict.user || host !== auth.config.domain))
        return `${name} is not the authenticated user ${verdict.user}@${auth.config.domain}`;
    }
    return null;
  }

  /**
   * A request with an identity its sender may not assert: 403 with the reason, logged, and
   * audited through the pipeline as the event it would have been.
   */
  async #refuseIdentity(req: SipRequest, source: Endpoint, why: string, reply: Reply): Promise<void> {
    this.deps.logger.warn(
      { method: req.method, source, from: getHeader(req, 'From'), reason: why },
      'SIP request refused: an identity this peer may not assert',
    );
    const event = attemptedEvent(req, this.deps.name);
    if (event) await this.deps.reject(event, why);
    reply(403, why, [warning(why)]);
  }
}
