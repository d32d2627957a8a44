// The canonical model: every adapter translates its network's traffic into these events
// and back. One TypeBox schema gives both the TypeScript type and the runtime validation.
import { type Static, Type } from '@sinclair/typebox';

/**
 * A network's name, as its module registered it (core/network.ts): the adapter's config
 * `type`, the policy's `network`. The networks are plug-ins, so the core knows no list.
 */
export type Network = string;

export const EVENT_KINDS = ['message', 'presence', 'chatstate', 'receipt', 'call'] as const;
export const EventKind = Type.Union(EVENT_KINDS.map((k) => Type.Literal(k)));
export type EventKind = Static<typeof EventKind>;

/** An address as a URI with its network's own scheme (core/address.ts reads it). */
export const AddressUri = Type.String({ minLength: 3, maxLength: 3071 });

const Base = {
  /** Unique per event; adapters keep the network's own id where there is one. */
  id: Type.String({ minLength: 1, maxLength: 512 }),
  /** ISO 8601 instant. */
  time: Type.String({ format: 'date-time' }),
  from: AddressUri,
  to: AddressUri,
  /** Name of the adapter (link) the event came from; `cli` or `api` when evaluated offline. */
  adapter: Type.String({ minLength: 1, maxLength: 128 }),
  traceId: Type.String({ minLength: 1, maxLength: 128 }),
};

export const Attachment = Type.Object(
  {
    mime: Type.String({ maxLength: 255 }),
    size: Type.Optional(Type.Integer({ minimum: 0 })),
    name: Type.Optional(Type.String({ maxLength: 1024 })),
    url: Type.Optional(Type.String({ maxLength: 4096 })),
  },
  { additionalProperties: false },
);
export type Attachment = Static<typeof Attachment>;

export const MESSAGE_REQUESTS = ['delivered', 'displayed', 'chatstates'] as const;
export const MessageRequest = Type.Union(MESSAGE_REQUESTS.map((r) => Type.Literal(r)));
export type MessageRequest = Static<typeof MessageRequest>;

export const MessageEvent = Type.Object(
  {
    kind: Type.Literal('message'),
    ...Base,
    body: Type.String({ maxLength: 262144 }),
    html: Type.Optional(Type.String({ maxLength: 524288 })),
    thread: Type.Optional(Type.String({ maxLength: 512 })),
    /** Id of the message this one corrects (an edit). */
    replaces: Type.Optional(Type.String({ maxLength: 512 })),
    /** Id of the message this one answers. */
    replyTo: Type.Optional(Type.String({ maxLength: 512 })),
    /** `notice`: sent by a program, not a person; `emote`: an action (`/me waves`); others carry `chat`. */
    style: Type.Optional(Type.Union([Type.Literal('chat'), Type.Literal('notice'), Type.Literal('emote')])),
    attachments: Type.Optional(Type.Array(Attachment, { maxItems: 64 })),
    /**
     * What the sender's side will take back for this message: delivery and display receipts
     * and chat states (as its network negotiates them).
     * Targets ask the recipient for these only when listed, so nothing is requested that
     * would be answered into the void, and the stanzas stay as small as the sender's.
     * Each at most once: repeatedRequest checks it (TypeBox's uniqueItems hashes every
     * item, a measurable cost on every message).
     */
    requests: Type.Optional(Type.Array(MessageRequest, { maxItems: 3 })),
  },
  { additionalProperties: false },
);
export type MessageEvent = Static<typeof MessageEvent>;

/** The first request listed twice in `requests`, or null. */
export function repeatedRequest(requests: readonly string[] | undefined): string | null {
  if (!requests) return null;
  for (let i = 1; i < requests.length; i++) {
    if (requests.indexOf(requests[i] as string) < i) return requests[i] as string;
  }
  return null;
}

export const PRESENCE_SHOWS = ['available', 'away', 'dnd', 'xa', 'offline'] as const;
export const PresenceShow = Type.Union(PRESENCE_SHOWS.map((s) => Type.Literal(s)));
export type PresenceShow = Static<typeof PresenceShow>;

export const PresenceEvent = Type.Object(
  {
    kind: Type.Literal('presence'),
    ...Base,
    show: PresenceShow,
    status: Type.Optional(Type.String({ maxLength: 4096 })),
    /** What the user is doing, e.g. `on-the-phone`, `meeting`. */
    activity: Type.Optional(Type.String({ maxLength: 128 })),
    lastActive: Type.Optional(Type.String({ format: 'date-time' })),
  },
  { additionalProperties: false },
);
export type PresenceEvent = Static<typeof PresenceEvent>;

export const CHAT_STATES = ['composing', 'paused', 'active', 'inactive', 'gone'] as const;
export const ChatStateEvent = Type.Object(
  {
    kind: Type.Literal('chatstate'),
    ...Base,
    state: Type.Union(CHAT_STATES.map((s) => Type.Literal(s))),
  },
  { additionalProperties: false },
);
export type ChatStateEvent = Static<typeof ChatStateEvent>;

