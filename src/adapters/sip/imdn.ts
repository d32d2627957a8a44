// IMDN (RFC 5438): message disposition notifications for SIP pager-mode messages. A sender
// asks for notifications with CPIM (RFC 3862) headers in the `urn:ietf:params:imdn`
// namespace (imdn.Message-ID, imdn.Disposition-Notification, DateTime); the recipient
// answers with a MESSAGE carrying message/cpim around a message/imdn+xml document.
// This module parses and writes those bodies and keeps what the adapter must remember
// between a message and its notifications (who asked for what; which ids Parley sent).
import type { AdapterState } from '../../core/delivery/state.js';
import { getHeader, parseMediaType, type SipRequest } from './message.js';
import { randomHex } from './random.js';

export const IMDN_NS = 'urn:ietf:params:imdn';
export const IMDN_XML_NS = 'urn:ietf:params:xml:ns:imdn';

export const DISPOSITIONS = ['positive-delivery', 'negative-delivery', 'display', 'processing'] as const;
export type Disposition = (typeof DISPOSITIONS)[number];

/** What the canonical model carries: positive delivery and display. */
export type Status = 'delivered' | 'displayed';

export class ImdnError extends Error {
  override name = 'ImdnError';
}

const MAX_CPIM = 65_536;
const MAX_IMDN_XML = 16_384;
/** RFC 5438 §6.3: a Message-ID is a token (RFC 3261 token characters). */
const TOKEN = /^[A-Za-z0-9\-.!%*_+`'~]{1,128}$/;

export interface CpimHeader {
  name: string;
  value: string;
}

export interface Cpim {
  /** The message headers (From, To, NS, DateTime, imdn.*), in order. */
  headers: CpimHeader[];
  /** The MIME headers of the content, names lowercased. */
  mime: Map<string, string>;
  /** `type/subtype`, lowercased (text/plain when absent). */
  contentType: string;
  content: string;
}

function headerBlock(lines: string[], what: string): CpimHeader[] {
  const out: CpimHeader[] = [];
  for (const line of lines) {
    const c = line.indexOf(':');
    if (c <= 0) throw new ImdnError(`malformed ${what} header line "${line.slice(0, 60)}"`);
    out.push({ name: line.slice(0, c).trim(), value: line.slice(c + 1).trim() });
  }
  return out;
}

/** Parse a message/cpim body: message headers, empty line, MIME headers, empty line, content. */
export function parseCpim(body: Buffer): Cpim {
  if (body.length > MAX_CPIM) throw new ImdnError('message/cpim body is too large');
  const text = body.toString('utf8');
  if (!Buffer.from(text, 'utf8').equals(body)) throw new ImdnError('message/cpim body is not UTF-8');
  const blank = /\r?\n\r?\n/g;
  const first = blank.exec(text);
  if (!first) throw new ImdnError('message/cpim without the empty line after its message headers');
  const second = blank.exec(text);
  // RFC 3862 §3: the MIME headers end with an empty line too; content may be empty.
  const mimeEnd = second ? second.index : text.length;
  const restStart = second ? second.index + second[0].length : text.length;
  const split = (s: string) => s.split(/\r?\n/).filter((l) => l !== '');
  const headers = headerBlock(split(text.slice(0, first.index)), 'CPIM');
  const mimeHeaders = headerBlock(split(text.slice(first.index + first[0].length, mimeEnd)), 'MIME');
  const mime = new Map(mimeHeaders.map((h) => [h.name.toLowerCase(), h.value]));
  let contentType = 'text/plain';
  const ct = mime.get('content-type');
  if (ct) {
    try {
      const mt = parseMediaType(ct);
      contentType = `${mt.type}/${mt.subtype}`;
    } catch {
      throw new ImdnError(`bad Content-Type "${ct.slice(0, 60)}" in message/cpim`);
    }
  }
  return { headers, mime, contentType, content: text.slice(restStart) };
}

/**
 * Values of the headers in the IMDN namespace, by lowercased local name. RFC 3862 §3.4:
 * a header's prefix is whatever an `NS:` header binds to the namespace (conventionally
 * `imdn`), so `foo.Message-ID` counts when `NS: foo <urn:ietf:params:imdn>`.
 */
export function imdnHeaders(cpim: Cpim): Map<string, string> {
  const prefixes = new Set<string>();
  for (const h of cpim.headers) {
    if (h.name.toLowerCase() !== 'ns') continue;
    const m = /^(?:([^\s<]+)\s*)?<([^>]*)>$/.exec(h.value);
    if (m && m[2]?.toLowerCase() === IMDN_NS) prefixes.add((m[1] ?? '').toLowerCase());
  }
  const out = new Map<string, string>();
  for (const h of cpim.headers) {
    const dot = h.name.indexOf('.');
    const prefix = dot < 0 ? '' : h.name.slice(0, dot).toLowerCase();
    if (!prefixes.has(prefix)) continue;
    // Without a prefix only the IMDN names count (a default NS must not swallow From/To).
    const local = (dot < 0 ? h.name : h.name.slice(dot + 1)).toLowerCase();
    if (dot < 0 && !['message-id', 'disposition-notification'].includes(local)) continue;
    if (!out.has(local)) out.set(local, h.value);
  }
  return out;
}

export interface ImdnRequest {
  /** The message's imdn.Message-ID (the canonical id of the event it becomes). */
  messageId: string;
  /** The CPIM DateTime, echoed in the notifications (RFC 5438 §7.2.1.1). */
  dateTime: string | null;
  /** What the sender asked to be told; empty when it asked for nothing. */
  dispositions: Disposition[];
}

/** The IMDN request in a CPIM message, or null when it carries no imdn.Message-ID. */
export function imdnRequestOf(cpim: Cpim): ImdnRequest | null {
  const h = imdnHeaders(cpim);
  const messageId = h.get('message-id');
  if (messageId === undefined) return null;
  if (!TOKEN.test(messageId)) throw new ImdnError(`bad imdn.Message-ID "${messageId.slice(0, 60)}"`);
  const asked = (h.get('disposition-notification') ?? '')
    .split(',')
    .map((s) => s.trim().toLowerCase())
    .filter((s): s is Disposition => (DISPOSITIONS as readonly string[]).includes(s));
  const dateTime = cpim.headers.find((x) => x.name.toLowerCase() === 'datetime')?.value ?? null;
  return { messageId, dateTime, dispositions: [...new Set(asked)] };
}

export interface Notification {
  /** The imdn.Message-ID of the message it is about. */
  messageId: string;
  datetime: string | null;
  recipientUri: string | null;
  kind: 'delivery' | 'display' | 'processing';
  /** delivered, failed, displayed, processed, stored, forbidden, error. */
  status: string;
}

const unescapeXml = (s: string) =>
  s
    .replace(/&lt;/g, '<')
    .replace(/&gt;/g, '>')
    .replace(/&quot;/g, '"')
    .replace(/&apos;/g, "'")
    .replace(/&#(\d+);/g, (_, d: string) => String.fromCodePoint(Math.min(Number(d), 0x10ffff)))
    .replace(/&amp;/g, '&');
const escapeXml = (s: string) =>
  s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');

const P = '(?:[A-Za-z_][\\w.-]*:)?';
const textOf = (xml: string, name: string): string | null => {
  const m = new RegExp(`<${P}${name}(?:\\s[^>]*)?>([^<]*)</${P}${name}>`).exec(xml);
  return m ? unescapeXml(m[1] ?? '').trim() : null;
};

/** Parse a message/imdn+xml document (RFC 5438 §7). Throws ImdnError when it is not one. */
export function parseImdnXml(xml: string): Notification {
  if (xml.length > MAX_IMDN_XML) throw new ImdnError('message/imdn+xml document is too large');
  if (/<!DOCTYPE|<!ENTITY/i.test(xml)) throw new ImdnError('message/imdn+xml must not declare a DTD');
  const root = new RegExp(`<(${P})imdn(\\s[^>]*?)?\\/?>`).exec(xml);
  if (!root) throw new ImdnError('message/imdn+xml without an <imdn> root element');
  const prefix = (root[1] ?? '').replace(/:$/, '');
  const nsAttr = prefix ? `xmlns:${prefix}` : 'xmlns';
  const ns = new RegExp(`${nsAttr.replace('.', '\\.')}\\s*=\\s*["']([^"']*)["']`).exec(root[2] ?? '')?.[1];
  if (ns !== IMDN_XML_NS) throw new ImdnError(`the <imdn> element is not in the ${IMDN_XML_NS} namespace`);
  const messageId = textOf(xml, 'message-id');
  if (!messageId) throw new ImdnError('message/imdn+xml without a <message-id>');
  const kinds = ['delivery', 'display', 'processing'] as const;
  const found = kinds.filter((k) => new RegExp(`<${P}${k}-notification[\\s>]`).test(xml));
  if (found.length !== 1) throw new ImdnError('message/imdn+xml must hold exactly one *-notification');
  const kind = found[0] as Notification['kind'];
  const block = new RegExp(`<${P}${kind}-notification[\\s>][\\s\\S]*?</${P}${kind}-notification>`).exec(xml);
  const status = block
    ? /<(?:[A-Za-z_][\w.-]*:)?status(?:\s[^>]*)?>\s*<(?:[A-Za-z_][\w.-]*:)?([a-z-]+)\s*\/?>/.exec(
        block[0],
      )?.[1]
    : undefined;
  if (!status) throw new ImdnError(`the ${kind}-notification has no <status>`);
  return {
    messageId,
    datetime: textOf(xml, 'datetime'),
    recipientUri: textOf(xml, 'recipient-uri'),
    kind,
    status,
  };
}

/** A message/imdn+xml document: a delivered or displayed notification. */
export function imdnXml(n: {
  messageId: string;
  datetime: string;
  recipientUri: string;
  status: Status;
}): string {
  const kind = n.status === 'delivered' ? 'delivery' : 'display';
  return (
    '<?xml version="1.0" encoding="UTF-8"?>\r\n' +
    `<imdn xmlns="${IMDN_XML_NS}">\r\n` +
    `  <message-id>${escapeXml(n.messageId)}</message-id>\r\n` +
    `  <datetime>${escapeXml(n.datetime)}</datetime>\r\n` +
    `  <recipient-uri>${escapeXml(n.recipientUri)}</recipient-uri>\r\n` +
    `  <original-recipient-uri>${escapeXml(n.recipientUri)}</original-recipient-uri>\r\n` +
    `  <${kind}-notification><status><${n.status}/></status></${kind}-notification>\r\n` +
    '</imdn>\r\n'
  );
}

/** A message/cpim body with IMDN headers around one MIME part. */
export function cpimBody(o: {
  from: string;
  to: string;
  messageId: string;
  dateTime: string;
  /** Asked of the recipient; none for a notification (RFC 5438 §7: IMDNs ask for nothing). */
  dispositions?: readonly Disposition[];
  contentType: string;
  contentDisposition?: string;
  content: string;
}): Buffer {
  const lines = [
    `From: <${o.from}>`,
    `To: <${o.to}>`,
    `NS: imdn <${IMDN_NS}>`,
    `imdn.Message-ID: ${o.messageId}`,
    `DateTime: ${o.dateTime}`,
  ];
  if (o.dispositions?.length) lines.push(`imdn.Disposition-Notification: ${o.dispositions.join(', ')}`);
  const mime = [`Content-Type: ${o.contentType}`];
  if (o.contentDisposition) mime.push(`Content-Disposition: ${o.contentDisposition}`);
  mime.push(`Content-Length: ${Buffer.byteLength(o.content, 'utf8')}`);
  return Buffer.from(`${lines.join('\r\n')}\r\n\r\n${mime.join('\r\n')}\r\n\r\n${o.content}`, 'utf8');
}

/** The imdn.Message-ID for a canonical id: the id itself when it is a token, else a fresh one. */
export const imdnMessageId = (canonicalId: string): string =>
  TOKEN.test(canonicalId) ? canonicalId : `parley-${randomHex(12)}`;

export type ImdnInbound =
  | { kind: 'none' }
  | { kind: 'request'; request: ImdnRequest; cpim: Cpim }
  | { kind: 'notification'; notification: Notification; imdnId: string | null }
  | { kind: 'error'; reason: string };

/**
 * What a MESSAGE says in IMDN terms: a notification (message/cpim around
 * message/imdn+xml), a message with an imdn.Message-ID (maybe asking for notifications),
 * or nothing IMDN (any other body, handled as before).
 */
export function readImdn(req: SipRequest): ImdnInbound {
  const ct = getHeader(req, 'Content-Type');
  if (!ct) return { kind: 'none' };
  try {
    const mt = parseMediaType(ct);
    if (`${mt.type}/${mt.subtype}` !== 'message/cpim') return { kind: 'none' };
    const cpim = parseCpim(req.body);
    if (cpim.contentType === 'message/imdn+xml') {
      const imdnId = imdnHeaders(cpim).get('message-id') ?? null;
      return { kind: 'notification', notification: parseImdnXml(cpim.content), imdnId };
    }
    const request = imdnRequestOf(cpim);
    return request ? { kind: 'request', request, cpim } : { kind: 'none' };
  } catch (err) {
    if (err instanceof ImdnError) return { kind: 'error', reason: err.message };
    return { kind: 'none' }; // a bad Content-Type is the body reader's to answer
  }
}

const DAY = 24 * 3600_000;

/** What a message that asked for notifications leaves behind for its receipts. */
interface Asked {
  dispositions: Disposition[];
  dateTime: string | null;
}

/** A message Parley sent with an imdn.Message-ID, for the notifications that come back. */
export interface Sent {
  canonicalId: string;
  /** user@domain of the sender (the notification's To) and of the recipient (its From). */
  from: string;
  to: string;
}

/**
 * The IMDN state the adapter keeps in its own state (ctx.state):
 * requests by (sender, message id), the ids Parley sent, and which SIP users have shown
 * they speak IMDN (they asked for a notification themselves).
 */
export class ImdnState {
  constructor(
    /** The adapter's state (keys under `sip:<name>:`). */
    private readonly state: AdapterState,
    /** Below the adapter's prefix: `imdn:`. */
    private readonly prefix: string,
    /** How long a message's notifications can still come (RFC 5438 gives no bound). */
    private readonly ttlMs = 7 * DAY,
    /** How long a user counts as IMDN-capable after their last request. */
    private readonly capableTtlMs = 30 * DAY,
  ) {}

  async asked(sender: string, request: ImdnRequest): Promise<void> {
    if (!request.dispositions.length) return;
    const value: Asked = { dispositions: request.dispositions, dateTime: request.dateTime };
    await this.state.set(
      `${this.prefix}asked:${sender}\n${request.messageId}`,
      JSON.stringify(value),
      this.ttlMs,
    );
    await this.state.set(`${this.prefix}capable:${sender}`, '1', this.capableTtlMs);
  }

  async askedOf(sender: string, messageId: string): Promise<Asked | null> {
    const raw = await this.state.get(`${this.prefix}asked:${sender}\n${messageId}`);
    if (!raw) return null;
    try {
      return JSON.parse(raw) as Asked;
    } catch {
      return null;
    }
  }

  /** True the first time a disposition is told for a message (retransmitted receipts are not). */
  once(sender: string, messageId: string, d: Disposition): Promise<boolean> {
    return this.state.setIfAbsent(`${this.prefix}told:${sender}\n${messageId}\n${d}`, '1', this.ttlMs);
  }

  forget(sender: string, messageId: string, d: Disposition): Promise<void> {
    return this.state.del(`${this.prefix}told:${sender}\n${messageId}\n${d}`);
  }

  async capable(user: string): Promise<boolean> {
    return (await this.state.get(`${this.prefix}capable:${user}`)) !== null;
  }

  async sent(imdnId: string, s: Sent): Promise<void> {
    await this.state.set(`${this.prefix}sent:${imdnId}`, JSON.stringify(s), this.ttlMs);
  }

  async sentOf(imdnId: string): Promise<Sent | null> {
    const raw = await this.state.get(`${this.prefix}sent:${imdnId}`);
    if (!raw) return null;
    try {
      return JSON.parse(raw) as Sent;
    } catch {
      return null;
    }
  }
}

/** What a message asking for these dispositions will take back, in canonical terms. */
export const requestsOf = (dispositions: readonly Disposition[]): ('delivered' | 'displayed')[] => [
  ...(dispositions.includes('positive-delivery') ? (['delivered'] as const) : []),
  ...(dispositions.includes('display') ? (['displayed'] as const) : []),
];

/** The dispositions to ask a SIP recipient for, for what the sender will take back. */
export const dispositionsFor = (requests: readonly string[] | undefined): Disposition[] => [
  ...(requests?.includes('delivered') ? (['positive-delivery'] as const) : []),
  ...(requests?.includes('displayed') ? (['display'] as const) : []),
];

/** The disposition a canonical receipt answers. */
export const dispositionOf = (s: Status): Disposition =>
  s === 'delivered' ? 'positive-delivery' : 'display';

/** The canonical receipt an IMDN status becomes, or null for those the model does not carry. */
export function statusOf(n: Notification): Status | null {
  if (n.kind === 'delivery' && n.status === 'delivered') return 'delivered';
  if (n.kind === 'display' && n.status === 'displayed') return 'displayed';
  return null;
}
