// SIP messages (RFC 3261 §7, §20, §25): parse and serialise requests and responses.
// Strict where garbage must get a 400 (RFC 4475 §3.1.2), tolerant where the grammar is
// (LWS and folding anywhere LWS may appear, compact header forms, any header order,
// unknown headers kept opaque). Everything thrown here is a ParseError.

import { Memo } from '../../core/memo.js';

export class ParseError extends Error {
  override name = 'ParseError';
  /** The response a request with this problem deserves (400 unless said otherwise). */
  readonly status: number;
  constructor(message: string, status = 400) {
    super(message);
    this.status = status;
  }
}

export type Params = Map<string, string | null>;

export interface Header {
  /** Canonical name (`Via`, `Call-ID`, ...) for known headers, else as received. */
  name: string;
  /** Unfolded value, trimmed. */
  value: string;
}

interface MessageBase {
  headers: Header[];
  body: Buffer;
}

export interface SipRequest extends MessageBase {
  kind: 'request';
  method: string;
  uri: string;
}

export interface SipResponse extends MessageBase {
  kind: 'response';
  status: number;
  reason: string;
}

export type SipMessage = SipRequest | SipResponse;

// ---------------------------------------------------------------------------------------
// Lexical classes (RFC 3261 §25.1)

/** token characters (RFC 3261 §25.1), by character code: a table lookup beats a regex call. */
const TOKEN_CHAR = new Uint8Array(128);
for (const c of "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-.!%*_+`'~")
  TOKEN_CHAR[c.charCodeAt(0)] = 1;
