// The canonical event a refused request would have become, so that its refusal is audited
// as that event (AdapterContext.reject).
import { formatAddress, tryParseAddress } from '../../core/address.js';
import type { CanonicalEvent } from '../../core/model.js';
import { newTraceId } from '../../core/pipeline.js';
import { readBody } from './content.js';
import { getHeader, isSipUri, type SipRequest, viewNameAddr } from './message.js';
import { pidfToPresence } from './presence.js';

/**
 * The message or chat state of a MESSAGE, the call invite of an INVITE, the presence of a
 * PUBLISH (to the presentity). A SUBSCRIBE asks for presence to come later and carries
 * none: null, as for what has no sip: From and To (refused and logged, not audited).
 */
export function attemptedEvent(req: SipRequest, adapter: string): CanonicalEvent | null {
  const addr = (name: 'From' | 'To') => {
    try {
      const u = viewNameAddr(getHeader(req, name) ?? '', name).uri;
      if (!isSipUri(u) || u.user === undefined) return null;
      const a = tryParseAddress(formatAddress({ network: 'sip', user: u.user, domain: u.host }));
      return a ? formatAddress(a) : null;
    } catch {
      return null;
    }
  };
  const from = addr('From');
  const to = addr('To');
  if (!from || !to) return null;
  const cseq = getHeader(req, 'CSeq') ?? '';
  const base = {
    id: `${getHeader(req, 'Call-ID')}:${cseq}`.slice(0, 512),
    time: new Date().toISOString(),
    from,
    to,
    adapter,
    traceId: newTraceId(),
  };
  switch (req.method) {
    case 'MESSAGE': {
      let content: ReturnType<typeof readBody> | null;
      try {
        content = readBody(req);
      } catch {
        content = null;
      }
      if (content?.kind === 'composing') return { kind: 'chatstate', ...base, state: content.state };
      return { kind: 'message', ...base, body: content?.kind === 'text' ? content.text : '' };
    }
    case 'INVITE':
      return {
        kind: 'call',
        ...base,
        action: 'invite',
        callId: (getHeader(req, 'Call-ID') ?? 'x').slice(0, 256),
      };
    case 'PUBLISH': {
      const state = req.body.length ? pidfToPresence(req.body.toString('utf8')) : null;
      return {
        kind: 'presence',
        ...base,
        show: state?.show ?? 'offline',
        ...(state?.status ? { status: state.status } : {}),
      };
    }
    default:
      return null;
  }
}
