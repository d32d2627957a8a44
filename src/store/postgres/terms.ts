// What the archive indexes of a record, and the index query a filter gives: one tsvector
// per record (`terms`, GIN-indexed) holding
//  - the words of a kept body (content mode `full`), exactly as the search semantics read
//    them: maximal runs of Unicode letters and digits, each lower-cased in JavaScript. They
//    are made here, not by to_tsvector('simple', …): PostgreSQL's parser keeps e-mail
//    addresses, URLs and hyphenated words as tokens of their own and knows letters only as
//    its locale does, so its index could miss a record the semantics match;
//  - key tokens, `#<key>:<value>`: `#u:` each party's person (personOf: user@domain, lower
//    case), `#d:` each party's domain, `#x:` a party that names no person (its exact text),
//    `#r:` the rule, `#e:` the event id, `#t:` the trace id. A word is only letters and
//    digits, so no word or word prefix ever equals or prefixes a key token.
// The index finds candidates; the store checks each against the exact semantics, so a
// candidate too many costs a little time and a miss is impossible by construction: every
// word and key value that a filter can require is in the record's terms (or the record is
// marked `#big`, below, and always a candidate for text).
import { createHash } from 'node:crypto';
import { tryParseAddress } from '../../core/address.js';
import { personOf, queryWords, wordsOf } from '../../core/audit/query.js';
import type { AuditRecord } from '../../core/audit/record.js';
import type { AuditFilter } from '../../core/audit/types.js';
import { registryGeneration } from '../../core/network.js';

// A lexeme holds at most 2047 bytes and a tsvector 1 MB. A long word is kept as its first
// WORD_CHARS code points (a query word is cut the same way, so equal words and prefixes
// still meet); a long key value as its SHA-256 (`#e#<hex>`: exact values still meet).
const WORD_CHARS = 256;
const KEY_BYTES = 256;
/** Word lexemes past this many bytes: the record is marked `#big` instead (always a text candidate). */
const WORDS_BYTES = 512 * 1024;
export const BIG = '#big';

const cutWord = (w: string): string =>
  w.length <= WORD_CHARS ? w : Array.from(w).slice(0, WORD_CHARS).join('');

/** PostgreSQL text cannot hold NUL: the same stand-in on both sides keeps equal values equal. */
export const pgText = (s: string): string => (s.includes('\0') ? s.replaceAll('\0', '\ufffd') : s);

// biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are what it finds
const CONTROL = /[\u0000-\u001f]/;

/**
 * A key token, as the record's terms and the filter's query both spell it. A long value, or
 * one with a control character (terms travel as lines), is spelled by its SHA-256.
 */
export function keyToken(key: string, value: string): string {
  const short = value.length <= KEY_BYTES / 3 || Buffer.byteLength(value, 'utf8') <= KEY_BYTES;
  if (short && !CONTROL.test(value)) return `#${key}:${value}`;
  return `#${key}#${createHash('sha256').update(value, 'utf8').digest('hex')}`;
}

