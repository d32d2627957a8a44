// What an audit record keeps of an event's content, by config (audit.content):
//  - full: a message's text body as delivered (after any redaction); for other kinds a
//    compact canonical JSON summary of the kind-specific fields;
//  - hash: the SHA-256 hex of exactly that text (proves content without keeping it);
//  - none: nothing.
import type { CanonicalEvent } from '../model.js';
import { canonicalJson, sha256Hex } from './hash.js';
import type { AuditContent } from './record.js';

export type AuditContentMode = AuditContent['mode'];

/** The text the `full` mode keeps (and the `hash` mode hashes) for an event. */
export function contentText(event: CanonicalEvent): string {
  switch (event.kind) {
    case 'message': {
      if (!event.attachments || event.attachments.length === 0) return event.body;
      // Attachments are described after the body, one per line.
      const lines = event.attachments.map(
        (a) =>
          `[attachment ${a.mime}${a.name ? ` "${a.name}"` : ''}${a.size !== undefined ? ` ${a.size} bytes` : ''}${a.url ? ` ${a.url}` : ''}]`,
      );
      return event.body.length > 0 ? `${event.body}\n${lines.join('\n')}` : lines.join('\n');
    }
    case 'presence':
      return canonicalJson({
        show: event.show,
        status: event.status,
        activity: event.activity,
        lastActive: event.lastActive,
      });
    case 'chatstate':
      return canonicalJson({ state: event.state });
    case 'receipt':
      return canonicalJson({ receipt: event.receipt, messageId: event.messageId });
    case 'call':
      return canonicalJson({
        action: event.action,
        callId: event.callId,
        reason: event.reason,
        media: event.session?.media.map((m) => ({
          media: m.media,
          direction: m.direction,
          codecs: m.codecs.map((c) => `${c.name}/${c.clockRate}${c.channels ? `/${c.channels}` : ''}`),
        })),
      });
  }
}

export function auditContent(event: CanonicalEvent, mode: AuditContentMode): AuditContent {
  switch (mode) {
    case 'none':
      return { mode: 'none' };
    case 'hash':
      return { mode: 'hash', sha256: sha256Hex(contentText(event)) };
    case 'full':
      return { mode: 'full', body: contentText(event) };
  }
}