const isTokenChar = (c: number): boolean => c < 128 && TOKEN_CHAR[c] === 1;
const isToken = (s: string): boolean => {
  if (s.length === 0) return false;
  for (let i = 0; i < s.length; i++) if (!isTokenChar(s.charCodeAt(i))) return false;
  return true;
};
// Call-ID word: token characters plus ( ) < > : \ " / [ ] ? { }
const WORD = /^[A-Za-z0-9\-.!%*_+`'~()<>:\\"/[\]?{}]+$/;
const DIGITS = /^[0-9]+$/;
const ESC = '%[0-9A-Fa-f]{2}';
const UNRESERVED = "A-Za-z0-9\\-_.!~*'()";
const USER_RE = new RegExp(`^(?:[${UNRESERVED}&=+$,;?/]|${ESC})+$`);
const PASSWORD_RE = new RegExp(`^(?:[${UNRESERVED}&=+$,]|${ESC})*$`);
const PARAMCHAR_RE = new RegExp(`^(?:[${UNRESERVED}[\\]/:&+$]|${ESC})+$`);
const HCHAR_RE = new RegExp(`^(?:[${UNRESERVED}[\\]/?:+$]|${ESC})*$`);
const HOSTNAME_RE =
  /^(?:[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?\.)*[A-Za-z](?:[A-Za-z0-9-]*[A-Za-z0-9])?\.?$/;
const IPV4_RE = /^(?:\d{1,3}\.){3}\d{1,3}$/;
const IPV6REF_RE = /^\[[0-9A-Fa-f:.]+\]$/;
const SCHEME_RE = /^[A-Za-z][A-Za-z0-9+\-.]*$/;
// absoluteURI's opaque part: RFC 2396 uric characters.
const URIC_RE = new RegExp(`^(?:[${UNRESERVED};/?:@&=+$,[\\]]|${ESC})+$`);

const MAX_INT32 = 2 ** 31 - 1;

/** True when s holds a control character (other than HT when `tab` allows it). */
export function hasControl(s: string, tab = false): boolean {
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if ((c < 0x20 && !(tab && c === 0x09)) || c === 0x7f) return true;
  }
  return false;
}

/** Compact forms (RFC 3261 §7.3.3 and the extensions that define one). */
const COMPACT: Record<string, string> = {
  i: 'Call-ID',
  m: 'Contact',
  e: 'Content-Encoding',
  l: 'Content-Length',
  c: 'Content-Type',
  f: 'From',
  s: 'Subject',
  k: 'Supported',
  t: 'To',
  v: 'Via',
  o: 'Event',
  u: 'Allow-Events',
  r: 'Refer-To',
  b: 'Referred-By',
  x: 'Session-Expires',
};
const CANONICAL = new Map(
  [
    'Accept',
    'Accept-Encoding',
    'Accept-Language',
    'Allow',
    'Allow-Events',
    'Authorization',
    'Call-ID',
    'Contact',
    'Content-Disposition',
    'Content-Encoding',
    'Content-Length',
    'Content-Type',
    'CSeq',
    'Date',
    'Event',
    'Expires',
    'From',
    'Max-Forwards',
    'Min-Expires',
    'Proxy-Authorization',
    'Proxy-Require',
    'Reason',
    'Record-Route',
    'Require',
    'Retry-After',
    'Route',
    'Server',
    'SIP-ETag',
    'SIP-If-Match',
    'Subject',
    'Subscription-State',
    'Supported',
    'Timestamp',
    'To',
    'Unsupported',
    'User-Agent',
    'Via',
    'Warning',
    'WWW-Authenticate',
  ].map((n) => [n.toLowerCase(), n]),
);

/** The canonical spelling of a header name (compact forms expanded). */
const CANONICAL_EXACT = new Set(CANONICAL.values());

export function canonicalName(name: string): string {
  if (CANONICAL_EXACT.has(name)) return name;
  const lower = name.toLowerCase();
  return COMPACT[lower] ?? CANONICAL.get(lower) ?? name;
}

/** Headers that may appear at most once (RFC 3261 §20, table 2). */
const SINGLE = new Set([
  'Call-ID',
  'Content-Length',
  'Content-Type',
  'CSeq',
  'From',
  'Max-Forwards',
  'To',
  'Expires',
  'Date',
]);

/** Headers whose value is a comma-separated list (and that may be split or combined). */
const LIST = new Set([
  'Accept',
  'Accept-Encoding',
  'Accept-Language',
  'Allow',
  'Allow-Events',
  'Contact',
  'Content-Encoding',
  'Proxy-Require',
  'Record-Route',
  'Require',
  'Route',
  'Supported',
  'Unsupported',
  'Via',
  'Warning',
]);

// ---------------------------------------------------------------------------------------
// Small scanners

/** Split at `sep` outside quoted strings and <...>; throws on an unterminated quote. */
export function splitOutside(s: string, sep: string): string[] {
  // Most values hold neither quotes nor <...>: a plain split gives the same answer.
  if (!s.includes('"') && !s.includes('<')) return s.split(sep);
  const out: string[] = [];
  let cur = '';
  let quoted = false;
  let angle = false;
  for (let i = 0; i < s.length; i++) {
    const ch = s[i]!;
    if (quoted) {
      cur += ch;
      if (ch === '\\') {
        if (i + 1 >= s.length) throw new ParseError('unterminated quoted string');
        cur += s[++i];
      } else if (ch === '"') quoted = false;
      continue;
    }
    if (ch === '"' && !angle) quoted = true;
    else if (ch === '<') angle = true;
    else if (ch === '>') angle = false;
    if (ch === sep && !angle) {
      out.push(cur);
      cur = '';
    } else cur += ch;
  }
  if (quoted) throw new ParseError('unterminated quoted string');
  out.push(cur);
  return out;
}

/** Read a quoted-string starting at s[i] === '"'; returns the decoded text and the index after it. */
function readQuoted(s: string, i: number): { text: string; end: number } {
  let text = '';
  for (let j = i + 1; j < s.length; j++) {
    const ch = s[j]!;
    if (ch === '\\') {
      if (j + 1 >= s.length) break;
      const next = s[j + 1]!;
      if (next === '\r' || next === '\n') throw new ParseError('CR or LF escaped in a quoted string');
      text += next;
      j++;
    } else if (ch === '"') return { text, end: j + 1 };
    else if (ch === '\r' || ch === '\n') throw new ParseError('CR or LF inside a quoted string');
    else text += ch;
  }
  throw new ParseError('unterminated quoted string');
}

const LWS = /^[ \t]*$/;

/** Parse `;name[=value]` generic params (header params); LWS allowed around ; and =. */
export function parseParams(s: string, what: string): Params {
  const t = s.trim();
  if (t.charCodeAt(0) === 59) {
    const fast = parseTokenParams(t);
    if (fast) return fast;
  }
  return parseParamsGeneral(s, what);
}

/**
 * The common case in one pass: `;name[=value]...` of tokens only (no LWS, quotes or IPv6
 * references). Null when `t` is anything else, including anything malformed: the general
 * parser then decides, with its error.
 */
function parseTokenParams(t: string): Params | null {
  const params: Params = new Map();
  const n = t.length;
  let i = 1;
  for (;;) {
    const start = i;
    let eq = -1;
    let upper = false;
    for (; i < n; i++) {
      const c = t.charCodeAt(i);
      if (c === 59) break; // ;
      if (c === 61) {
        // =
        if (eq >= 0) return null;
        eq = i;
      } else if (!isTokenChar(c)) return null;
      else if (eq < 0 && c >= 65 && c <= 90) upper = true;
    }
    if (eq < 0) {
      if (i === start) return null;
      const name = t.slice(start, i);
      params.set(upper ? name.toLowerCase() : name, null);
    } else {
      if (eq === start || eq + 1 === i) return null;
      const name = t.slice(start, eq);
      params.set(upper ? name.toLowerCase() : name, t.slice(eq + 1, i));
    }
    if (i >= n) return params;
    i++;
  }
}

/** parseParams for any input (exported as the reference its fast path is tested against). */
export function parseParamsGeneral(s: string, what: string): Params {
  const params: Params = new Map();
  const t = s.trim();
  if (t === '') return params;
  if (!t.startsWith(';')) throw new ParseError(`${what}: unexpected "${t.slice(0, 20)}"`);
  for (const raw of splitOutside(t.slice(1), ';')) {
    const eq = raw.indexOf('=');
    const name = (eq < 0 ? raw : raw.slice(0, eq)).trim();
    if (!isToken(name)) throw new ParseError(`${what}: bad parameter name "${name.slice(0, 40)}"`);
    let value: string | null = null;
    if (eq >= 0) {
      const v = raw.slice(eq + 1).trim();
      if (v.startsWith('"')) {
        const q = readQuoted(v, 0);
        if (!LWS.test(v.slice(q.end))) throw new ParseError(`${what}: junk after a quoted parameter value`);
        value = q.text;
      } else if (isToken(v) || IPV6REF_RE.test(v)) value = v;
      else throw new ParseError(`${what}: bad value for parameter ${name}`);
    }
    params.set(name.toLowerCase(), value);
  }
  return params;
}

// ---------------------------------------------------------------------------------------
// URIs (RFC 3261 §19.1, §25.1)

export interface SipUri {
  scheme: 'sip' | 'sips';
  user?: string;
  password?: string;
  host: string;
  port?: number;
  params: Params;
  headers: Map<string, string>;
}

export type Uri = SipUri | { scheme: string; opaque: string };

export const isSipUri = (u: Uri): u is SipUri => u.scheme === 'sip' || u.scheme === 'sips';

const pct = (s: string): string => {
  try {
    return decodeURIComponent(s);
  } catch {
    // %00-escaped binary that is not UTF-8: decode byte-wise as latin1.
    return s.replace(/%([0-9A-Fa-f]{2})/g, (_m, h: string) => String.fromCharCode(Number.parseInt(h, 16)));
  }
};

export function parseHostPort(s: string, what: string): { host: string; port?: number } {
  let host = s;
  let portText: string | undefined;
  if (s.startsWith('[')) {
    const close = s.indexOf(']');
    if (close < 0) throw new ParseError(`${what}: unterminated IPv6 reference`);
    host = s.slice(0, close + 1);
    const rest = s.slice(close + 1);
    if (rest) {
      if (!rest.startsWith(':')) throw new ParseError(`${what}: junk after the IPv6 reference`);
      portText = rest.slice(1);
    }
    if (!IPV6REF_RE.test(host)) throw new ParseError(`${what}: bad IPv6 reference`);
  } else {
    const colon = s.indexOf(':');
    if (colon >= 0) {
      host = s.slice(0, colon);
      portText = s.slice(colon + 1);
    }
    if (IPV4_RE.test(host)) {
      if (host.split('.').some((o) => Number(o) > 255)) throw new ParseError(`${what}: bad IPv4 address`);
    } else if (!HOSTNAME_RE.test(host)) {
      throw new ParseError(`${what}: bad host "${host.slice(0, 64)}"`);
    }
    host = host.toLowerCase();
  }
  if (portText === undefined) return { host };
  if (!/^\d{1,5}$/.test(portText) || Number(portText) > 65535) throw new ParseError(`${what}: bad port`);
  return { host, port: Number(portText) };
}

function parseUriUncached(s: string, what: string): Uri {
  const colon = s.indexOf(':');
  if (colon <= 0) throw new ParseError(`${what}: no scheme in "${s.slice(0, 64)}"`);
  const scheme = s.slice(0, colon).toLowerCase();
  if (!SCHEME_RE.test(scheme)) throw new ParseError(`${what}: bad scheme`);
  const rest = s.slice(colon + 1);
  if (scheme !== 'sip' && scheme !== 'sips') {
    if (!URIC_RE.test(rest)) throw new ParseError(`${what}: bad characters in ${scheme}: URI`);
    return { scheme, opaque: rest };
  }
  // userinfo ends at the last '@' (neither params nor headers may hold an unescaped '@').
  const at = rest.lastIndexOf('@');
  let user: string | undefined;
  let password: string | undefined;
  let hostPart = rest;
  if (at >= 0) {
    const userinfo = rest.slice(0, at);
    hostPart = rest.slice(at + 1);
    const pw = userinfo.indexOf(':');
    const u = pw < 0 ? userinfo : userinfo.slice(0, pw);
    if (!USER_RE.test(u)) throw new ParseError(`${what}: bad user part`);
    user = pct(u);
    if (pw >= 0) {
      const p = userinfo.slice(pw + 1);
      if (!PASSWORD_RE.test(p)) throw new ParseError(`${what}: bad password part`);
      password = pct(p);
    }
  }
  const q = hostPart.indexOf('?');
  const beforeHeaders = q < 0 ? hostPart : hostPart.slice(0, q);
  const headerPart = q < 0 ? null : hostPart.slice(q + 1);
  const [hostport = '', ...paramList] = beforeHeaders.split(';');
  const hp = parseHostPort(hostport, what);
  const params: Params = new Map();
  for (const p of paramList) {
    const eq = p.indexOf('=');
    const name = eq < 0 ? p : p.slice(0, eq);
    if (!PARAMCHAR_RE.test(name)) throw new ParseError(`${what}: bad URI parameter "${name.slice(0, 40)}"`);
    let value: string | null = null;
    if (eq >= 0) {
      const v = p.slice(eq + 1);
      if (!PARAMCHAR_RE.test(v)) throw new ParseError(`${what}: bad URI parameter value`);
      value = pct(v);
    }
    params.set(pct(name).toLowerCase(), value);
  }
  const headers = new Map<string, string>();
  if (headerPart !== null) {
    for (const h of headerPart.split('&')) {
      const eq = h.indexOf('=');
      if (eq <= 0) throw new ParseError(`${what}: bad URI header`);
      const name = h.slice(0, eq);
      const value = h.slice(eq + 1);
      if (!HCHAR_RE.test(name) || !HCHAR_RE.test(value)) throw new ParseError(`${what}: bad URI header`);
      headers.set(pct(name), pct(value));
    }
  }
  const uri: SipUri = { scheme, host: hp.host, params, headers };
  if (user !== undefined) uri.user = user;
  if (password !== undefined) uri.password = password;
  if (hp.port !== undefined) uri.port = hp.port;
  return uri;
}

const USER_OUT = /[^A-Za-z0-9\-_.!~*'()&=+$,;?/]/g;
const PARAM_OUT = /[^A-Za-z0-9\-_.!~*'()[\]/:&+$]/g;
const escapeOut = (s: string, re: RegExp): string =>
  s.replace(re, (c) =>
    [...Buffer.from(c, 'utf8')].map((b) => `%${b.toString(16).toUpperCase().padStart(2, '0')}`).join(''),
  );

export function formatUri(u: Uri): string {
  if (!isSipUri(u)) return `${u.scheme}:${u.opaque}`;
  let s = `${u.scheme}:`;
  if (u.user !== undefined) {
    s += escapeOut(u.user, USER_OUT);
    if (u.password !== undefined) s += `:${escapeOut(u.password, /[^A-Za-z0-9\-_.!~*'()&=+$,]/g)}`;
    s += '@';
  }
  s += u.host;
  if (u.port !== undefined) s += `:${u.port}`;
  for (const [k, v] of u.params)
    s += `;${escapeOut(k, PARAM_OUT)}${v === null ? '' : `=${escapeOut(v, PARAM_OUT)}`}`;
  if (u.headers.size) {
    s += `?${[...u.headers].map(([k, v]) => `${escapeOut(k, /[^A-Za-z0-9\-_.!~*'()[\]/?:+$]/g)}=${escapeOut(v, /[^A-Za-z0-9\-_.!~*'()[\]/?:+$]/g)}`).join('&')}`;
  }
  return s;
}

// ---------------------------------------------------------------------------------------
// name-addr / addr-spec (To, From, Contact, Route, Record-Route)

export interface NameAddr {
  display?: string;
  uri: Uri;
  params: Params;
}

function parseNameAddrUncached(s: string, what: string): NameAddr {
  const v = s.trim();
  if (v === '') throw new ParseError(`${what}: empty`);
  let display: string | undefined;
  let i = 0;
  if (v.startsWith('"')) {
    const q = readQuoted(v, 0);
    display = q.text;
    i = q.end;
    while (v[i] === ' ' || v[i] === '\t') i++;
    if (v[i] !== '<') throw new ParseError(`${what}: a quoted display name must be followed by <URI>`);
  }
  const lt = v.indexOf('<', i);
  if (lt >= 0 && (display !== undefined || !v.slice(0, lt).includes(';'))) {
    if (display === undefined) {
      const d = v.slice(0, lt).trim();
      if (d !== '') {
        // display-name = *(token LWS)
        if (!d.split(/[ \t]+/).every(isToken))
          throw new ParseError(`${what}: display name must be a token list or quoted`);
        display = d;
      }
    }
    const gt = v.indexOf('>', lt);
    if (gt < 0) throw new ParseError(`${what}: unterminated <URI>`);
    const inner = v.slice(lt + 1, gt);
    if (/[ \t]/.test(inner)) throw new ParseError(`${what}: whitespace inside <URI>`);
    // The URI repeats across a dialog's messages even when the tag makes the header unique.
    const uri = uriCache.get(inner, () => parseUriUncached(inner, what));
    const params = parseParams(v.slice(gt + 1), what);
    return display === undefined ? { uri, params } : { display, uri, params };
  }
  // addr-spec: the URI ends at the first ';' (which begins header params), and may not
  // contain ',', ';' or '?' itself (RFC 3261 §20.10).
  const semi = v.indexOf(';');
  const spec = (semi < 0 ? v : v.slice(0, semi)).trim();
  if (/[ \t,?]/.test(spec))
    throw new ParseError(`${what}: a URI with ",", "?" or spaces must be enclosed in <>`);
  const uri = parseUriUncached(spec, what);
  return { uri, params: parseParams(semi < 0 ? '' : v.slice(semi), what) };
}

export function formatNameAddr(n: NameAddr): string {
  const d = n.display === undefined ? '' : `"${n.display.replace(/["\\]/g, (c) => `\\${c}`)}" `;
  let s = `${d}<${formatUri(n.uri)}>`;
  for (const [k, v] of n.params)
    s += `;${k}${v === null ? '' : `=${isToken(v) ? v : `"${v.replace(/["\\]/g, (c) => `\\${c}`)}"`}`}`;
  return s;
}

// ---------------------------------------------------------------------------------------
// Via (RFC 3261 §20.42)

export interface Via {
  transport: string;
  host: string;
  port?: number;
  params: Params;
}

interface SentBy {
  transport: string;
  host: string;
  port?: number;
}

function parseSentByUncached(semi: string): SentBy {
  const m =
    /^\s*([A-Za-z0-9\-.!%*_+`'~]+)\s*\/\s*([A-Za-z0-9\-.!%*_+`'~]+)\s*\/\s*([A-Za-z0-9\-.!%*_+`'~]+)\s+(\S+)\s*$/.exec(
      semi,
    );
  if (!m) throw new ParseError('Via: expected "SIP/2.0/transport host[:port]"');
  if (m[1]!.toUpperCase() !== 'SIP') throw new ParseError('Via: protocol is not SIP');
  if (m[2] !== '2.0') throw new ParseError(`Via: SIP version ${m[2]} is not supported`, 505);
  const hp = parseHostPort(m[4]!, 'Via');
  const out: SentBy = { transport: m[3]!.toUpperCase(), host: hp.host };
  if (hp.port !== undefined) out.port = hp.port;
  return out;
}

function parseViaUncached(s: string): Via {
  // The protocol and sent-by hold no ';' or quotes, so the first ';' starts the params.
  const cut = s.indexOf(';');
  const semi = cut < 0 ? s : s.slice(0, cut);
  const paramsPart = cut < 0 ? '' : s.slice(cut);
  // One sender's Vias differ only in their branch: the sent-by part is remembered.
  const sent = sentByCache.get(semi, () => parseSentByUncached(semi));
  const params = parseParams(paramsPart, 'Via');
  for (const k of ['ttl', 'rport']) {
    const v = params.get(k);
    if (v !== undefined && v !== null && (!DIGITS.test(v) || Number(v) > 65535))
      throw new ParseError(`Via: bad ${k}`);
  }
  const via: Via = { transport: sent.transport, host: sent.host, params };
  if (sent.port !== undefined) via.port = sent.port;
  return via;
}

/**
 * A Via of ours, `SIP/2.0/<transport> <hostport>;branch=<branch>;rport`. Its parse is
 * remembered, so the transaction layer's first look at it (the key) is not a parse.
 */
export function formatOwnVia(transport: string, hostport: string, branch: string): string {
  const semi = `SIP/2.0/${transport.toUpperCase()} ${hostport}`;
  const text = `${semi};branch=${branch};rport`;
  if (!isToken(branch)) return text; // not ours to vouch for: parsed when viewed, as any
  const sent = sentByCache.get(semi, () => parseSentByUncached(semi));
  const params: Params = new Map([
    ['branch', branch],
    ['rport', null],
  ]);
  const via: Via = { transport: sent.transport, host: sent.host, params };
  if (sent.port !== undefined) via.port = sent.port;
  viaCache.remember(text, via);
  return text;
}

/** Remember the parse of a Via just formatted (formatVia(via) === text); `via` must not change after. */
export function rememberVia(text: string, via: Via): void {
  viaCache.remember(text, via);
}

export function formatVia(v: Via): string {
  let s = `SIP/2.0/${v.transport} ${v.host}${v.port !== undefined ? `:${v.port}` : ''}`;
  for (const [k, val] of v.params) s += `;${k}${val === null ? '' : `=${val}`}`;
  return s;
}

// ---------------------------------------------------------------------------------------
// Memoised parsing. One message's Via, From, To and URIs are parsed by the checks here and
// again by the transaction layer and the adapter, and dialogs repeat them across messages:
// a small cache of successful parses (by exact text) makes the repeats a copy. Callers get
// their own copy, so mutating a result (e.g. stamping `received` on a Via) cannot leak.

/** At most 4,096 texts per kind; longer than 512 characters: parsed every time. */
const CACHE_MAX = 4096;
const CACHE_KEY_MAX = 512;
/**
 * Vias and From/To carry a branch or tag, new in each transaction: their memos serve the
 * repeats within one message's handling, so they stay small. At 4,096 entries each parse
 * lived for thousands of messages, long enough to be promoted to the old generation.
 */
const PER_MESSAGE_MAX = 64;

const uriCache = new Memo<Uri>(CACHE_MAX, CACHE_KEY_MAX);
const nameAddrCache = new Memo<NameAddr>(PER_MESSAGE_MAX, CACHE_KEY_MAX);
const viaCache = new Memo<Via>(PER_MESSAGE_MAX, CACHE_KEY_MAX);
const sentByCache = new Memo<SentBy>(CACHE_MAX, CACHE_KEY_MAX);

const copyUri = (u: Uri): Uri =>
  isSipUri(u) ? { ...u, params: new Map(u.params), headers: new Map(u.headers) } : { ...u };

/** Parse a URI: sip/sips in full, any other scheme as an opaque absoluteURI. */
export function parseUri(s: string, what = 'URI'): Uri {
  return copyUri(uriCache.get(s, () => parseUriUncached(s, what)));
}

/** Parse `[display-name] <uri> *(;param)` or `addr-spec *(;param)`. */
export function parseNameAddr(s: string, what: string): NameAddr {
  const n = nameAddrCache.get(s, () => parseNameAddrUncached(s, what));
  const out: NameAddr = { uri: copyUri(n.uri), params: new Map(n.params) };
  if (n.display !== undefined) out.display = n.display;
  return out;
}

export function parseVia(s: string): Via {
  const v = viaCache.get(s, () => parseViaUncached(s));
  return { ...v, params: new Map(v.params) };
}

// Views: the shared cached parse, for callers that only read it (validation, transaction
// keys, tags). No copy is made, so they must not change it; the types say so.
type ReadonlyParams = ReadonlyMap<string, string | null>;
export type ViaView = Readonly<Omit<Via, 'params'>> & { readonly params: ReadonlyParams };
export type NameAddrView = Readonly<Omit<NameAddr, 'params'>> & { readonly params: ReadonlyParams };

export function viewVia(s: string): ViaView {
  return viaCache.get(s, () => parseViaUncached(s));
}

export function viewNameAddr(s: string, what: string): NameAddrView {
  return nameAddrCache.get(s, () => parseNameAddrUncached(s, what));
}

// ---------------------------------------------------------------------------------------
// Messages

export const SIP_VERSION = 'SIP/2.0';
const MAX_HEAD = 64 * 1024;

/**
 * Split the header section at CRLF. A bare CR or bare LF (RFC 3261 §7: every line ends with
 * CRLF, folding is CRLF then SP/HT), or a NUL outside a quoted-pair, is refused: a CR left
 * in a value would make a message serialize cannot send, a stack that splits lines at a
 * bare LF or CR would read other headers than we do, and a NUL ends a C string.
 */
function splitLines(head: string): string[] {
  for (let nul = head.indexOf('\0'); nul >= 0; nul = head.indexOf('\0', nul + 1)) {
    // A quoted-pair may escape a NUL (RFC 3261 §25.1; RFC 4475 intmeth): an odd run of
    // backslashes before it.
    let b = nul;
    while (b > 0 && head.charCodeAt(b - 1) === 92) b--;
    if ((nul - b) % 2 === 0) throw badLine(head, nul, 'a NUL');
  }
  const lines: string[] = [];
  let from = 0;
  // The next CR from `from`: on a good line it is the one just before the line's LF.
  let cr = head.indexOf('\r');
  for (;;) {
    const lf = head.indexOf('\n', from);
    if (lf < 0) {
      if (cr >= 0) throw badLine(head, cr, 'a bare CR');
      lines.push(head.slice(from));
      return lines;
    }
    if (cr >= 0 && cr < lf - 1) throw badLine(head, cr, 'a bare CR');
    if (cr < 0 || cr !== lf - 1) throw badLine(head, lf, 'a bare LF');
    lines.push(head.slice(from, cr));
    from = lf + 1;
    cr = head.indexOf('\r', from);
  }
}

/** The error for a bad character at `at` in the header section: its line, number and text. */
function badLine(head: string, at: number, what: string): ParseError {
  const start = at === 0 ? 0 : head.lastIndexOf('\n', at - 1) + 1;
  let n = 1;
  for (let i = head.indexOf('\n'); i >= 0 && i < start; i = head.indexOf('\n', i + 1)) n++;
  const end = head.indexOf('\r\n', at);
  const text = head.slice(start, Math.min(start + 80, end < 0 ? head.length : end));
  return new ParseError(
    `${what} in line ${n} of the header section (${escapeControls(text)}); lines end with CRLF`,
  );
}

/**
 * Control characters as <CR>, <LF>, <NUL>, <0x07>: the text goes into a log line and a
 * reason phrase (which keeps neither controls nor quotes and backslashes).
 */
function escapeControls(s: string): string {
  let out = '';
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c === 13) out += '<CR>';
    else if (c === 10) out += '<LF>';
    else if (c === 0) out += '<NUL>';
    else if (c < 0x20 || c === 0x7f) out += `<0x${c.toString(16).padStart(2, '0')}>`;
    else out += s[i];
  }
  return out;
}

