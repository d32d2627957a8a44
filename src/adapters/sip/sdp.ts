// SDP bodies of SIP INVITEs <-> the neutral session description (src/core/media.ts), with
// failures as SIP 488 (Not Acceptable Here).
import { MediaError, parseSdp, writeSdp } from '../../core/media.js';
import type { SessionDescription } from '../../core/model.js';
import { ParseError } from './message.js';

/** Parse an SDP offer/answer; throws ParseError (488) when it is not SDP or has no audio/video. */
export function sdpToSession(text: string): SessionDescription {
  try {
    return parseSdp(text);
  } catch (err) {
    throw new ParseError(
      err instanceof MediaError ? err.message : `unusable SDP: ${(err as Error).message}`,
      488,
    );
  }
}

/** Write a session description as SDP; `address` is used where a media line names none. */
export function sessionToSdp(s: SessionDescription, address: string, sessionId: number): string {
  return writeSdp(s, { address, sessionId, defaultProtocol: 'RTP/AVP' });
}
