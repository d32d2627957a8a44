// Messages: the kind the core changes most on its way — a policy disclaimer appended,
// content patterns redacted, and fitted to the target (an edit becomes a new message
// marked `[correction]`, HTML falls back to text, attachments become links).
import type { Capabilities, Degradation } from '../adapter.js';
import { type MessageEvent as Message, MessageEvent, repeatedRequest } from '../model.js';
import type { Fitted, KindRules } from './rules.js';

export const message: KindRules<'message'> = {
  schema: MessageEvent,
  inputDefaults: () => ({ body: '' }),
  problem(event) {
    // Each request at most once: checked here because the schema's uniqueItems costs a hash per item.
    const repeated = repeatedRequest(event.requests);
    return repeated ? { path: '/requests', message: `${repeated} is listed twice` } : null;
  },
  fit: fitMessage,
  withDisclaimer: (event, text) => ({ ...event, body: `${event.body}\n\n${text}` }),
  redact(event, pattern, replacement) {
    const body = pattern.replaceAll(event.body, replacement);
    const html = event.html === undefined ? undefined : pattern.replaceAll(event.html, replacement);
    if (body === event.body && html === event.html) return event;
    return html === undefined ? { ...event, body } : { ...event, body, html };
  },
  auditText(event) {
    if (!event.attachments || event.attachments.length === 0) return event.body;
    // Attachments are described after the body, one per line.
    const lines = event.attachments.map(
      (a) =>
        `[attachment ${a.mime}${a.name ? ` "${a.name}"` : ''}${a.size !== undefined ? ` ${a.size} bytes` : ''}${a.url ? ` ${a.url}` : ''}]`,
    );
    return event.body.length > 0 ? `${event.body}\n${lines.join('\n')}` : lines.join('\n');
  },
};

/**
 * Degrade visibly what the target cannot carry (edits become marked new messages, HTML
 * falls back to text, attachments become links); refuse a body longer than it takes.
 */
function fitMessage(event: Message, caps: Capabilities): Fitted<Message> {
  let e = event;
  const notes: string[] = [];
  const changes: Degradation[] = [];
  if (e.replaces && !caps.edits) {
    const { replaces: _r, ...rest } = e;
    e = { ...rest, body: `[correction] ${e.body}` };
    notes.push('edit sent as a new message marked as a correction');
    changes.push('edit');
  }
  if (e.html && !caps.html) {
    const { html: _h, ...rest } = e;
    e = rest;
    notes.push('formatting removed');
    changes.push('html');
  }
  if (e.attachments?.length && !caps.attachments) {
    const links = e.attachments.map((a) => `${a.name ?? a.mime}: ${a.url ?? '(no link)'}`);
    const { attachments: _a, ...rest } = e;
    e = { ...rest, body: [e.body, ...links].filter(Boolean).join('\n') };
    notes.push('attachments sent as links');
    changes.push('attachments');
  }
  if (e.body.length > caps.maxBodyLength) {
    return {
      ok: false,
      reason: `The message is too long for the recipient's network (${e.body.length} > ${caps.maxBodyLength} characters).`,
    };
  }
  return notes.length
    ? { ok: true, event: e, degraded: notes.join('; '), changes }
    : { ok: true, event: e, changes };
}

/**
 * What a sender is told of each degradation of their message to `recipient` on the
 * network named `net`: one sentence each.
 */
export const degradedSentences = (recipient: string, net: string): Record<Degradation, string> => ({
  edit: `Your correction was delivered to ${recipient} as a new message: ${net} cannot edit messages.`,
  html: `Your message was delivered to ${recipient} without its formatting: ${net} cannot carry rich text.`,
  attachments: `Your attachments were delivered to ${recipient} as links: ${net} cannot carry attachments.`,
});
