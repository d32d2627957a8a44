// What an audit record keeps of an event's content, by config (audit.content):
//  - full: a message's text body as delivered (after any redaction); for other kinds a
//    compact canonical JSON summary of the kind-specific fields;
//  - hash: the SHA-256 hex of exactly that text (proves content without keeping it);
//  - none: nothing.
import { rulesOf } from '../kinds/index.js';
import type { CanonicalEvent } from '../model.js';
import { sha256Hex } from './hash.js';
import type { AuditContent } from './record.js';

export type AuditContentMode = AuditContent['mode'];

/** The text the `full` mode keeps (and the `hash` mode hashes) for an event: as its kind says. */
export const contentText = (event: CanonicalEvent): string => rulesOf(event.kind).auditText(event);

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
