// YAML sources with positions: parse a YAML file keeping where every node sits, and turn
// YAML syntax errors and TypeBox schema errors into problems that name file, line, column
// and the path of the offending field, in words a person can act on. Config and policy
// loading share this.
import { Kind, type TSchema } from '@sinclair/typebox';
import { type ValueError, ValueErrorType } from '@sinclair/typebox/errors';
import { Value } from '@sinclair/typebox/value';
import { isMap, isPair, isScalar, isSeq, LineCounter, type Node, parseDocument } from 'yaml';

export type SourcePath = (string | number)[];

export interface SourcePosition {
  /** 1-based. */
  line: number;
  /** 1-based. */
  column: number;
}

export interface SourceProblem {
  file: string;
  line: number;
  column: number;
  /** Dotted path of the field, e.g. `rules[3].match.kind`; empty for the whole document. */
  path: string;
  message: string;
}

/** One or more problems in a source file; `message` lists them one per line. */
export class SourceError extends Error {
  override name = 'SourceError';
  constructor(readonly problems: SourceProblem[]) {
    super(problems.map(formatProblem).join('\n'));
  }
}

export interface YamlSource {
  /** The document as plain JS values. */
  value: unknown;
  file: string;
  /**
   * Position of the node at `path`, or of its nearest existing ancestor. A map entry
   * is located at its key (the line where the field is written). Null for an empty document.
   */
  locate(path: SourcePath): SourcePosition | null;
}

/** `file:line:column: path: message` (path left out when empty). */
export function formatProblem(p: SourceProblem): string {
  return `${p.file}:${p.line}:${p.column}: ${p.path ? `${p.path}: ` : ''}${p.message}`;
}

/** `rules[3].match.kind` */
export function formatPath(path: SourcePath): string {
  let out = '';
  for (const seg of path) {
    if (typeof seg === 'number') out += `[${seg}]`;
    else if (/^[A-Za-z_$][\w$-]*$/.test(seg)) out += out ? `.${seg}` : seg;
    else out += `[${JSON.stringify(seg)}]`;
  }
  return out;
}

/** Build a problem at `path` of `source` (line/column of the nearest existing node). */
export function problemAt(source: YamlSource, path: SourcePath, message: string): SourceProblem {
  const pos = source.locate(path) ?? { line: 1, column: 1 };
  return { file: source.file, line: pos.line, column: pos.column, path: formatPath(path), message };
}

const firstLine = (s: string): string =>
  (s.split('\n', 1)[0] ?? s).replace(/ at line \d+, column \d+:?$/, '');

/** Parse YAML text keeping positions; throws SourceError on YAML syntax errors. */
export function parseYamlSource(text: string, file: string): YamlSource {
  const lineCounter = new LineCounter();
  const doc = parseDocument(text, { lineCounter, prettyErrors: false, uniqueKeys: true });
  const posOf = (offset: number): SourcePosition => {
    const lp = lineCounter.linePos(offset);
    return { line: lp.line, column: lp.col };
  };
  if (doc.errors.length > 0) {
    throw new SourceError(
      doc.errors.map((e) => {
        const pos = posOf(e.pos[0]);
        return { file, line: pos.line, column: pos.column, path: '', message: firstLine(e.message) };
      }),
    );
  }
  let value: unknown;
  try {
    value = doc.toJS({ maxAliasCount: 1000 });
  } catch (err) {
    throw new SourceError([
      { file, line: 1, column: 1, path: '', message: err instanceof Error ? err.message : String(err) },
    ]);
  }
  const locate = (path: SourcePath): SourcePosition | null => {
    let node: unknown = doc.contents;
    if (!node) return null;
    let best = (node as Node).range ? posOf((node as Node).range![0]) : { line: 1, column: 1 };
    for (const seg of path) {
      if (isMap(node)) {
        const pair = node.items.find(
          (p) => isPair(p) && (isScalar(p.key) ? String(p.key.value) : String(p.key)) === String(seg),
        );
        if (!pair) return best;
        const key = pair.key as Node | null;
        if (key?.range) best = posOf(key.range[0]);
        node = pair.value;
      } else if (isSeq(node)) {
        const item = typeof seg === 'number' ? node.items[seg] : undefined;
        if (!item) return best;
        node = item;
        if ((item as Node).range) best = posOf((item as Node).range![0]);
      } else {
        return best;
      }
    }
    // A map entry is reported at its key; a value that is itself a node without a key
    // (sequence item, root) at its own start.
    return best;
  };
  return { value, file, locate };
}