/** Decode the header block (everything before the empty line) into a start line and headers. */
function parseHead(head: string): { start: string; headers: Header[] } {
  const lines = splitLines(head);
  const start = lines[0] ?? '';
  const headers: Header[] = [];
  for (let i = 1; i < lines.length; i++) {
    const line = lines[i]!;
    if (line.startsWith(' ') || line.startsWith('\t')) {
      const last = headers[headers.length - 1];
      if (!last) throw new ParseError('a continuation line before any header');
      last.value = `${last.value} ${line.trim()}`.trim();
      continue;
    }
    const colon = line.indexOf(':');
    if (colon < 0) throw new ParseError(`header line without a colon: "${line.slice(0, 40)}"`);
    const name = line.slice(0, colon).replace(/[ \t]+$/, '');
    if (!isToken(name)) throw new ParseError(`bad header name "${name.slice(0, 40)}"`);
    headers.push({ name: canonicalName(name), value: line.slice(colon + 1).trim() });
  }
  return { start, headers };
}

function parseStartLine(
  start: string,
): Omit<SipRequest, 'headers' | 'body'> | Omit<SipResponse, 'headers' | 'body'> {
  if (start.startsWith('SIP/')) {
    const m = /^SIP\/(\d+\.\d+) (\d{3})(?: (.*))?$/.exec(start);
    if (!m) throw new ParseError('bad status line');
    if (m[1] !== '2.0') throw new ParseError(`SIP version ${m[1]} is not supported`, 505);
    const status = Number(m[2]);
    if (status < 100 || status > 699) throw new ParseError('status code out of range');
    const reason = m[3] ?? '';
    if (hasControl(reason, true)) throw new ParseError('control characters in the reason phrase');
    return { kind: 'response', status, reason };
  }
  const parts = start.split(' ');
  if (parts.length !== 3) throw new ParseError('request line must be "Method SP Request-URI SP SIP/2.0"');
  const [method, uri, version] = parts as [string, string, string];
  if (!isToken(method)) throw new ParseError('bad method');
  if (!/^SIP\/\d+\.\d+$/.test(version)) throw new ParseError('bad SIP version in the request line');
  if (version !== SIP_VERSION) throw new ParseError(`SIP version ${version.slice(4)} is not supported`, 505);
  if (uri === '' || uri.startsWith('<')) throw new ParseError('bad Request-URI');
  parseUri(uri, 'Request-URI');
  return { kind: 'request', method, uri };
}