const LEXEME_ESCAPE = /['\\]/;
/** A lexeme in tsvector / tsquery input syntax: quoted, with quotes and backslashes doubled. */
export const lexeme = (s: string): string =>
  LEXEME_ESCAPE.test(s) ? `'${s.replace(/\\/g, '\\\\').replace(/'/g, "''")}'` : `'${s}'`;

const ASCII_ONLY = /^\p{ASCII}*$/u;
const ASCII_WORD = /[a-z0-9]+/g;

/** The distinct words of a body as lexemes (cut when long), in tsvector input syntax. */
function wordLexemes(body: string): string {
  // ASCII: letters and digits are [A-Za-z0-9], and lower-casing the text first is the same.
  const words = ASCII_ONLY.test(body) ? (body.toLowerCase().match(ASCII_WORD) ?? []) : wordsOf(body);
  const seen = new Set<string>();
  let text = '';
  for (const w of words) {
    const c = cutWord(w);
    if (seen.has(c)) continue;
    seen.add(c);
    // Letters and digits need no quoting.
    text += `'${c}' `;
  }
  if (text.length * 3 > WORDS_BYTES && Buffer.byteLength(text, 'utf8') > WORDS_BYTES)
    return `${lexeme(BIG)} `;
  return text;
}

// The tokens of a party (its person and domain, or its text), for the few parties that recur;
// forgotten when the registered networks change (they change how a party reads).
let partyTokens = new Map<string, string>();
let partyGeneration = registryGeneration();

function partyLexemes(party: string): string {
  if (partyGeneration !== registryGeneration()) {
    partyTokens = new Map();
    partyGeneration = registryGeneration();
  }
  let t = partyTokens.get(party);
  if (t === undefined) {
    // As the reference reads a party (compileFilter): its person, else its exact text; and
    // the domain of a party that parses as an address.
    const person = personOf(party);
    const a = tryParseAddress(party);
    t = person !== null ? `${lexeme(keyToken('u', person))} ` : `${lexeme(keyToken('x', party))} `;
    if (a) t += `${lexeme(keyToken('d', a.domain))} `;
    if (partyTokens.size >= 10_000) partyTokens = new Map();
    if (party.length <= 512) partyTokens.set(party, t);
  }
  return t;
}

/** The record's terms as tsvector input text (the server sorts and removes repeats); one line. */
export function recordTerms(r: AuditRecord): string {
  let out = partyLexemes(String(r.from)) + partyLexemes(String(r.to));
  if (typeof r.rule === 'string') out += `${lexeme(keyToken('r', r.rule))} `;
  out += `${lexeme(keyToken('e', String(r.eventId)))} ${lexeme(keyToken('t', String(r.traceId)))} `;
  if (r.content?.mode === 'full' && typeof r.content.body === 'string') out += wordLexemes(r.content.body);
  return out;
}

/**
 * The tsquery (input syntax) a filter's indexed fields give, or null when none of them is
 * set: the record must hold every key token, and every word (`:*` for a prefix) or `#big`.
 */
export function filterQuery(filter: AuditFilter): string | null {
  const parts: string[] = [];
  const user = filter.user;
  if (user !== undefined && user !== '') {
    const person = personOf(user);
    // Not a person: only a party spelled exactly so matches, and such a party names no
    // person either (the same text), so it carries `#x:`.
    parts.push(lexeme(person !== null ? keyToken('u', person) : keyToken('x', user)));
  }
  if (filter.domain !== undefined && filter.domain !== '')
    parts.push(lexeme(keyToken('d', filter.domain.toLowerCase())));
  if (filter.rule !== undefined && filter.rule !== '') parts.push(lexeme(keyToken('r', filter.rule)));
  if (filter.eventId !== undefined && filter.eventId !== '')
    parts.push(lexeme(keyToken('e', filter.eventId)));
  if (filter.traceId !== undefined && filter.traceId !== '')
    parts.push(lexeme(keyToken('t', filter.traceId)));
  const words = filter.q === undefined ? [] : queryWords(filter.q);
  if (words.length > 0) {
    const text = words.map((w) => {
      const cut = cutWord(w.word);
      // A cut word is found as a prefix: the record kept the same first code points.
      return cut !== w.word || w.prefix ? `${lexeme(cut)}:*` : lexeme(cut);
    });
    parts.push(`( ( ${text.join(' & ')} ) | ${lexeme(BIG)} )`);
  }
  return parts.length === 0 ? null : parts.join(' & ');
}

/** The record's time for the partition key: an ISO instant PostgreSQL reads exactly, or null. */
export function recordAt(time: unknown): string | null {
  if (typeof time !== 'string') return null;
  const ms = Date.parse(time);
  if (Number.isNaN(ms)) return null;
  const d = new Date(ms);
  const y = d.getUTCFullYear();
  // Outside four-digit years the ISO form is not one PostgreSQL reads: undated partition.
  return y >= 1 && y <= 9999 ? d.toISOString() : null;
}
