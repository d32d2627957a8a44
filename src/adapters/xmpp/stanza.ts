// Pure translation between XMPP stanzas and canonical events (no I/O): messages, chat
// states, receipts and markers, corrections, replies, attachment links, presence, and the
// error stanzas Parley answers with. Every function takes any element and never throws.
import { type Element, xml } from '@xmpp/xml';
import type { RefusalCode } from '../../core/adapter.js';
import type {
  Attachment,
  CanonicalEvent,
  ChatStateEvent,
  MessageEvent,
  MessageRequest,
  Network,
  PresenceEvent,
  PresenceShow,
  ReceiptEvent,
} from '../../core/model.js';
import {
  ghostJidOf,
  type Jid,
  jidOfLocal,
  localAddress,
  parseJid,
  resolveGhost,
  servesDomain,
} from './jid.js';
import { CHAT_STATE_NAMES, NS } from './ns.js';

/** What the translation needs to know about the link. */
export interface StanzaEnv {
  /** The link's name (the events' `adapter`). */
  adapter: string;
  /** The component domain ghosts live under. */
  component: string;
  /** Domains whose users live behind this link. */
  domains: readonly string[];
  networkOf(domain: string): Network | null;
  now(): Date;
  newId(): string;
  newTraceId(): string;
}

export type ErrorType = 'cancel' | 'modify' | 'wait' | 'auth';

/** An XMPP stanza error to answer with (RFC 6120 §8.3). */
export interface StanzaError {
  type: ErrorType;
  condition: string;
  text?: string;
}

export type Inbound =
  | { kind: 'events'; events: CanonicalEvent[] }
  | { kind: 'error'; error: StanzaError }
  | { kind: 'ignore'; why: string };

/** The largest body Parley accepts from XMPP (the canonical model's bound). */
export const MAX_BODY = 262_144;
const MAX_ID = 512;

// ---------------------------------------------------------------------------------------
// XML safety: text that XML 1.0 cannot carry would make the server close the stream.

// Built from strings: these ranges are exactly the control characters to remove.
const XML_INVALID = new RegExp(
  `[${'\\u0000'}-${'\\u0008'}${'\\u000B'}${'\\u000C'}${'\\u000E'}-${'\\u001F'}${'\\uFFFE'}${'\\uFFFF'}]|[\\uD800-\\uDBFF](?![\\uDC00-\\uDFFF])|(?<![\\uD800-\\uDBFF])[\\uDC00-\\uDFFF]`,
  'g',
);
const CONTROL = new RegExp(`[${'\\u0000'}-${'\\u001f'}]`);

/** Remove characters XML 1.0 cannot carry (control characters, lone surrogates). */
export const xmlSafe = (s: string): string => s.replace(XML_INVALID, '');

/** The text of the first child `name` in `ns`, or undefined. */
function childText(el: Element, name: string, ns?: string): string | undefined {
  const c = ns ? el.getChild(name, ns) : el.getChild(name);
  return c ? c.getText() : undefined;
}

/** The `<body>` without xml:lang (or the first one). */
function bodyOf(el: Element): string | undefined {
  const bodies = el.getChildren('body').filter((b) => !b.getNS() || b.getNS() === el.getNS());
  if (bodies.length === 0) return undefined;
  const plain = bodies.find((b) => !b.attrs['xml:lang']) ?? bodies[0];
  return plain?.getText();
}

const shortId = (s: string | undefined): string | undefined =>
  s && s.length <= MAX_ID && !CONTROL.test(s) ? s : undefined;

function stamp(el: Element, env: StanzaEnv): string {
  const s = el.getChild('delay', NS.delay)?.attrs.stamp;
  if (s) {
    const t = Date.parse(s);
    if (!Number.isNaN(t)) return new Date(t).toISOString();
  }
  return env.now().toISOString();
}

// ---------------------------------------------------------------------------------------
// Addressing: who sent it, and whom it is for.

export type Routed =
  | { ok: true; from: Jid; to: Jid; sender: string; recipient: string; network: Network }
  | { ok: false; result: Inbound };

/**
 * Check a stanza's addresses: the sender must be a user of a domain this link serves, the
 * recipient a ghost of a user on a network some adapter serves.
 */