const RFC1123 =
  /^(Mon|Tue|Wed|Thu|Fri|Sat|Sun), \d{2} (Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) \d{4} \d{2}:\d{2}:\d{2} GMT$/;

function checkSingles(headers: Header[]): void {
  const seen = new Set<string>();
  for (const h of headers) {
    if (!SINGLE.has(h.name)) continue;
    if (seen.has(h.name)) throw new ParseError(`more than one ${h.name} header`);
    seen.add(h.name);
  }
}

/** Check the structure of the headers the stack relies on; throws ParseError. */
function checkHeaders(msg: SipMessage): void {
  checkSingles(msg.headers);
  for (const h of msg.headers) {
    switch (h.name) {
      case 'Via':
        for (const v of listOf(h.value)) viewVia(v);
        break;
      case 'To':
      case 'From':
        viewNameAddr(h.value, h.name);
        break;
      case 'Contact':
        if (h.value !== '*') {
          for (const v of listOf(h.value)) {
            const e = viewNameAddr(v, 'Contact').params.get('expires');
            if (e !== undefined && (e === null || !DIGITS.test(e) || Number(e) > 2 ** 32 - 1)) {
              throw new ParseError('bad Contact expires parameter');
            }
          }
        }
        break;
      case 'Route':
      case 'Record-Route':
        for (const v of listOf(h.value)) {
          viewNameAddr(v, h.name);
          if (!v.includes('<')) throw new ParseError(`${h.name}: must be <URI>`);
        }
        break;
      case 'Call-ID': {
        const at = h.value.split('@');
        if (at.length > 2 || !at.every((w) => WORD.test(w))) throw new ParseError('bad Call-ID');
        break;
      }
      case 'CSeq':
        parseCSeq(h.value);
        break;
      case 'Max-Forwards':
        if (!DIGITS.test(h.value) || Number(h.value) > 255) throw new ParseError('bad Max-Forwards');
        break;
      case 'Content-Length':
        if (!DIGITS.test(h.value)) throw new ParseError('bad Content-Length');
        break;
      case 'Expires':
      case 'Min-Expires':
        if (!DIGITS.test(h.value) || Number(h.value) > 2 ** 32 - 1) throw new ParseError(`bad ${h.name}`);
        break;
      case 'Retry-After': {
        const n = /^(\d+)/.exec(h.value)?.[1];
        if (!n || Number(n) > 2 ** 32 - 1) throw new ParseError('bad Retry-After');
        break;
      }
      case 'Warning':
        for (const w of splitList(h.value)) {
          if (!/^\d{3} \S+ "(?:[^"\\]|\\.)*"$/.test(w.trim())) throw new ParseError('bad Warning');
        }
        break;
      case 'Content-Type':
        parseMediaType(h.value);
        break;
      case 'Date':
        if (!RFC1123.test(h.value)) throw new ParseError('bad Date (RFC 1123 date in GMT expected)');
        break;
    }
  }
}

