// Translation between Matrix client-server events and canonical events. Pure functions:
// the adapter resolves rooms, ghosts and event-id mappings around them.
import { type Static, Type } from '@sinclair/typebox';
import { TypeCompiler } from '@sinclair/typebox/compiler';
import type { Attachment, MessageEvent, PresenceEvent, PresenceShow } from '../../core/model.js';

/** A room or state event as the homeserver pushes it in a transaction. */
export const MatrixClientEvent = Type.Object(
  {
    type: Type.String({ minLength: 1, maxLength: 255 }),
    event_id: Type.String({ minLength: 1, maxLength: 255 }),
    room_id: Type.String({ minLength: 1, maxLength: 255 }),
    sender: Type.String({ minLength: 3, maxLength: 255 }),
    origin_server_ts: Type.Optional(Type.Number()),
    state_key: Type.Optional(Type.String({ maxLength: 255 })),
    content: Type.Record(Type.String(), Type.Unknown()),
  },
  { additionalProperties: true },
);
export type MatrixClientEvent = Static<typeof MatrixClientEvent>;

/** An ephemeral event (typing, receipts, presence) pushed when the registration asks for them. */
export const MatrixEphemeralEvent = Type.Object(
  {
    type: Type.String({ minLength: 1, maxLength: 255 }),
    room_id: Type.Optional(Type.String({ maxLength: 255 })),
    sender: Type.Optional(Type.String({ maxLength: 255 })),
    content: Type.Record(Type.String(), Type.Unknown()),
  },
  { additionalProperties: true },
);
export type MatrixEphemeralEvent = Static<typeof MatrixEphemeralEvent>;

export const checkClientEvent = TypeCompiler.Compile(MatrixClientEvent);
export const checkEphemeralEvent = TypeCompiler.Compile(MatrixEphemeralEvent);

const str = (v: unknown): string | undefined => (typeof v === 'string' ? v : undefined);
const obj = (v: unknown): Record<string, unknown> | undefined =>
  v !== null && typeof v === 'object' && !Array.isArray(v) ? (v as Record<string, unknown>) : undefined;

const HTML_FORMAT = 'org.matrix.custom.html';
const ATTACHMENT_TYPES = new Set(['m.image', 'm.file', 'm.audio', 'm.video']);

/** The parts of an incoming m.room.message that become a canonical message (ids still Matrix ids). */
export type MessageParts = Pick<
  MessageEvent,
  'body' | 'html' | 'style' | 'replaces' | 'replyTo' | 'attachments'
>;

/** Remove the reply fallback (`> <@user> quoted` lines) a client puts before the answer. */
export function stripReplyFallback(body: string): string {
  const lines = body.split('\n');
  let i = 0;
  while (i < lines.length && lines[i]!.startsWith('>')) i++;
  if (i === 0) return body;
  if (lines[i] === '') i++;
  return lines.slice(i).join('\n');
}

export const stripHtmlReplyFallback = (html: string): string =>
  html.replace(/^<mx-reply>[\s\S]*?<\/mx-reply>/, '');

/**
 * An m.room.message content as canonical message parts, or null when it carries nothing
 * Parley can translate (unknown msgtype without a body, a redacted event).
 */
export function messageFromMatrix(content: Record<string, unknown>): MessageParts | null {
  const relates = obj(content['m.relates_to']);
  const relType = str(relates?.rel_type);
  let replaces: string | undefined;
  let source = content;
  if (relType === 'm.replace' && str(relates?.event_id)) {
    replaces = str(relates?.event_id);
    source = obj(content['m.new_content']) ?? content;
  }
  const replyTo = str(obj(relates?.['m.in_reply_to'])?.event_id);
  const msgtype = str(source.msgtype);
  const rawBody = str(source.body);
  if (msgtype === undefined || rawBody === undefined) return null;
  const out: MessageParts = { body: replyTo && !replaces ? stripReplyFallback(rawBody) : rawBody };
  if (str(source.format) === HTML_FORMAT && str(source.formatted_body) !== undefined) {
    const html = str(source.formatted_body) as string;
    out.html = replyTo && !replaces ? stripHtmlReplyFallback(html) : html;
  }
  if (msgtype === 'm.notice') out.style = 'notice';
  else if (msgtype === 'm.emote') out.style = 'emote';
  else if (ATTACHMENT_TYPES.has(msgtype)) {
    const info = obj(source.info) ?? {};
    const url = str(source.url) ?? str(obj(source.file)?.url);
    const filename = str(source.filename) ?? rawBody;
    const att: Attachment = { mime: (str(info.mimetype) ?? defaultMime(msgtype)).slice(0, 255) };
    if (typeof info.size === 'number' && Number.isInteger(info.size) && info.size >= 0) att.size = info.size;
    if (filename) att.name = filename.slice(0, 1024);
    if (url) att.url = url.slice(0, 4096);
    out.attachments = [att];
    // With `filename` set, body is a caption; otherwise it is just the file name.
    out.body = str(source.filename) && source.filename !== rawBody ? rawBody : '';
    delete out.html;
  } else if (msgtype !== 'm.text') {
    // Unknown msgtypes (m.location, custom ones): their body is the fallback text.
  }
  if (replaces) out.replaces = replaces;
  if (replyTo && !replaces) out.replyTo = replyTo;
  return out;
}