export const ReceiptEvent = Type.Object(
  {
    kind: Type.Literal('receipt'),
    ...Base,
    receipt: Type.Union([Type.Literal('delivered'), Type.Literal('displayed')]),
    /** Id of the message acknowledged. */
    messageId: Type.String({ maxLength: 512 }),
  },
  { additionalProperties: false },
);
export type ReceiptEvent = Static<typeof ReceiptEvent>;

export const Codec = Type.Object(
  {
    payloadType: Type.Integer({ minimum: 0, maximum: 127 }),
    name: Type.String({ maxLength: 64 }),
    clockRate: Type.Integer({ minimum: 0 }),
    channels: Type.Optional(Type.Integer({ minimum: 1 })),
    fmtp: Type.Optional(Type.String({ maxLength: 1024 })),
  },
  { additionalProperties: false },
);
export type Codec = Static<typeof Codec>;

export const IceCandidate = Type.Object(
  {
    foundation: Type.String({ maxLength: 64 }),
    component: Type.Integer({ minimum: 1, maximum: 256 }),
    protocol: Type.String({ maxLength: 8 }),
    priority: Type.Integer({ minimum: 0 }),
    ip: Type.String({ maxLength: 64 }),
    port: Type.Integer({ minimum: 0, maximum: 65535 }),
    type: Type.String({ maxLength: 16 }),
    relAddr: Type.Optional(Type.String({ maxLength: 64 })),
    relPort: Type.Optional(Type.Integer({ minimum: 0, maximum: 65535 })),
    generation: Type.Optional(Type.Integer({ minimum: 0 })),
  },
  { additionalProperties: false },
);
export type IceCandidate = Static<typeof IceCandidate>;

/** One media line of the neutral session description (what every network's call signalling shares). */
export const MediaLine = Type.Object(
  {
    media: Type.Union([Type.Literal('audio'), Type.Literal('video')]),
    /** The line's identifier (SDP `mid`). */
    name: Type.Optional(Type.String({ maxLength: 64 })),
    port: Type.Optional(Type.Integer({ minimum: 0, maximum: 65535 })),
    address: Type.Optional(Type.String({ maxLength: 64 })),
    protocol: Type.Optional(Type.String({ maxLength: 32 })),
    direction: Type.Optional(
      Type.Union([
        Type.Literal('sendrecv'),
        Type.Literal('sendonly'),
        Type.Literal('recvonly'),
        Type.Literal('inactive'),
      ]),
    ),
    codecs: Type.Array(Codec, { maxItems: 64 }),
    ice: Type.Optional(
      Type.Object(
        {
          ufrag: Type.String({ maxLength: 256 }),
          pwd: Type.String({ maxLength: 256 }),
          candidates: Type.Array(IceCandidate, { maxItems: 64 }),
        },
        { additionalProperties: false },
      ),
    ),
    fingerprint: Type.Optional(
      Type.Object(
        { hash: Type.String({ maxLength: 16 }), value: Type.String({ maxLength: 256 }) },
        { additionalProperties: false },
      ),
    ),
    setup: Type.Optional(
      Type.Union([Type.Literal('actpass'), Type.Literal('active'), Type.Literal('passive')]),
    ),
    rtcpMux: Type.Optional(Type.Boolean()),
  },
  { additionalProperties: false },
);
export type MediaLine = Static<typeof MediaLine>;

export const SessionDescription = Type.Object(
  { media: Type.Array(MediaLine, { maxItems: 16 }) },
  { additionalProperties: false },
);
export type SessionDescription = Static<typeof SessionDescription>;

export const CALL_ACTIONS = ['invite', 'ringing', 'answer', 'candidate', 'hangup'] as const;
export const CallAction = Type.Union(CALL_ACTIONS.map((a) => Type.Literal(a)));
export type CallAction = Static<typeof CallAction>;

export const CallEvent = Type.Object(
  {
    kind: Type.Literal('call'),
    ...Base,
    action: CallAction,
    /** Correlates the legs of one call across networks. */
    callId: Type.String({ minLength: 1, maxLength: 256 }),
    session: Type.Optional(SessionDescription),
    /** For hangup: why (e.g. `busy`, `declined`, `policy`). */
    reason: Type.Optional(Type.String({ maxLength: 256 })),
  },
  { additionalProperties: false },
);
export type CallEvent = Static<typeof CallEvent>;

export const CanonicalEvent = Type.Union([
  MessageEvent,
  PresenceEvent,
  ChatStateEvent,
  ReceiptEvent,
  CallEvent,
]);
export type CanonicalEvent = Static<typeof CanonicalEvent>;

/** The event of a given kind. */
export type EventOf<K extends EventKind> = Extract<CanonicalEvent, { kind: K }>;