export interface CSeq {
  seq: number;
  method: string;
}

export function parseCSeq(s: string): CSeq {
  const m = /^(\d+)\s+(\S+)$/.exec(s.trim());
  if (!m || !isToken(m[2]!)) throw new ParseError('bad CSeq');
  const seq = Number(m[1]);
  if (seq > MAX_INT32) throw new ParseError('CSeq number is too large');
  return { seq, method: m[2]! };
}

export interface MediaType {
  type: string;
  subtype: string;
  params: Params;
}

export function parseMediaType(s: string): MediaType {
  const semi = s.indexOf(';');
  const main = (semi < 0 ? s : s.slice(0, semi)).trim();
  const m = /^([A-Za-z0-9\-.!%*_+`'~]+)\s*\/\s*([A-Za-z0-9\-.!%*_+`'~]+)$/.exec(main);
  if (!m) throw new ParseError('bad Content-Type');
  return {
    type: m[1]!.toLowerCase(),
    subtype: m[2]!.toLowerCase(),
    params: parseParams(semi < 0 ? '' : s.slice(semi), 'Content-Type'),
  };
}

/** splitList, without the work when the value holds no comma (most do not). */
function listOf(value: string): string[] {
  if (!value.includes(',')) {
    if (value.trim() === '') throw new ParseError('empty element in a header list');
    return [value.trim()];
  }
  return splitList(value);
}

/** Split a list header value into its elements; empty elements are an error. */
export function splitList(value: string): string[] {
  const parts = splitOutside(value, ',').map((p) => p.trim());
  if (parts.some((p) => p === '')) throw new ParseError('empty element in a header list');
  return parts;
}

function indexOfHeadEnd(buf: Buffer, from = 0): { end: number; sep: number } | null {
  const crlf = buf.indexOf('\r\n\r\n', from, 'latin1');
  const lf = buf.indexOf('\n\n', from, 'latin1');
  if (crlf >= 0 && (lf < 0 || crlf <= lf)) return { end: crlf, sep: 4 };
  if (lf >= 0) return { end: lf, sep: 2 };
  return null;
}

/**
 * Parse one message from a datagram: the body is Content-Length octets (the rest of the
 * datagram when the header is absent); octets past it are ignored (RFC 3261 §18.3).
 */
export function parseMessage(buf: Buffer): SipMessage {
  let offset = 0;
  // RFC 3261 §7.5: ignore CRLFs before the start line.
  while (offset < buf.length && (buf[offset] === 0x0d || buf[offset] === 0x0a)) offset++;
  const he = indexOfHeadEnd(buf, offset);
  if (!he) throw new ParseError('no empty line ends the header section');
  if (he.end - offset > MAX_HEAD) throw new ParseError('header section is too large', 413);
  // A header section that ends at LF LF (not CRLF CRLF) has a bare LF: the same refusal as
  // one inside it, with its line (splitLines throws on the text with its end).
  if (he.sep === 2) splitLines(buf.subarray(offset, he.end + 2).toString('utf8'));
  const head = buf.subarray(offset, he.end).toString('utf8');
  const bodyStart = he.end + he.sep;
  const { start, headers } = parseHead(head);
  const first = parseStartLine(start);
  checkSingles(headers);
  const cl = headers.find((h) => h.name === 'Content-Length');
  let body: Buffer;
  if (cl) {
    if (!DIGITS.test(cl.value)) throw new ParseError('bad Content-Length');
    const n = Number(cl.value);
    if (bodyStart + n > buf.length) throw new ParseError('Content-Length is larger than the message');
    body = buf.subarray(bodyStart, bodyStart + n);
  } else body = buf.subarray(bodyStart);
  // The body is a view of `buf`, not a copy: a datagram's buffer is its own allocation of
  // the message's size, and the stream framer hands over a copy per message already.
  const msg = (
    first.kind === 'request'
      ? { kind: 'request', method: first.method, uri: first.uri, headers, body }
      : { kind: 'response', status: first.status, reason: first.reason, headers, body }
  ) as SipMessage;
  checkHeaders(msg);
  return msg;
}

/**
 * What a request must hold before a transaction is made for it (RFC 3261 §8.2): the
 * mandatory headers, a CSeq method equal to the request's, no headers in the Request-URI.
 */
export function validateRequest(req: SipRequest): void {
  for (const name of ['To', 'From', 'Call-ID', 'CSeq', 'Via']) {
    if (!req.headers.some((h) => h.name === name)) throw new ParseError(`missing ${name} header`);
  }
  const cseq = parseCSeq(getHeader(req, 'CSeq')!);
  if (cseq.method !== req.method) throw new ParseError('CSeq method does not match the request method');
  const uri = parseUri(req.uri, 'Request-URI');
  if (isSipUri(uri) && uri.headers.size) throw new ParseError('the Request-URI must not contain headers');
  if (!isSipUri(uri)) throw new ParseError(`unsupported URI scheme ${uri.scheme}:`, 416);
}

/** What a response must hold to be matched to a client transaction. */
export function validateResponse(res: SipResponse): void {
  for (const name of ['To', 'From', 'Call-ID', 'CSeq', 'Via']) {
    if (!res.headers.some((h) => h.name === name)) throw new ParseError(`missing ${name} header`);
  }
}

// ---------------------------------------------------------------------------------------
// Accessors

export function getHeader(msg: { headers: Header[] }, name: string): string | undefined {
  const n = canonicalName(name);
  return msg.headers.find((h) => h.name === n)?.value;
}

/** All values of a header: list headers split into elements. */
export function getHeaders(msg: { headers: Header[] }, name: string): string[] {
  const n = canonicalName(name);
  const list = LIST.has(n);
  const out: string[] = [];
  for (const h of msg.headers) {
    if (h.name !== n) continue;
    if (list) for (const v of listOf(h.value)) out.push(v);
    else out.push(h.value);
  }
  return out;
}

/** The text of the first Via (the first element of the first Via header). */
export function topViaText(msg: { headers: Header[] }): string {
  const h = msg.headers.find((x) => x.name === 'Via');
  if (h === undefined) throw new ParseError('missing Via header');
  return listOf(h.value)[0] as string;
}

export function topVia(msg: { headers: Header[] }): Via {
  return parseVia(topViaText(msg));
}

/** The top Via, shared (read only). */
export function viewTopVia(msg: { headers: Header[] }): ViaView {
  return viewVia(topViaText(msg));
}

export const tagOf = (value: string | undefined): string | undefined => {
  if (value === undefined) return undefined;
  const t = viewNameAddr(value, 'tag').params.get('tag');
  return t ?? undefined;
};

// ---------------------------------------------------------------------------------------
// Serialisation

const hasLineBreak = (s: string): boolean => s.includes('\n') || s.includes('\r');

const startLine = (msg: SipMessage): string =>
  msg.kind === 'request'
    ? `${msg.method} ${msg.uri} ${SIP_VERSION}`
    : `${SIP_VERSION} ${msg.status} ${msg.reason}`;

/**
 * The number of bytes serialize(msg) produces, without building them (the size check for
 * SIP over UDP ran serialize once more per request). It does not check the headers for
 * line breaks: serialize does that when the message is sent.
 */
export function wireLength(msg: SipMessage): number {
  let n = Buffer.byteLength(startLine(msg)) + 2;
  for (const h of msg.headers) {
    if (h.name === 'Content-Length') continue;
    n += Buffer.byteLength(h.name) + Buffer.byteLength(h.value) + 4; // ": " and CRLF
  }
  const length = String(msg.body.length);
  return n + 'Content-Length: '.length + length.length + 4 + msg.body.length;
}

export function serialize(msg: SipMessage): Buffer {
  let head = `${startLine(msg)}\r\n`;
  for (const h of msg.headers) {
    if (h.name === 'Content-Length') continue;
    if (hasLineBreak(h.name) || hasLineBreak(h.value)) throw new ParseError('CR or LF in a header to send');
    head += `${h.name}: ${h.value}\r\n`;
  }
  head += `Content-Length: ${msg.body.length}\r\n\r\n`;
  return Buffer.concat([Buffer.from(head, 'utf8'), msg.body]);
}

// ---------------------------------------------------------------------------------------
// Stream framing (TCP): messages are delimited by Content-Length (RFC 3261 §18.3).

export interface FramerLimits {
  maxHead: number;
  maxBody: number;
}

/** Work a framer did, in bytes (tests prove it linear; see StreamFramer). */
export interface FramerWork {
  /** Bytes searched for the end of a header section. */
  scanned: number;
  /** Bytes copied (a message's bytes once, its header section once more to read Content-Length). */
  copied: number;
}

const CR = 0x0d;
const LF = 0x0a;

/**
 * Accumulates bytes from a stream and yields complete messages. A framing error (no or
 * bad Content-Length, oversize) throws ParseError: the stream cannot be resynchronised,
 * so the caller answers if it can and closes the connection.
 *
 * Linear in the bytes received however they are split: chunks are kept in a list (never
 * re-joined per chunk), only new bytes are searched for the end of the header section, and
 * once Content-Length is known the body is only counted until it is all there; each
 * message is copied out once.
 */
export class StreamFramer {
  /** Received and not yet returned; #chunks[0] starts at #skip. */
  #chunks: Buffer[] = [];
  #skip = 0;
  #length = 0;
  /** The current message's header section is searched up to here (bytes from its start). */
  #searched = 0;
  /** The last three bytes searched (#t1 the last; -1: none, before the message's start). */
  #t1 = -1;
  #t2 = -1;
  #t3 = -1;
  /** The first chunk not searched whole, and its offset in the message. */
  #sc = 0;
  #scBase = 0;
  /** The current message's total length, once its header section and Content-Length are read. */
  #total = -1;
  readonly #limits: FramerLimits;
  readonly work: FramerWork = { scanned: 0, copied: 0 };

  constructor(limits: Partial<FramerLimits> = {}) {
    this.#limits = { maxHead: MAX_HEAD, maxBody: 1024 * 1024, ...limits };
  }

  /** Add bytes; returns the raw buffers of the complete messages now available. */
  push(chunk: Buffer): Buffer[] {
    if (chunk.length) {
      this.#chunks.push(chunk);
      this.#length += chunk.length;
    }
    const out: Buffer[] = [];
    for (;;) {
      if (this.#total < 0) {
        // Keep-alive CRLFs between messages (RFC 5626 §3.5.1) are skipped.
        if (this.#searched === 0) this.#skipBlankLines();
        if (!this.#length) break;
        const he = this.#findHeadEnd();
        if (!he) {
          if (this.#length > this.#limits.maxHead) throw new ParseError('header section is too large', 413);
          break;
        }
        if (he.end > this.#limits.maxHead) throw new ParseError('header section is too large', 413);
        this.#total = he.end + he.sep + this.#contentLength(he.end);
      }
      if (this.#length < this.#total) break;
      out.push(this.#take(this.#total));
      this.#searched = this.#sc = this.#scBase = 0;
      this.#t1 = this.#t2 = this.#t3 = -1;
      this.#total = -1;
    }
    return out;
  }

  get buffered(): number {
    return this.#length;
  }

  #skipBlankLines(): void {
    let drop = 0;
    for (const c of this.#chunks) {
      let i = this.#skip;
      while (i < c.length && (c[i] === CR || c[i] === LF)) i++;
      this.#length -= i - this.#skip;
      if (i < c.length) {
        this.#skip = i;
        break;
      }
      drop++;
      this.#skip = 0;
    }
    if (drop) this.#chunks.splice(0, drop);
  }

  /**
   * Search the bytes not searched yet for CRLF CRLF or LF LF (the first to complete is the
   * one indexOfHeadEnd would find first): each LF is checked against the three bytes before
   * it, which may have come in earlier chunks (#t1..#t3).
   */
  #findHeadEnd(): { end: number; sep: number } | null {
    // Chunks before #sc were searched whole: start where the last search stopped.
    for (let ci = this.#sc; ci < this.#chunks.length; ci++) {
      const c = this.#chunks[ci]!;
      const from = ci === 0 ? this.#skip : 0;
      const base = this.#scBase; // offset in the message of c[from]
      const i0 = from + (this.#searched - base);
      const before = (lf: number, k: number): number => {
        const j = lf - k;
        if (j >= i0) return c[j]!;
        const d = i0 - j;
        return d === 1 ? this.#t1 : d === 2 ? this.#t2 : this.#t3;
      };
      let i = i0;
      for (;;) {
        const lf = c.indexOf(LF, i);
        if (lf < 0) break;
        const at = base + lf - from;
        if (before(lf, 1) === LF) {
          this.work.scanned += lf + 1 - i0;
          return { end: at - 1, sep: 2 };
        }
        if (before(lf, 1) === CR && before(lf, 2) === LF && before(lf, 3) === CR) {
          this.work.scanned += lf + 1 - i0;
          return { end: at - 3, sep: 4 };
        }
        i = lf + 1;
      }
      this.work.scanned += c.length - i0;
      for (let j = Math.max(i0, c.length - 3); j < c.length; j++) {
        this.#t3 = this.#t2;
        this.#t2 = this.#t1;
        this.#t1 = c[j]!;
      }
      this.#searched = this.#scBase = base + c.length - from;
      this.#sc = ci + 1;
    }
    return null;
  }

  /** Content-Length from the header section (its first `end` bytes). */
  #contentLength(end: number): number {
    const head = this.#copy(end).toString('utf8');
    const m = /(?:^|\r?\n)(?:content-length|l)[ \t]*:[ \t]*([^\r\n]*)/i.exec(head);
    if (!m) throw new ParseError('Content-Length is required on a stream transport');
    const v = m[1]!.trim();
    if (!DIGITS.test(v)) throw new ParseError('bad Content-Length');
    const n = Number(v);
    if (n > this.#limits.maxBody)
      throw new ParseError(`body is too large (Content-Length ${v} > ${this.#limits.maxBody} bytes)`, 413);
    return n;
  }

  /** A copy of the first n bytes, left in place. */
  #copy(n: number): Buffer {
    const out = Buffer.allocUnsafe(n);
    let got = 0;
    let from = this.#skip;
    for (const c of this.#chunks) {
      if (got >= n) break;
      got += c.copy(out, got, from, Math.min(c.length, from + n - got));
      from = 0;
    }
    this.work.copied += n;
    return out;
  }

  /** Remove and return the first n bytes (copied: a chunk may hold the next message too). */
  #take(n: number): Buffer {
    const out = this.#copy(n);
    let left = n;
    let drop = 0;
    for (const c of this.#chunks) {
      const avail = c.length - this.#skip;
      if (avail > left) {
        this.#skip += left;
        break;
      }
      left -= avail;
      drop++;
      this.#skip = 0;
    }
    this.#chunks.splice(0, drop);
    this.#length -= n;
    return out;
  }
}

/**
 * From a request that did not parse, salvage what a 400 needs (Via, From, To, Call-ID,
 * CSeq copied as received; RFC 3261 §8.2.6). Null when not even that is there (then the
 * datagram is dropped), or when it is a response or an ACK (never answered).
 */
export function salvageRequest(buf: Buffer): SipRequest | null {
  try {
    const he = indexOfHeadEnd(buf);
    const head = buf.subarray(0, he ? he.end : Math.min(buf.length, MAX_HEAD)).toString('utf8');
    const lines = head.replace(/\r?\n[ \t]+/g, ' ').split(/\r?\n/);
    const start = lines[0] ?? '';
    const method = start.split(' ', 1)[0] ?? '';
    if (start.startsWith('SIP/') || !isToken(method) || method === 'ACK') return null;
    const headers: Header[] = [];
    for (const line of lines.slice(1)) {
      const c = line.indexOf(':');
      if (c <= 0) continue;
      const name = canonicalName(line.slice(0, c).trim());
      if (['Via', 'From', 'To', 'Call-ID', 'CSeq'].includes(name))
        headers.push({ name, value: line.slice(c + 1).trim() });
    }
    const need = ['Via', 'From', 'To', 'Call-ID', 'CSeq'];
    if (!need.every((n) => headers.some((h) => h.name === n))) return null;
    if (headers.some((h) => hasControl(h.value, true))) return null;
    topVia({ headers });
    return { kind: 'request', method, uri: 'sip:invalid', headers, body: Buffer.alloc(0) };
  } catch {
    return null;
  }
}