// ---------------------------------------------------------------------------------------
// Schema problems.

const decodePointer = (pointer: string, value: unknown): SourcePath => {
  if (pointer === '' || pointer === '/') return [];
  const out: SourcePath = [];
  let cur: unknown = value;
  for (const raw of pointer.split('/').slice(1)) {
    const seg = raw.replace(/~1/g, '/').replace(/~0/g, '~');
    if (Array.isArray(cur) && /^\d+$/.test(seg)) {
      out.push(Number(seg));
      cur = cur[Number(seg)];
    } else {
      out.push(seg);
      cur = cur !== null && typeof cur === 'object' ? (cur as Record<string, unknown>)[seg] : undefined;
    }
  }
  return out;
};

const typeName = (v: unknown): string => {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'a list';
  if (typeof v === 'object') return 'a mapping';
  if (typeof v === 'string') return `string ${JSON.stringify(v.length > 40 ? `${v.slice(0, 40)}…` : v)}`;
  return `${typeof v} ${String(v)}`;
};

/** What a schema expects, in a few words. */
function describe(schema: TSchema): string {
  const kind = schema[Kind] as string | undefined;
  switch (kind) {
    case 'Literal':
      return JSON.stringify(schema.const);
    case 'String':
      return 'a string';
    case 'Number':
      return 'a number';
    case 'Integer':
      return 'an integer';
    case 'Boolean':
      return 'true or false';
    case 'Null':
      return 'null';
    case 'Object':
      return 'a mapping';
    case 'Array':
      return 'a list';
    case 'Union': {
      const parts = (schema.anyOf as TSchema[]).map(describe);
      return parts.length > 1
        ? `${parts.slice(0, -1).join(', ')} or ${parts[parts.length - 1]}`
        : (parts[0] ?? '');
    }
    default:
      return kind ? kind.toLowerCase() : 'a value';
  }
}

const isLiteralUnion = (schema: TSchema): boolean =>
  schema[Kind] === 'Union' && (schema.anyOf as TSchema[]).every((s) => s[Kind] === 'Literal');

interface RawProblem {
  path: SourcePath;
  message: string;
}

function messageFor(e: ValueError, value: unknown): RawProblem {
  const path = decodePointer(e.path, value);
  const s = e.schema;
  const custom = typeof s.errorMessage === 'string' ? (s.errorMessage as string) : null;
  const got = `, got ${typeName(e.value)}`;
  switch (e.type) {
    case ValueErrorType.ObjectAdditionalProperties: {
      const key = String(path[path.length - 1]);
      const allowed = Object.keys((s.properties as Record<string, unknown>) ?? {});
      return { path, message: `unknown key "${key}" (allowed: ${allowed.join(', ') || 'none'})` };
    }
    case ValueErrorType.ObjectRequiredProperty: {
      const key = String(path[path.length - 1]);
      return { path: path.slice(0, -1), message: `missing required key "${key}"` };
    }
    case ValueErrorType.String:
      return { path, message: custom ?? `expected a string${got}` };
    case ValueErrorType.Number:
      return { path, message: custom ?? `expected a number${got}` };
    case ValueErrorType.Integer:
      return { path, message: custom ?? `expected an integer${got}` };
    case ValueErrorType.Boolean:
      return { path, message: custom ?? `expected true or false${got}` };
    case ValueErrorType.Object:
      return { path, message: custom ?? `expected a mapping (key: value)${got}` };
    case ValueErrorType.Array:
      return { path, message: custom ?? `expected a list${got}` };
    case ValueErrorType.Literal:
      return { path, message: custom ?? `expected ${JSON.stringify(s.const)}${got}` };
    case ValueErrorType.StringPattern:
      return { path, message: custom ?? `${typeName(e.value)} does not match the pattern ${s.pattern}` };
    case ValueErrorType.StringFormat:
      return { path, message: custom ?? `${typeName(e.value)} is not a valid ${s.format}` };
    case ValueErrorType.StringMinLength:
      return {
        path,
        message:
          custom ?? (s.minLength === 1 ? 'must not be empty' : `must be at least ${s.minLength} characters`),
      };
    case ValueErrorType.StringMaxLength:
      return { path, message: custom ?? `must be at most ${s.maxLength} characters` };
    case ValueErrorType.ArrayMinItems:
      return {
        path,
        message: custom ?? `needs at least ${s.minItems} item${s.minItems === 1 ? '' : 's'}`,
      };
    case ValueErrorType.ArrayMaxItems:
      return { path, message: custom ?? `allows at most ${s.maxItems} items` };
    case ValueErrorType.ArrayUniqueItems:
      return { path, message: custom ?? 'items must be unique' };
    case ValueErrorType.NumberMinimum:
    case ValueErrorType.IntegerMinimum:
      return { path, message: custom ?? `must be >= ${s.minimum}${got}` };
    case ValueErrorType.NumberMaximum:
    case ValueErrorType.IntegerMaximum:
      return { path, message: custom ?? `must be <= ${s.maximum}${got}` };
    case ValueErrorType.NumberExclusiveMinimum:
    case ValueErrorType.IntegerExclusiveMinimum:
      return { path, message: custom ?? `must be > ${s.exclusiveMinimum}${got}` };
    case ValueErrorType.NumberExclusiveMaximum:
    case ValueErrorType.IntegerExclusiveMaximum:
      return { path, message: custom ?? `must be < ${s.exclusiveMaximum}${got}` };
    case ValueErrorType.ObjectMinProperties:
      return {
        path,
        message: custom ?? `needs at least ${s.minProperties} entr${s.minProperties === 1 ? 'y' : 'ies'}`,
      };
    default:
      return { path, message: custom ?? e.message };
  }
}