export function route(el: Element, env: StanzaEnv): Routed {
  const from = parseJid(el.attrs.from);
  if (!from) return { ok: false, result: { kind: 'ignore', why: `unusable from "${el.attrs.from}"` } };
  const to = parseJid(el.attrs.to);
  if (!to || to.domain !== env.component) {
    return { ok: false, result: { kind: 'ignore', why: `not for this component: "${el.attrs.to}"` } };
  }
  const err = (type: ErrorType, condition: string, text: string): Routed => ({
    ok: false,
    result: { kind: 'error', error: { type, condition, text } },
  });
  if (!from.local || !servesDomain(env.domains, from.domain)) {
    return err('cancel', 'not-allowed', `${from.domain} is not served by this gateway link.`);
  }
  if (!to.local) return err('cancel', 'service-unavailable', 'The gateway itself takes no messages.');
  const g = resolveGhost(to, env.component, env.networkOf);
  if (!g.ok) {
    return g.why === 'unroutable'
      ? err(
          'cancel',
          'remote-server-not-found',
          `No network behind this gateway serves ${to.local.slice(to.local.lastIndexOf('%') + 1)}.`,
        )
      : err(
          'modify',
          'item-not-found',
          `${to.local}@${to.domain} is not a gateway address (expected user%domain@${env.component}).`,
        );
  }
  return { ok: true, from, to, sender: localAddress(from), recipient: g.address, network: g.network };
}

// ---------------------------------------------------------------------------------------
// Messages in.

const MIME_BY_EXT: Record<string, string> = {
  png: 'image/png',
  jpg: 'image/jpeg',
  jpeg: 'image/jpeg',
  gif: 'image/gif',
  webp: 'image/webp',
  svg: 'image/svg+xml',
  mp4: 'video/mp4',
  webm: 'video/webm',
  mp3: 'audio/mpeg',
  ogg: 'audio/ogg',
  oga: 'audio/ogg',
  opus: 'audio/ogg',
  m4a: 'audio/mp4',
  wav: 'audio/wav',
  pdf: 'application/pdf',
  txt: 'text/plain',
  zip: 'application/zip',
};

