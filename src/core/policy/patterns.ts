// What a message says: `content` clauses (text patterns run in linear time, body length)
// and `attachment` clauses (MIME type, size).
import { RE2JS } from 're2js';
import type { Clause } from './context.js';
import { fmtList, list } from './lists.js';
import type { RuleMatch } from './schema.js';

/** A compiled `content.pattern`: matching and literal replacement, both linear in the body. */
export interface ContentPattern {
  readonly source: string;
  /** Whether the body contains a match. */
  test(body: string): boolean;
  /** Every match replaced with `replacement`, taken literally (`$` and `\\` are plain text). */
  replaceAll(body: string, replacement: string): string;
}

// Why RE2 and not RegExp: patterns run on text any outside sender chooses, and a backtracking
// engine takes exponential time on patterns like `(a+)+$` (one message would stall the event
// loop). RE2 matches in time linear in the body, which rules out the two features below.
const LINEAR_HINT =
  'content patterns run on a linear-time engine (RE2) so that no message can stall the gateway';

/** Null when `src` uses no feature RE2 cannot match in linear time; otherwise why and what instead. */
function nonLinearFeature(src: string): string | null {
  let inClass = false;
  for (let i = 0; i < src.length; i++) {
    const c = src[i];
    const at = `(character ${i + 1})`;
    if (c === '\\') {
      const n = src[i + 1] ?? '';
      if (!inClass && /[1-9]/.test(n)) {
        const ref = /^\\\d+/.exec(src.slice(i))![0];
        return `backreference "${ref}" ${at} is not supported: ${LINEAR_HINT}, and a backreference cannot be matched in linear time; write the repeated text out instead (e.g. "(ab)\\1" becomes "abab" or "(ab){2}")`;
      }
      if (!inClass && n === 'k' && src[i + 2] === '<') {
        return `named backreference "\\k<...>" ${at} is not supported: ${LINEAR_HINT}, and a backreference cannot be matched in linear time; write the repeated text out instead`;
      }
      i++;
    } else if (inClass) {
      if (c === ']') inClass = false;
    } else if (c === '[') {
      inClass = true;
    } else if (c === '(') {
      const look = /^\(\?(?:=|!|<=|<!)/.exec(src.slice(i, i + 4));
      if (look) {
        const kind = look[0].includes('<') ? 'lookbehind' : 'lookahead';
        return `${kind} "${look[0]}" ${at} is not supported: ${LINEAR_HINT}; match the neighbouring text as part of the pattern instead (e.g. "card(?= number)" becomes "card number"), or split the condition into two rules`;
      }
    }
  }
  return null;
}

/**
 * Compile a `content.pattern` (JavaScript regular-expression syntax, run by RE2); `(?i)` at
 * the start makes it case-insensitive. Throws with a message for the loader when the pattern
 * is malformed or needs backtracking (backreferences, lookahead, lookbehind).
 */
export function compilePattern(src: string): ContentPattern {
  const bad = nonLinearFeature(src);
  if (bad !== null) throw new Error(bad);
  let re: RE2JS;
  try {
    // translateRegExp maps JavaScript-only spellings (`\u00e9`, `\cA`, `(?<name>`) to RE2's.
    re = RE2JS.compile(RE2JS.translateRegExp(src));
  } catch (err) {
    const msg = err instanceof Error ? err.message : String(err);
    throw new Error(msg.replace(/^error parsing regexp: /, ''));
  }
  return {
    source: src,
    test: (body) => re.test(body),
    replaceAll: (body, replacement) => re.matcher(body).replaceAll(RE2JS.quoteReplacement(replacement)),
  };
}

/** A `content` clause (messages only): the body contains the pattern and is longer than `longerThan`. */
export function contentClause(content: NonNullable<RuleMatch['content']>, messageKind: number): Clause {
  const re = content.pattern !== undefined ? compilePattern(content.pattern) : null;
  const longer = content.longerThan;
  const lengthOk = (body: string): boolean => {
    if (longer === undefined) return true;
    if (body.length <= longer) return false;
    let n = 0;
    for (const _ of body) if (++n > longer) return true;
    return false;
  };
  return {
    name: 'content',
    test: (c) =>
      c.event.kind === 'message' && (re === null || re.test(c.event.body)) && lengthOk(c.event.body),
    explain: (c) => {
      if (c.event.kind !== 'message') return `content applies to messages only, this is a ${c.event.kind}`;
      const parts: string[] = [];
      if (re)
        parts.push(`body ${re.test(c.event.body) ? 'contains' : 'does not contain'} /${content.pattern}/`);
      if (longer !== undefined) {
        parts.push(
          `body (${[...c.event.body].length} characters) is ${lengthOk(c.event.body) ? '' : 'not '}longer than ${longer}`,
        );
      }
      return parts.join(', ') || 'content: no condition';
    },
    tri: (k) => (k === messageKind ? 1 : 0),
  };
}

/** An `attachment` clause (messages only): an attachment of the given type and size. */
export function attachmentClause(
  attachment: NonNullable<RuleMatch['attachment']>,
  messageKind: number,
): Clause {
  const mimes = list(attachment.mime).map((x) => x.toLowerCase());
  const larger = attachment.largerThan;
  const mimeOk = (mime: string): boolean => {
    if (mimes.length === 0) return true;
    const lm = mime.toLowerCase();
    for (const p of mimes) {
      if (p === lm || p === '*/*') return true;
      if (p.endsWith('*') && lm.startsWith(p.slice(0, -1))) return true;
    }
    return false;
  };
  const one = (a: { mime: string; size?: number }): boolean =>
    mimeOk(a.mime) && (larger === undefined || (a.size !== undefined && a.size > larger));
  return {
    name: 'attachment',
    test: (c) => c.event.kind === 'message' && (c.event.attachments?.some(one) ?? false),
    explain: (c, ok) => {
      if (c.event.kind !== 'message') return `attachment applies to messages only, this is a ${c.event.kind}`;
      const n = c.event.attachments?.length ?? 0;
      const want = [
        mimes.length ? `of type ${fmtList(mimes)}` : '',
        larger !== undefined ? `larger than ${larger} bytes` : '',
      ]
        .filter(Boolean)
        .join(' and ');
      return `${ok ? 'an' : 'no'} attachment${want ? ` ${want}` : ''} (message has ${n})`;
    },
    tri: (k) => (k === messageKind ? 1 : 0),
  };
}
