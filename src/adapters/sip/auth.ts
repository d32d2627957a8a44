// Digest authentication of inbound requests (RFC 3261 §22, RFC 2617, RFC 7616, RFC 8760):
// MD5 and SHA-256 (and their -sess forms), qop=auth (and the RFC 2069 form without qop).
// Nonces are stateless: a timestamp and random bytes sealed with an HMAC, so every replica
// that shares the secret accepts every other replica's nonce and none keeps state.
import { createHash, createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { type Header, ParseError, type SipRequest, splitOutside } from './message.js';

export type DigestAlgorithm = 'MD5' | 'MD5-sess' | 'SHA-256' | 'SHA-256-sess';
export const DIGEST_ALGORITHMS: readonly DigestAlgorithm[] = ['MD5', 'MD5-sess', 'SHA-256', 'SHA-256-sess'];

const hashName = (a: DigestAlgorithm) => (a.startsWith('SHA-256') ? 'sha256' : 'md5');
const h = (a: DigestAlgorithm, s: string) => createHash(hashName(a)).update(s, 'utf8').digest('hex');

export interface DigestInput {
  algorithm: DigestAlgorithm;
  username: string;
  realm: string;
  password: string;
  method: string;
  uri: string;
  nonce: string;
  /** With qop=auth: the nonce count (8 hex digits) and the client nonce. */
  qop?: 'auth';
  nc?: string;
  cnonce?: string;
}

/** The `response` value (RFC 7616 §3.4.1; RFC 2069 form when there is no qop). */
export function digestResponse(i: DigestInput): string {
  let ha1 = h(i.algorithm, `${i.username}:${i.realm}:${i.password}`);
  if (i.algorithm.endsWith('-sess')) ha1 = h(i.algorithm, `${ha1}:${i.nonce}:${i.cnonce ?? ''}`);
  const ha2 = h(i.algorithm, `${i.method}:${i.uri}`);
  return i.qop
    ? h(i.algorithm, `${ha1}:${i.nonce}:${i.nc ?? ''}:${i.cnonce ?? ''}:${i.qop}:${ha2}`)
    : h(i.algorithm, `${ha1}:${i.nonce}:${ha2}`);
}

/** Parse `Digest k=v, k="v", ...` into lower-cased keys; null when it is not Digest. */
export function parseDigestCredentials(value: string): Map<string, string> | null {
  const m = /^\s*Digest\s+/i.exec(value);
  if (!m) return null;
  const out = new Map<string, string>();
  for (const part of splitOutside(value.slice(m[0].length), ',')) {
    const p = part.trim();
    if (!p) continue;
    const eq = p.indexOf('=');
    if (eq <= 0) throw new ParseError(`bad digest parameter "${p.slice(0, 40)}"`);
    const k = p.slice(0, eq).trim().toLowerCase();
    let v = p.slice(eq + 1).trim();
    if (v.startsWith('"')) {
      if (!v.endsWith('"') || v.length < 2) throw new ParseError(`unterminated quoted ${k}`);
      v = v.slice(1, -1).replace(/\\(.)/g, '$1');
    }
    out.set(k, v);
  }
  return out;
}

/**
 * Stateless nonces: base64url(8-byte issue time in ms | 8 random bytes | 16-byte HMAC over
 * both and the realm). Valid while younger than the TTL; "stale" after (RFC 7616 §3.3).
 */
export class NonceMint {
  readonly #key: Buffer;

  constructor(
    secret: string | Buffer,
    readonly realm: string,
    readonly ttlMs: number,
  ) {
    this.#key = Buffer.isBuffer(secret) ? secret : Buffer.from(secret, 'utf8');
  }

  #mac(head: Buffer): Buffer {
    return createHmac('sha256', this.#key).update(head).update(this.realm).digest().subarray(0, 16);
  }

  issue(now = Date.now()): string {
    const head = Buffer.alloc(16);
    head.writeBigUInt64BE(BigInt(now), 0);
    randomBytes(8).copy(head, 8);
    return Buffer.concat([head, this.#mac(head)]).toString('base64url');
  }

  check(nonce: string, now = Date.now()): 'ok' | 'stale' | 'invalid' {
    if (!/^[A-Za-z0-9_-]{43}$/.test(nonce)) return 'invalid';
    const raw = Buffer.from(nonce, 'base64url');
    if (raw.length !== 32) return 'invalid';
    const head = raw.subarray(0, 16);
    if (!timingSafeEqual(raw.subarray(16), this.#mac(head))) return 'invalid';
    const issued = Number(head.readBigUInt64BE(0));
    if (issued > now + 60_000) return 'invalid'; // from the future: another clock, or forged
    return now - issued > this.ttlMs ? 'stale' : 'ok';
  }
}

export interface DigestAuthConfig {
  realm: string;
  /**
   * The domain of every user (lower case): an authenticated user is `user@domain` and may
   * assert only that identity (the adapter checks From; config.ts picks the domain).
   */
  domain: string;
  /** user -> password. */
  users: Record<string, string>;
  /** Offered in this order (one challenge header each). */
  algorithms: DigestAlgorithm[];
  secret: string | Buffer;
  nonceTtlMs: number;
  /** 407 / Proxy-Authenticate / Proxy-Authorization instead of 401 / WWW-Authenticate / Authorization. */
  proxy: boolean;
}

/** What to do with a request: go on (with the authenticated user) or answer it. */
export type AuthVerdict =
  /**
   * `once`: what identifies these credentials (nonce, nonce count and client nonce; or
   * nonce and response without qop). The adapter accepts each at most once within the
   * nonce's lifetime, across replicas: a captured request replayed is challenged again.
   */
  { ok: true; user: string; once: string } | { ok: false; status: number; reason: string; headers: Header[] };

export class DigestAuth {
  readonly mint: NonceMint;

  constructor(readonly config: DigestAuthConfig) {
    this.mint = new NonceMint(config.secret, config.realm, config.nonceTtlMs);
  }

  /** The challenge headers (one per algorithm; RFC 8760 §2.4: preferred first). */
  challenge(stale = false): Header[] {
    const name = this.config.proxy ? 'Proxy-Authenticate' : 'WWW-Authenticate';
    const nonce = this.mint.issue();
    const realm = this.config.realm.replace(/["\\]/g, '');
    return this.config.algorithms.map((a) => ({
      name,
      value: `Digest realm="${realm}", nonce="${nonce}", algorithm=${a}, qop="auth"${stale ? ', stale=TRUE' : ''}`,
    }));
  }

  #challenge(reason: string, stale = false): AuthVerdict {
    return this.config.proxy
      ? { ok: false, status: 407, reason: 'Proxy Authentication Required', headers: this.challenge(stale) }
      : { ok: false, status: 401, reason: reason || 'Unauthorized', headers: this.challenge(stale) };
  }

  #forbidden(why: string): AuthVerdict {
    return {
      ok: false,
      status: 403,
      reason: why,
      headers: [{ name: 'Warning', value: `399 parley "${why}"` }],
    };
  }

  /** Check a request's credentials for our realm. */
  verify(req: SipRequest): AuthVerdict {
    const header = this.config.proxy ? 'Proxy-Authorization' : 'Authorization';
    let creds: Map<string, string> | null = null;
    try {
      for (const hd of req.headers) {
        if (hd.name !== header) continue;
        const c = parseDigestCredentials(hd.value);
        if (c && c.get('realm') === this.config.realm) {
          creds = c;
          break;
        }
      }
    } catch (err) {
      return {
        ok: false,
        status: 400,
        reason: `bad ${header}: ${(err as Error).message}`,
        headers: [],
      };
    }
    if (!creds) return this.#challenge('Unauthorized');
    const username = creds.get('username') ?? '';
    const nonce = creds.get('nonce') ?? '';
    const uri = creds.get('uri') ?? '';
    const response = (creds.get('response') ?? '').toLowerCase();
    const algorithm = (creds.get('algorithm') ?? 'MD5') as DigestAlgorithm;
    const qop = creds.get('qop');
    if (!this.config.algorithms.some((a) => a.toLowerCase() === algorithm.toLowerCase()))
      return this.#challenge('Unsupported digest algorithm');
    if (qop !== undefined && qop.toLowerCase() !== 'auth') return this.#challenge('Unsupported qop');
    if (qop && (!/^[0-9a-fA-F]{8}$/.test(creds.get('nc') ?? '') || !creds.get('cnonce')))
      return { ok: false, status: 400, reason: 'qop=auth needs nc and cnonce', headers: [] };
    const state = this.mint.check(nonce);
    if (state === 'invalid') return this.#challenge('Unauthorized');
    // `uri` is not compared with the Request-URI: proxies rewrite it, and clients differ
    // (SIPp puts the next hop's address there); the response binds whatever uri was hashed.
    if (!uri) return { ok: false, status: 400, reason: 'the digest credentials have no uri', headers: [] };
    const password = Object.hasOwn(this.config.users, username) ? this.config.users[username] : undefined;
    if (password === undefined) return this.#forbidden('Wrong credentials');
    const alg = this.config.algorithms.find((a) => a.toLowerCase() === algorithm.toLowerCase())!;
    const expected = digestResponse({
      algorithm: alg,
      username,
      realm: this.config.realm,
      password,
      method: req.method,
      uri,
      nonce,
      ...(qop ? { qop: 'auth' as const, nc: creds.get('nc')!, cnonce: creds.get('cnonce')! } : {}),
    });
    const a = Buffer.from(expected);
    const b = Buffer.from(response);
    if (a.length !== b.length || !timingSafeEqual(a, b)) return this.#forbidden('Wrong credentials');
    // Right password, old nonce: ask again without bothering the user (RFC 7616 §3.3).
    if (state === 'stale') return this.#challenge('Unauthorized', true);
    // The authenticated user speaks only for themselves: the adapter compares From (user
    // and domain) with `user@domain` and audits a mismatch.
    const once = qop
      ? `${nonce}|${creds.get('nc')!.toLowerCase()}|${creds.get('cnonce')}`
      : `${nonce}|${response}`;
    return { ok: true, user: username, once };
  }

  /**
   * The answer to credentials used before (RFC 7616 §3.3 leaves repeated nonce counts to
   * the server): a fresh challenge marked stale, so an honest client that resent them
   * retries with the new nonce without asking its user, and a replay gets nothing.
   */
  replayed(): AuthVerdict {
    return this.#challenge('Unauthorized', true);
  }
}