/** A MIME type guessed from a URL's file extension. */
export function mimeOfUrl(url: string): string {
  const path = url.split(/[?#]/, 1)[0] ?? '';
  const ext = /\.([A-Za-z0-9]{1,8})$/.exec(path)?.[1]?.toLowerCase();
  return (ext && MIME_BY_EXT[ext]) || 'application/octet-stream';
}

function attachmentsOf(el: Element): Attachment[] {
  const out: Attachment[] = [];
  for (const x of el.getChildren('x', NS.oob).slice(0, 64)) {
    const url = x.getChildText('url')?.trim();
    if (!url || url.length > 4096 || !/^[a-z][a-z0-9+.-]*:/i.test(url)) continue;
    const a: Attachment = { mime: mimeOfUrl(url), url };
    const desc = x.getChildText('desc')?.trim();
    const name = desc || decodeName(url);
    if (name) a.name = name.slice(0, 1024);
    out.push(a);
  }
  return out;
}

function decodeName(url: string): string | undefined {
  const last = (url.split(/[?#]/, 1)[0] ?? '').split('/').pop();
  if (!last) return undefined;
  try {
    return decodeURIComponent(last);
  } catch {
    return last;
  }
}

/** Translate an incoming `<message>` (not of type error) into canonical events. */
export function readMessage(el: Element, env: StanzaEnv): Inbound {
  const type = el.attrs.type ?? 'normal';
  if (type === 'headline') return { kind: 'ignore', why: 'headline messages are not carried' };
  if (type === 'error') return { kind: 'ignore', why: 'error messages are handled as bounces' };
  const r = route(el, env);
  if (!r.ok) return r.result;
  if (type === 'groupchat') {
    return {
      kind: 'error',
      error: { type: 'cancel', condition: 'feature-not-implemented', text: 'Group chats are not carried.' },
    };
  }
  if (type !== 'chat' && type !== 'normal') {
    return {
      kind: 'error',
      error: { type: 'modify', condition: 'bad-request', text: `Unknown type "${type}".` },
    };
  }
  const base = () => ({
    time: stamp(el, env),
    from: r.sender,
    to: r.recipient,
    adapter: env.adapter,
    traceId: env.newTraceId(),
  });
  const stanzaId = shortId(el.attrs.id);
  const events: CanonicalEvent[] = [];

  const body = bodyOf(el);
  const attachments = attachmentsOf(el);
  if (body !== undefined || attachments.length > 0) {
    const text = body ?? '';
    if (text.length > MAX_BODY) {
      return {
        kind: 'error',
        error: {
          type: 'modify',
          condition: 'not-acceptable',
          text: `The message is too long (${text.length} > ${MAX_BODY} characters).`,
        },
      };
    }
    const m: MessageEvent = { kind: 'message', id: stanzaId ?? env.newId(), ...base(), body: text };
    if (text.startsWith('/me ')) {
      m.body = text.slice(4);
      m.style = 'emote';
    }
    const thread = shortId(childText(el, 'thread'));
    if (thread) m.thread = thread;
    const replaces = shortId(el.getChild('replace', NS.correct)?.attrs.id);
    if (replaces) m.replaces = replaces;
    const replyTo = shortId(el.getChild('reply', NS.reply)?.attrs.id);
    if (replyTo) m.replyTo = replyTo;
    if (attachments.length) m.attachments = attachments;
    const requests = requestsOf(el);
    if (requests.length) m.requests = requests;
    events.push(m);
  } else {
    // A body implies `active`; without one, a chat state is an event of its own.
    const state = CHAT_STATE_NAMES.find((s) => el.getChild(s, NS.chatstates));
    if (state) {
      const c: ChatStateEvent = { kind: 'chatstate', id: stanzaId ?? env.newId(), ...base(), state };
      events.push(c);
    }
  }

  const receipt = (kind: ReceiptEvent['receipt'], messageId: string | undefined) => {
    const mid = shortId(messageId);
    if (!mid) return;
    const id = events.length === 0 && stanzaId ? stanzaId : env.newId();
    events.push({ kind: 'receipt', id, ...base(), receipt: kind, messageId: mid });
  };
  const received = el.getChild('received', NS.receipts);
  if (received) receipt('delivered', received.attrs.id);
  const markerReceived = el.getChild('received', NS.markers);
  if (markerReceived && !received) receipt('delivered', markerReceived.attrs.id);
  const displayed = el.getChild('displayed', NS.markers) ?? el.getChild('acknowledged', NS.markers);
  if (displayed) receipt('displayed', displayed.attrs.id);

  if (events.length === 0) return { kind: 'ignore', why: 'nothing Parley carries in this message' };
  return { kind: 'events', events };
}

// ---------------------------------------------------------------------------------------
// Messages out.

export type Outbound = { ok: true; stanza: Element } | { ok: false; reason: string };

/** The local recipient's JID and the ghost JID of the remote sender for an event. */
export function addressesOut(
  event: CanonicalEvent,
  component: string,
): { ok: true; to: Jid; ghost: Jid } | { ok: false; reason: string } {
  const to = jidOfLocal(event.to);
  if (!to) return { ok: false, reason: `${event.to} is not an XMPP address this link can deliver to` };
  const ghost = ghostJidOf(event.from, component);
  if (!ghost) return { ok: false, reason: `${event.from} has no XMPP ghost address` };
  return { ok: true, to, ghost };
}

/** What an incoming message asks back: a receipt request, a markable, a chat state. */
function requestsOf(el: Element): MessageRequest[] {
  const out: MessageRequest[] = [];
  if (el.getChild('request', NS.receipts)) out.push('delivered');
  if (el.getChild('markable', NS.markers)) out.push('displayed');
  if (CHAT_STATE_NAMES.some((s) => el.getChild(s, NS.chatstates))) out.push('chatstates');
  return out;
}

/** The elements that ask the local recipient for what the remote sender can take back. */
function requestElements(requests: readonly MessageRequest[] | undefined): Element[] {
  if (!requests) return [];
  const out: Element[] = [];
  if (requests.includes('chatstates')) out.push(xml('active', { xmlns: NS.chatstates }));
  if (requests.includes('delivered')) out.push(xml('request', { xmlns: NS.receipts }));
  if (requests.includes('displayed')) out.push(xml('markable', { xmlns: NS.markers }));
  return out;
}

const jidString = (j: Jid): string =>
  (j.local ? `${j.local}@${j.domain}` : j.domain) + (j.resource ? `/${j.resource}` : '');

/** The stanza that carries a canonical message, chat state or receipt to a local user. */
export function writeMessage(event: CanonicalEvent, component: string): Outbound {
  const a = addressesOut(event, component);
  if (!a.ok) return a;
  const attrs = { from: jidString(a.ghost), to: jidString(a.to), type: 'chat', id: xmlSafe(event.id) };
  switch (event.kind) {
    case 'message': {
      const links = (event.attachments ?? []).filter((x) => x.url);
      let body = event.style === 'emote' ? `/me ${event.body}` : event.body;
      const missing = links.filter((x) => !body.includes(x.url ?? ''));
      if (missing.length) body = [body, ...missing.map((x) => x.url)].filter(Boolean).join('\n');
      const unlinked = (event.attachments ?? []).filter((x) => !x.url);
      if (unlinked.length) {
        body = [body, ...unlinked.map((x) => `[attachment: ${x.name ?? x.mime}]`)].filter(Boolean).join('\n');
      }
      const stanza = xml(
        'message',
        attrs,
        xml('body', {}, xmlSafe(body)),
        event.thread ? xml('thread', {}, xmlSafe(event.thread)) : null,
        event.replaces ? xml('replace', { xmlns: NS.correct, id: xmlSafe(event.replaces) }) : null,
        event.replyTo ? xml('reply', { xmlns: NS.reply, id: xmlSafe(event.replyTo) }) : null,
        ...links.map((x) =>
          xml(
            'x',
            { xmlns: NS.oob },
            xml('url', {}, xmlSafe(x.url ?? '')),
            x.name ? xml('desc', {}, xmlSafe(x.name)) : null,
          ),
        ),
        ...requestElements(event.requests),
      );
      return { ok: true, stanza };
    }
    case 'chatstate':
      return {
        ok: true,
        stanza: xml(
          'message',
          attrs,
          xml(event.state, { xmlns: NS.chatstates }),
          xml('no-store', { xmlns: NS.hints }),
        ),
      };
    case 'receipt': {
      const id = xmlSafe(event.messageId);
      const child =
        event.receipt === 'delivered'
          ? xml('received', { xmlns: NS.receipts, id })
          : xml('displayed', { xmlns: NS.markers, id });
      return { ok: true, stanza: xml('message', attrs, child, xml('store', { xmlns: NS.hints })) };
    }
    default:
      return { ok: false, reason: `${event.kind} events are not messages` };
  }
}

// ---------------------------------------------------------------------------------------
// Errors.

/** `<error>` with a defined condition and optional text (RFC 6120 §8.3). */
export function errorElement(e: StanzaError): Element {
  return xml(
    'error',
    { type: e.type },
    xml(e.condition, { xmlns: NS.stanzas }),
    e.text ? xml('text', { xmlns: NS.stanzas, 'xml:lang': 'en' }, xmlSafe(e.text)) : null,
  );
}

/** The error reply to a stanza: same name and id, addresses swapped, type error. */
export function errorReply(el: Element, e: StanzaError): Element {
  const attrs: Record<string, string> = { type: 'error' };
  if (el.attrs.to) attrs.from = el.attrs.to;
  if (el.attrs.from) attrs.to = el.attrs.from;
  if (el.attrs.id !== undefined) attrs.id = el.attrs.id;
  const name = el.name === 'iq' || el.name === 'presence' ? el.name : 'message';
  return xml(name, attrs, errorElement(e));
}

/** How a refusal reads in XMPP: the condition the sender's client understands. */
export function refusalError(code: RefusalCode, reason: string): StanzaError {
  const text = reason;
  switch (code) {
    case 'policy':
      return { type: 'cancel', condition: 'policy-violation', text };
    case 'rate-limit':
      return { type: 'wait', condition: 'policy-violation', text };
    case 'unroutable':
      return { type: 'cancel', condition: 'remote-server-not-found', text };
    case 'unsupported':
      return { type: 'cancel', condition: 'feature-not-implemented', text };
    case 'audit':
      return { type: 'wait', condition: 'internal-server-error', text };
    case 'delivery':
      return { type: 'wait', condition: 'recipient-unavailable', text };
    case 'invalid':
      return { type: 'modify', condition: 'bad-request', text };
    case 'shutdown':
      return { type: 'wait', condition: 'service-unavailable', text };
  }
}

/** The `<message type="error">` telling a local sender that their message was refused. */
export function refusalMessage(
  event: CanonicalEvent,
  error: StanzaError,
  component: string,
  senderFullJid?: string,
): Element | null {
  const sender = senderFullJid ? parseJid(senderFullJid) : jidOfLocal(event.from);
  const ghost = ghostJidOf(event.to, component);
  if (!sender || !ghost) return null;
  return xml(
    'message',
    { from: jidString(ghost), to: jidString(sender), type: 'error', id: xmlSafe(event.id) },
    errorElement(error),
  );
}

/** The condition and text of an error stanza, for logs and bounce reasons. */
export function describeError(el: Element): string {
  const err = el.getChild('error');
  if (!err) return 'error';
  const cond = err.getChildElements().find((c) => c.getNS() === NS.stanzas && c.name !== 'text');
  const text = err.getChildText('text', NS.stanzas);
  return `${cond?.name ?? 'undefined-condition'}${text ? `: ${text}` : ''}`;
}

// ---------------------------------------------------------------------------------------
// Presence.

const SHOWS: Record<string, PresenceShow> = { chat: 'available', away: 'away', dnd: 'dnd', xa: 'xa' };

/** The presence a local resource announces (for available/unavailable presence). */
export interface ResourcePresence {
  show: PresenceShow;
  status?: string;
  priority: number;
  lastActive?: string;
}

/** Read show/status/priority/idle from an available or unavailable `<presence>`. */
export function readPresence(el: Element): ResourcePresence {
  if (el.attrs.type === 'unavailable') {
    const p: ResourcePresence = { show: 'offline', priority: 0 };
    const status = childText(el, 'status');
    if (status) p.status = status.slice(0, 4096);
    return p;
  }
  // Own keys only: <show>valueOf</show> must not find Object.prototype.valueOf.
  const shown = childText(el, 'show')?.trim() ?? '';
  const show = Object.hasOwn(SHOWS, shown) ? (SHOWS[shown] as PresenceShow) : 'available';
  const prio = Number.parseInt(childText(el, 'priority') ?? '0', 10);
  const p: ResourcePresence = {
    show,
    priority: Number.isFinite(prio) ? Math.max(-128, Math.min(127, prio)) : 0,
  };
  const status = childText(el, 'status');
  if (status) p.status = status.slice(0, 4096);
  const since = el.getChild('idle', NS.idle)?.attrs.since;
  if (since && !Number.isNaN(Date.parse(since))) p.lastActive = new Date(Date.parse(since)).toISOString();
  return p;
}

const SHOW_RANK: Record<PresenceShow, number> = { available: 4, away: 3, xa: 2, dnd: 1, offline: 0 };

/** The presence a user shows when several resources are online (highest priority, then liveliest). */
export function aggregatePresence(resources: readonly ResourcePresence[]): ResourcePresence {
  const online = resources.filter((r) => r.show !== 'offline' && r.priority >= 0);
  if (online.length === 0) return { show: 'offline', priority: 0 };
  return [...online].sort((a, b) => b.priority - a.priority || SHOW_RANK[b.show] - SHOW_RANK[a.show])[0]!;
}

/** The presence event for a local user's (aggregated) presence toward a remote contact. */
export function presenceEvent(
  p: ResourcePresence,
  from: string,
  to: string,
  env: StanzaEnv,
  id?: string,
): PresenceEvent {
  const e: PresenceEvent = {
    kind: 'presence',
    id: shortId(id) ?? env.newId(),
    time: env.now().toISOString(),
    from,
    to,
    adapter: env.adapter,
    traceId: env.newTraceId(),
    show: p.show,
  };
  if (p.status) e.status = p.status;
  if (p.lastActive) e.lastActive = p.lastActive;
  return e;
}

/** A ghost's presence toward a local user, from a canonical presence (or its cached copy). */
export function writePresence(
  p: Pick<PresenceEvent, 'show' | 'status' | 'lastActive'>,
  ghostFull: string,
  to: string,
  id?: string,
  caps?: Element,
): Element {
  const attrs: Record<string, string> = { from: ghostFull, to };
  if (id) attrs.id = xmlSafe(id);
  if (p.show === 'offline') {
    attrs.type = 'unavailable';
    return xml('presence', attrs, p.status ? xml('status', {}, xmlSafe(p.status)) : null);
  }
  return xml(
    'presence',
    attrs,
    p.show !== 'available' ? xml('show', {}, p.show) : null,
    p.status ? xml('status', {}, xmlSafe(p.status)) : null,
    p.lastActive ? xml('idle', { xmlns: NS.idle, since: p.lastActive }) : null,
    caps ?? null,
  );
}
