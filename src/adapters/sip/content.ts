// MESSAGE bodies: text/plain, message/cpim (RFC 3862) and isComposing (RFC 3994).
import { getHeader, parseMediaType, type SipRequest } from './message.js';

export type Inbound =
  | { kind: 'text'; text: string }
  | { kind: 'composing'; state: 'composing' | 'paused' }
  | { kind: 'unsupported'; type: string };

const decode = (body: Buffer, charset: string | null | undefined): string | null => {
  const cs = (charset ?? 'utf-8').toLowerCase();
  if (cs !== 'utf-8' && cs !== 'utf8' && cs !== 'us-ascii') return null;
  const text = body.toString('utf8');
  return Buffer.from(text, 'utf8').equals(body) ? text : null;
};

/** Split a MIME-ish block of headers from its content at the first empty line. */
function splitHeaders(s: string): { headers: Map<string, string>; rest: string } | null {
  const m = /\r?\n\r?\n/.exec(s);
  if (!m) return null;
  const headers = new Map<string, string>();
  for (const line of s.slice(0, m.index).split(/\r?\n/)) {
    const c = line.indexOf(':');
    if (c > 0) headers.set(line.slice(0, c).trim().toLowerCase(), line.slice(c + 1).trim());
  }
  return { headers, rest: s.slice(m.index + m[0].length) };
}

/** Classify a MESSAGE body. Throws ParseError for a malformed Content-Type. */
export function readBody(req: SipRequest): Inbound {
  const ct = getHeader(req, 'Content-Type');
  const mt = ct
    ? parseMediaType(ct)
    : { type: 'text', subtype: 'plain', params: new Map<string, string | null>() };
  const type = `${mt.type}/${mt.subtype}`;
  if (type === 'text/plain') {
    const text = decode(req.body, mt.params.get('charset'));
    return text === null ? { kind: 'unsupported', type: `${type} (charset)` } : { kind: 'text', text };
  }
  if (type === 'message/cpim') {
    // CPIM: message headers, empty line, MIME headers of the content, empty line, content.
    const whole = decode(req.body, 'utf-8');
    const outer = whole === null ? null : splitHeaders(whole);
    const inner = outer ? splitHeaders(outer.rest) : null;
    if (!inner) return { kind: 'unsupported', type: 'message/cpim (malformed)' };
    const innerType = inner.headers.get('content-type') ?? 'text/plain';
    const imt = parseMediaType(innerType);
    if (`${imt.type}/${imt.subtype}` === 'text/plain') return { kind: 'text', text: inner.rest };
    if (`${imt.type}/${imt.subtype}` === 'application/im-iscomposing+xml') return composing(inner.rest);
    return { kind: 'unsupported', type: `message/cpim with ${imt.type}/${imt.subtype}` };
  }
  if (type === 'application/im-iscomposing+xml') return composing(req.body.toString('utf8'));
  return { kind: 'unsupported', type };
}

function composing(xml: string): Inbound {
  const m = /<(?:[A-Za-z0-9_-]+:)?state>\s*(active|idle)\s*<\/(?:[A-Za-z0-9_-]+:)?state>/.exec(xml);
  if (!m || !/isComposing/.test(xml))
    return { kind: 'unsupported', type: 'application/im-iscomposing+xml (malformed)' };
  return { kind: 'composing', state: m[1] === 'active' ? 'composing' : 'paused' };
}

/** An RFC 3994 status message: `active` while composing, `idle` otherwise. */
export function isComposingXml(state: 'active' | 'idle', refreshSeconds = 60): string {
  return (
    '<?xml version="1.0" encoding="UTF-8"?>\n' +
    '<isComposing xmlns="urn:ietf:params:xml:ns:im-iscomposing">\n' +
    `  <state>${state}</state>\n` +
    '  <contenttype>text/plain</contenttype>\n' +
    (state === 'active' ? `  <refresh>${refreshSeconds}</refresh>\n` : '') +
    '</isComposing>\n'
  );
}
