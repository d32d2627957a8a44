// The terms of the audit search index (an FTS5 table, `schema.ts`): the words of a record's
// kept content and one term per indexed field value. Both threads use these functions: the
// writer to index, the reader to query, so a term is spelled the same way on both sides.
//
// Every term is plain ASCII letters and digits, so that FTS5's `ascii` tokenizer splits
// the indexed text exactly where we put spaces and changes nothing (the index never relies
// on SQLite's idea of a letter, its case folding or its Unicode version):
// - a word of letters a-z and digits 0-9 only is its own term;
// - any other word is `x` + the hex of its UTF-8 bytes, which keeps prefixes: the hex of a
//   prefix is a prefix of the hex, so `café*`-style queries still work;
// - a field value is `k` + a 55-bit hash of the field's letter and the value, in base 32.
// A term can stand for more than one thing (a body word spelled like a hash, two values
// with one hash): the index finds candidates, and the search checks each one exactly.

/** Words as the full-text filter `q` reads them: maximal runs of Unicode letters and digits. */
const WORD = /[\p{L}\p{N}]+/gu;
const QUERY_WORD = /([\p{L}\p{N}]+)(\*?)/gu;
const PLAIN = /^[a-z0-9]+$/;

/**
 * Longer words are indexed by their first MAX_WORD code units: a query word that long is
 * looked up by the same prefix, which finds every record having it (and some more).
 */
export const MAX_WORD = 64;

/** The term of one word (already lower-cased). */
export function wordTerm(word: string): string {
  const w = word.length > MAX_WORD ? word.slice(0, MAX_WORD) : word;
  return PLAIN.test(w) ? w : `x${Buffer.from(w, 'utf8').toString('hex')}`;
}

const NON_ASCII = /[\u0080-\uffff]/;
const ASCII_WORD = /[a-z0-9]+/g;

/**
 * The word terms of a text, separated by spaces (repeats left in: FTS5 keeps one of each per
 * document, cheaper than sorting them out here).
 */
export function wordTerms(text: string): string {
  if (!NON_ASCII.test(text)) {
    // The same words, found faster: in ASCII the letters and digits are [A-Za-z0-9], and
    // lower-casing the whole text lower-cases each word.
    const words = text.toLowerCase().match(ASCII_WORD);
    if (!words) return '';
    for (let i = 0; i < words.length; i++) {
      const w = words[i] as string;
      if (w.length > MAX_WORD) words[i] = w.slice(0, MAX_WORD);
    }
    return words.join(' ');
  }
  const out: string[] = [];
  for (const m of text.matchAll(WORD)) out.push(wordTerm(m[0].toLowerCase()));
  return out.join(' ');
}

/** A digit of base 32 (0-9, a-v) as a character code. */
const digit = (v: number): number => (v < 10 ? 48 + v : 87 + v);

/**
 * `k` and a 55-bit hash (two rounds of cyrb53's mixing over the field letter and the value)
 * in base 32: 12 characters, made without number-to-text conversion (V8's radix printing
 * of large numbers costs microseconds; this is called for every record).
 */
function hashTerm(seed: number, s: string): string {
  let h1 = 0xdeadbeef ^ seed;
  let h2 = 0x41c6ce57 ^ seed;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    h1 = Math.imul(h1 ^ c, 2654435761);
    h2 = Math.imul(h2 ^ c, 1597334677);
  }
  h1 = Math.imul(h1 ^ (h1 >>> 16), 2246822507) ^ Math.imul(h2 ^ (h2 >>> 13), 3266489909);
  h2 = Math.imul(h2 ^ (h2 >>> 16), 2246822507) ^ Math.imul(h1 ^ (h1 >>> 13), 3266489909);
  return String.fromCharCode(
    107,
    digit(h1 & 31),
    digit((h1 >>> 5) & 31),
    digit((h1 >>> 10) & 31),
    digit((h1 >>> 15) & 31),
    digit((h1 >>> 20) & 31),
    digit((h1 >>> 25) & 31),
    digit(((h1 >>> 30) | (h2 << 2)) & 31),
    digit((h2 >>> 3) & 31),
    digit((h2 >>> 8) & 31),
    digit((h2 >>> 13) & 31),
    digit((h2 >>> 18) & 31),
  );
}

/**
 * The indexed fields, each with its letter. `party` holds a party's text only when it is
 * not an address (a filter on such a `user` matches the exact text).
 */
export const FIELD = {
  person: 'p',
  domain: 'd',
  party: 'a',
  network: 'n',
  kind: 'k',
  decision: 'x',
  rule: 'r',
  category: 'c',
  outcome: 'o',
  eventId: 'e',
  traceId: 't',
} as const;
export type Field = keyof typeof FIELD;

/** The term of a field's value. */
export function fieldTerm(field: Field, value: string): string {
  return hashTerm(FIELD[field].charCodeAt(0), value);
}

const quote = (term: string): string => `"${term}"`;

/**
 * The FTS5 query of a `q` text: every word must appear (AND), a word written with a
 * trailing `*` as a prefix. Null when `q` has no words (no text filter then).
 */
export function textQuery(q: string): string | null {
  const parts = new Set<string>();
  for (const m of q.matchAll(QUERY_WORD)) {
    const word = (m[1] as string).toLowerCase();
    if (m[2] === '') {
      parts.add(quote(wordTerm(word)));
      continue;
    }
    // A prefix longer than MAX_WORD: the indexed (cut) words that start with it are the
    // ones whose cut form equals its cut form.
    if (word.length >= MAX_WORD) {
      parts.add(quote(wordTerm(word)));
      continue;
    }
    const hex = `x${Buffer.from(word, 'utf8').toString('hex')}`;
    // A plain prefix also starts words that have other letters further on (hex terms).
    parts.add(PLAIN.test(word) ? `(${quote(word)}* OR ${quote(hex)}*)` : `${quote(hex)}*`);
  }
  return parts.size === 0 ? null : [...parts].join(' AND ');
}

/** The FTS5 query of field terms and a text query, all required; null when there are none. */
export function matchQuery(terms: readonly string[], text: string | null): string | null {
  const parts = terms.map(quote);
  if (text !== null) parts.push(text);
  return parts.length === 0 ? null : parts.join(' AND ');
}