function defaultMime(msgtype: string): string {
  switch (msgtype) {
    case 'm.image':
      return 'image/*';
    case 'm.audio':
      return 'audio/*';
    case 'm.video':
      return 'video/*';
    default:
      return 'application/octet-stream';
  }
}

export interface OutgoingMatrixEvent {
  type: string;
  content: Record<string, unknown>;
}

/** Matrix ids the outgoing message refers to (already mapped from canonical ids). */
export interface MatrixRefs {
  replaces?: string;
  replyTo?: string;
}

const escapeHtml = (s: string): string =>
  s.replace(
    /[&<>"']/g,
    (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c] ?? c,
  );

function msgtypeOf(style: MessageEvent['style']): string {
  return style === 'notice' ? 'm.notice' : style === 'emote' ? 'm.emote' : 'm.text';
}

function attachmentMsgtype(mime: string): string {
  if (mime.startsWith('image/')) return 'm.image';
  if (mime.startsWith('audio/')) return 'm.audio';
  if (mime.startsWith('video/')) return 'm.video';
  return 'm.file';
}

/**
 * A canonical message as the Matrix events that carry it: the text (an edit, a reply or a
 * plain message) and one m.image/m.file/... per attachment with an mxc:// link. Attachments
 * with other links (https://...) cannot be an m.file (clients fetch only mxc), so they are
 * appended to the text as links.
 */
export function messageToMatrix(e: MessageEvent, refs: MatrixRefs): OutgoingMatrixEvent[] {
  const out: OutgoingMatrixEvent[] = [];
  const links: string[] = [];
  const files: OutgoingMatrixEvent[] = [];
  for (const a of e.attachments ?? []) {
    if (a.url?.startsWith('mxc://')) {
      const info: Record<string, unknown> = { mimetype: a.mime };
      if (a.size !== undefined) info.size = a.size;
      files.push({
        type: 'm.room.message',
        content: { msgtype: attachmentMsgtype(a.mime), body: a.name ?? 'attachment', url: a.url, info },
      });
    } else {
      links.push(`${a.name ?? a.mime}: ${a.url ?? '(no link)'}`);
    }
  }
  const body = [e.body, ...links].filter((s) => s !== '').join('\n');
  if (body !== '' || files.length === 0) {
    const text: Record<string, unknown> = { msgtype: msgtypeOf(e.style), body };
    if (e.html !== undefined) {
      text.format = HTML_FORMAT;
      text.formatted_body = links.length
        ? `${e.html}${links.map((l) => `<br>${escapeHtml(l)}`).join('')}`
        : e.html;
    }
    if (refs.replaces) {
      const content: Record<string, unknown> = {
        ...text,
        body: `* ${body}`,
        'm.new_content': text,
        'm.relates_to': { rel_type: 'm.replace', event_id: refs.replaces },
      };
      if (typeof text.formatted_body === 'string') content.formatted_body = `* ${text.formatted_body}`;
      out.push({ type: 'm.room.message', content });
    } else {
      if (refs.replyTo) text['m.relates_to'] = { 'm.in_reply_to': { event_id: refs.replyTo } };
      out.push({ type: 'm.room.message', content: text });
    }
  }
  out.push(...files);
  return out;
}

// Presence: Matrix has online / unavailable / offline (and MSC3026 busy).
export function presenceFromMatrix(
  content: Record<string, unknown>,
): Pick<PresenceEvent, 'show' | 'status' | 'lastActive'> | null {
  const p = str(content.presence);
  let show: PresenceShow;
  switch (p) {
    case 'online':
      show = 'available';
      break;
    case 'unavailable':
      show = 'away';
      break;
    case 'offline':
      show = 'offline';
      break;
    case 'busy':
    case 'org.matrix.msc3026.busy':
      show = 'dnd';
      break;
    default:
      return null;
  }
  const out: Pick<PresenceEvent, 'show' | 'status' | 'lastActive'> = { show };
  const status = str(content.status_msg);
  if (status) out.status = status.slice(0, 4096);
  const ago = content.last_active_ago;
  if (typeof ago === 'number' && Number.isFinite(ago) && ago >= 0 && ago < 1e13) {
    out.lastActive = new Date(Date.now() - ago).toISOString();
  }
  return out;
}

export function presenceToMatrix(e: Pick<PresenceEvent, 'show' | 'status'>): {
  presence: 'online' | 'unavailable' | 'offline';
  status_msg?: string;
} {
  const presence = e.show === 'available' ? 'online' : e.show === 'offline' ? 'offline' : 'unavailable';
  const status = e.status ?? (e.show === 'dnd' ? 'Do not disturb' : undefined);
  return status ? { presence, status_msg: status } : { presence };
}

/** Read receipts in an m.receipt content: [eventId, userId][] for `m.read` (and private reads). */
export function readReceipts(content: Record<string, unknown>): { eventId: string; userId: string }[] {
  const out: { eventId: string; userId: string }[] = [];
  for (const [eventId, byType] of Object.entries(content)) {
    const types = obj(byType);
    if (!types) continue;
    for (const t of ['m.read', 'm.read.private']) {
      const users = obj(types[t]);
      if (!users) continue;
      for (const userId of Object.keys(users)) out.push({ eventId, userId });
    }
  }
  return out;
}

/** Users typing in an m.typing content. */
export function typingUsers(content: Record<string, unknown>): string[] {
  const ids = content.user_ids;
  return Array.isArray(ids) ? ids.filter((x): x is string => typeof x === 'string') : [];
}
