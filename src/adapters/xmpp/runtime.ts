// What the XMPP adapter's parts share while it runs: its name and config, the context the
// gateway gave it, the stanza environment, the sent-message memory, and the two ways out
// (send a stanza, submit an event). The adapter builds one at start.
import { type Element, xml } from '@xmpp/xml';
import type { AdapterContext } from '../../core/adapter.js';
import type { Logger } from '../../core/logger.js';
import type { CanonicalEvent } from '../../core/model.js';
import type { ResolvedXmppConfig } from './config.js';
import type { SentMemory } from './sent.js';
import type { StanzaEnv } from './stanza.js';

/** The resource ghosts use for Jingle (calls need full JIDs). */
export const GHOST_RESOURCE = 'parley';

export interface XmppRuntime {
  readonly name: string;
  readonly cfg: ResolvedXmppConfig;
  readonly log: Logger;
  readonly ctx: AdapterContext;
  /** Made once per start: building it per stanza (six closures) showed in bench:xmpp. */
  readonly env: StanzaEnv;
  readonly sent: SentMemory;
  /** Send a stanza on the link; false when it is down (or held by another replica). */
  send(el: Element): Promise<boolean>;
  /** Hand an event read from `el` to the pipeline. */
  submit(event: CanonicalEvent, el: Element): Promise<void>;
}

/** The empty result to an iq. */
export function iqResult(el: Element): Element {
  const attrs: Record<string, string> = { type: 'result' };
  if (el.attrs.to) attrs.from = el.attrs.to;
  if (el.attrs.from) attrs.to = el.attrs.from;
  if (el.attrs.id !== undefined) attrs.id = el.attrs.id;
  return xml('iq', attrs);
}

/** An event id as a stanza id: without the characters XML cannot carry. */
export const xmlSafeId = (id: string): string => id.replace(/[^\t\n\r\u0020-\uD7FF\uE000-\uFFFD]/gu, '');
