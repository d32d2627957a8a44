// Matrix VoIP signalling (m.call.invite/answer/candidates/hangup/reject, spec v1) <->
// canonical call events with the neutral session description. The SDP inside the Matrix
// events is read and written with sdp-transform. Pure functions; the adapter keeps the
// per-call state (room, the offer's media lines for mapping candidates).
import { createHash } from 'node:crypto';
import { formatCandidate, parseCandidate, parseSdp, writeSdp } from '../../core/media.js';
import type { CallEvent, IceCandidate, MediaLine, SessionDescription } from '../../core/model.js';

const str = (v: unknown): string | undefined => (typeof v === 'string' ? v : undefined);
const obj = (v: unknown): Record<string, unknown> | undefined =>
  v !== null && typeof v === 'object' && !Array.isArray(v) ? (v as Record<string, unknown>) : undefined;

export const CALL_EVENT_TYPES = new Set([
  'm.call.invite',
  'm.call.answer',
  'm.call.candidates',
  'm.call.hangup',
  'm.call.reject',
]);

/** Parse SDP into the neutral description; null when it is not usable SDP with audio/video. */
export function sdpToSession(text: string): SessionDescription | null {
  try {
    return parseSdp(text);
  } catch {
    return null;
  }
}

/** Write the neutral description as SDP (WebRTC defaults where it names nothing). */
export const sessionToSdp = (s: SessionDescription, sessionId: number): string =>
  writeSdp(s, { sessionId, sessionName: '-', defaultProtocol: 'UDP/TLS/RTP/SAVPF', alwaysMid: true });

export { formatCandidate, parseCandidate };

/** What the adapter remembers of a call's offer, to give candidates their media line. */
export interface CallMedia {
  media: 'audio' | 'video';
  name?: string;
  ufrag?: string;
  pwd?: string;
}

export const callMediaOf = (s: SessionDescription): CallMedia[] =>
  s.media.map((m) => ({
    media: m.media,
    ...(m.name !== undefined ? { name: m.name } : {}),
    ...(m.ice ? { ufrag: m.ice.ufrag, pwd: m.ice.pwd } : {}),
  }));

export type CallParts = Pick<CallEvent, 'action' | 'callId' | 'session' | 'reason'>;

const HANGUP_REASONS: Record<string, string> = {
  user_hangup: 'normal',
  invite_timeout: 'timeout',
  ice_failed: 'failed',
  ice_timeout: 'failed',
  user_media_failed: 'failed',
  user_busy: 'busy',
  unknown_error: 'failed',
};

/** A Matrix m.call.* event as canonical call parts; null when malformed. */
export function callFromMatrix(
  type: string,
  content: Record<string, unknown>,
  known: CallMedia[],
): CallParts | null {
  const callId = str(content.call_id);
  if (!callId || callId.length > 256) return null;
  switch (type) {
    case 'm.call.invite':
    case 'm.call.answer': {
      const desc = obj(type === 'm.call.invite' ? content.offer : content.answer);
      const sdp = str(desc?.sdp);
      const session = sdp ? sdpToSession(sdp) : null;
      if (!session) return null;
      return { action: type === 'm.call.invite' ? 'invite' : 'answer', callId, session };
    }
    case 'm.call.candidates': {
      const list = Array.isArray(content.candidates) ? content.candidates : [];
      const byLine = new Map<number, IceCandidate[]>();
      for (const raw of list.slice(0, 64)) {
        const c = obj(raw);
        const text = str(c?.candidate);
        if (!text) continue; // an empty candidate marks the end of gathering
        const parsed = parseCandidate(text);
        if (!parsed) continue;
        const mid = str(c?.sdpMid);
        let index = typeof c?.sdpMLineIndex === 'number' ? c.sdpMLineIndex : -1;
        if (index < 0 && mid !== undefined) index = known.findIndex((k) => k.name === mid);
        if (!Number.isInteger(index) || index < 0 || index > 15) index = 0;
        byLine.set(index, [...(byLine.get(index) ?? []), parsed]);
      }
      if (byLine.size === 0) return null;
      const media: MediaLine[] = [...byLine.entries()]
        .sort(([a], [b]) => a - b)
        .map(([i, candidates]) => {
          const k = known[i];
          const line: MediaLine = {
            media: k?.media ?? 'audio',
            codecs: [],
            ice: { ufrag: k?.ufrag ?? '', pwd: k?.pwd ?? '', candidates },
          };
          const name = k?.name ?? String(i);
          line.name = name;
          return line;
        });
      return { action: 'candidate', callId, session: { media } };
    }
    case 'm.call.hangup': {
      const reason = str(content.reason);
      return { action: 'hangup', callId, reason: (reason && HANGUP_REASONS[reason]) ?? reason ?? 'normal' };
    }
    case 'm.call.reject':
      return { action: 'hangup', callId, reason: 'declined' };
    default:
      return null;
  }
}

const TO_MATRIX_REASON: Record<string, string> = {
  timeout: 'invite_timeout',
  failed: 'ice_failed',
  busy: 'user_busy',
};

/** A canonical call event as the Matrix event that carries it; null when Matrix has none (ringing). */
export function callToMatrix(
  e: Pick<CallEvent, 'action' | 'callId' | 'session' | 'reason'>,
  partyId: string,
  sessionId: number,
): { type: string; content: Record<string, unknown> } | null {
  const base = { call_id: e.callId, party_id: partyId, version: '1' };
  switch (e.action) {
    case 'invite':
      if (!e.session) return null;
      return {
        type: 'm.call.invite',
        content: {
          ...base,
          lifetime: 60_000,
          offer: { type: 'offer', sdp: sessionToSdp(e.session, sessionId) },
        },
      };
    case 'answer':
      if (!e.session) return null;
      return {
        type: 'm.call.answer',
        content: { ...base, answer: { type: 'answer', sdp: sessionToSdp(e.session, sessionId) } },
      };
    case 'candidate': {
      const candidates = (e.session?.media ?? []).flatMap((m, i) =>
        (m.ice?.candidates ?? []).map((c) => ({
          candidate: formatCandidate(c),
          sdpMid: m.name ?? String(i),
          sdpMLineIndex: i,
        })),
      );
      return candidates.length ? { type: 'm.call.candidates', content: { ...base, candidates } } : null;
    }
    case 'hangup':
      if (e.reason === 'declined') return { type: 'm.call.reject', content: base };
      return {
        type: 'm.call.hangup',
        content: { ...base, reason: (e.reason && TO_MATRIX_REASON[e.reason]) ?? 'user_hangup' },
      };
    case 'ringing':
      return null;
  }
}

/** A stable SDP session id (o= line) for a call. */
export const sessionIdFor = (callId: string): number =>
  createHash('sha256').update(callId).digest().readUInt32BE(0);