/** Flatten one error; unions pick the variant the value most plausibly meant. */
function flatten(e: ValueError, value: unknown, out: RawProblem[]): void {
  // A missing key is reported once, as missing; TypeBox also checks the absent value.
  if (e.value === undefined && e.type !== ValueErrorType.ObjectRequiredProperty) return;
  if (e.type !== ValueErrorType.Union) {
    out.push(messageFor(e, value));
    return;
  }
  const path = decodePointer(e.path, value);
  const custom = typeof e.schema.errorMessage === 'string' ? (e.schema.errorMessage as string) : null;
  if (isLiteralUnion(e.schema)) {
    const options = (e.schema.anyOf as TSchema[]).map((v) => String(v.const));
    out.push({ path, message: `expected one of ${options.join(', ')}, got ${typeName(e.value)}` });
    return;
  }
  // Variants whose own type fits the value (their errors are deeper than the union's
  // path) are what the author meant; among them, the one with the fewest errors.
  let best: ValueError[] | null = null;
  let bestScore = Number.POSITIVE_INFINITY;
  for (const it of e.errors) {
    const errs = [...it];
    const rootMismatch = errs.some(
      (x) =>
        x.path === e.path &&
        x.type !== ValueErrorType.ObjectRequiredProperty &&
        x.type !== ValueErrorType.ObjectAdditionalProperties,
    );
    // A wrong discriminator literal (e.g. `kind`) one level down also means "other variant".
    const literalMismatch = errs.some(
      (x) => x.type === ValueErrorType.Literal && x.path.split('/').length === e.path.split('/').length + 1,
    );
    const score = (rootMismatch ? 10000 : 0) + (literalMismatch ? 1000 : 0) + errs.length;
    if (score < bestScore) {
      bestScore = score;
      best = errs;
    }
  }
  if (!best || bestScore >= 10000) {
    out.push({ path, message: `${custom ?? `expected ${describe(e.schema)}`}, got ${typeName(e.value)}` });
    return;
  }
  for (const x of best) flatten(x, value, out);
}

/** TypeBox errors of `value` against `schema` as deduplicated, located problems. */
export function schemaProblems(schema: TSchema, value: unknown, source: YamlSource): SourceProblem[] {
  const raw: RawProblem[] = [];
  for (const e of Value.Errors(schema, value)) flatten(e, value, raw);
  const seen = new Set<string>();
  const out: SourceProblem[] = [];
  for (const r of raw) {
    const key = `${formatPath(r.path)}\u0000${r.message}`;
    if (seen.has(key)) continue;
    seen.add(key);
    out.push(problemAt(source, r.path, r.message));
  }
  return out.sort((a, b) => a.line - b.line || a.column - b.column);
}
