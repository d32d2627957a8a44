// YAML sources with positions: parse a YAML file keeping where every node sits, and turn
// YAML syntax errors and TypeBox schema errors into problems that name file, line, column
// and the path of the offending field, in words a person can act on. Config and policy
// loading share this.
//
// Policies also arrive from outside (POST /api/v1/policy/validate, auditor role), so the
// parser bounds the work a small text can cause: aliases, the size once aliases are
// expanded and the nesting depth are capped before anything walks the value, and a
// problem list never holds more than MAX_PROBLEMS entries (plus one line with the count).
import { Kind, type TSchema } from '@sinclair/typebox';
import { type ValueError, ValueErrorType } from '@sinclair/typebox/errors';
import { Value } from '@sinclair/typebox/value';
import {
  isAlias,
  isMap,
  isPair,
  isScalar,
  isSeq,
  LineCounter,
  type Node,
  type Pair,
  parseDocument,
  type YAMLMap,
} from 'yaml';

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

/** At most this many problems are listed; one more line says how many were left out. */
export const MAX_PROBLEMS = 100;

/**
 * Limits on a YAML document, well above any real policy or config (the shipped policies
 * use no alias, at most 291 values and 6 levels; docs/policy.md "Limits" has the figures).
 */
export interface YamlLimits {
  /** Alias uses (`*name`) once expanded: an alias inside an aliased node counts per use. */
  maxAliases: number;
  /** Values (scalars, mappings, lists) once every alias is expanded. */
  maxNodes: number;
  /** Nesting levels of mappings and lists, aliases expanded. */
  maxDepth: number;
}

export const YAML_LIMITS: Readonly<YamlLimits> = Object.freeze({
  maxAliases: 100,
  maxNodes: 200_000,
  maxDepth: 64,
});

const summaryMessage = (more: number, limit: number): string =>
  `and ${more} more problem${more === 1 ? '' : 's'} (only the first ${limit} are listed; fix these and check again)`;

/** `problems` as given when short; else the first MAX_PROBLEMS and one line with the count of the rest. */
function capProblems(problems: SourceProblem[]): SourceProblem[] {
  if (problems.length <= MAX_PROBLEMS + 1) return problems;
  const next = problems[MAX_PROBLEMS]!;
  return [
    ...problems.slice(0, MAX_PROBLEMS),
    { ...next, path: '', message: summaryMessage(problems.length - MAX_PROBLEMS, MAX_PROBLEMS) },
  ];
}

/** One or more problems in a source file; `message` lists them one per line (capped). */
export class SourceError extends Error {
  override name = 'SourceError';
  readonly problems: SourceProblem[];
  constructor(problems: SourceProblem[]) {
    const capped = capProblems(problems);
    super(capped.map(formatProblem).join('\n'));
    this.problems = capped;
  }
}

const byPosition = (a: SourceProblem, b: SourceProblem): number => a.line - b.line || a.column - b.column;

/**
 * Problems in file order, keeping only the first `limit` (by line and column) however many
 * are added, and counting the rest: memory stays O(limit) for any number of problems.
 */
export class ProblemList {
  #items: SourceProblem[] = [];
  #total = 0;
  constructor(readonly limit = MAX_PROBLEMS) {}

  add(p: SourceProblem): void {
    this.#total++;
    this.#items.push(p);
    // Sorting is stable: equal positions keep the order they were found in. One more than
    // the limit is kept: it is where the summary line points.
    if (this.#items.length >= 4 * this.limit)
      this.#items = this.#items.sort(byPosition).slice(0, this.limit + 1);
  }

  /** How many problems were added. */
  get total(): number {
    return this.#total;
  }

  /** The first `limit` problems by position, then one line saying how many more there are. */
  list(): SourceProblem[] {
    const sorted = this.#items.sort(byPosition);
    if (this.#total <= this.limit) return sorted.slice();
    const next = sorted[this.limit]!;
    return [
      ...sorted.slice(0, this.limit),
      { ...next, path: '', message: summaryMessage(this.#total - this.limit, this.limit) },
    ];
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

const firstLine = (s: string): string => {
  const line = (s.split('\n', 1)[0] ?? s).replace(/ at line \d+, column \d+:?$/, '');
  // The parser recurses per level of flow nesting ([[[[...).
  return /Maximum call stack size exceeded/.test(line)
    ? 'nested too deeply for the YAML parser (thousands of levels of [ or {)'
    : line;
};

interface Frame {
  node: Node;
  /** Children to visit (map entries give key then value). */
  children: unknown[];
  next: number;
  depth: number;
  /** Levels below this node, aliases expanded. */
  height: number;
  /** Totals when the node was entered: the node's own expanded size is the difference at exit. */
  nodesAtEntry: number;
  aliasesAtEntry: number;
}

interface Expanded {
  nodes: number;
  aliases: number;
  height: number;
}

/**
 * Check the document against `limits` in one pass, in document order, counting what every
 * alias expands to (an anchored node's expanded size is known when an alias to it is met:
 * aliases refer back). Throws SourceError at the alias or node that crosses a limit. The walk
 * uses its own stack, so a deep document cannot overflow the call stack.
 */
function checkLimits(
  root: Node,
  file: string,
  posOf: (offset: number) => SourcePosition,
  limits: YamlLimits,
): void {
  const at = (node: Node, message: string): SourceProblem => {
    const pos = node.range ? posOf(node.range[0]) : { line: 1, column: 1 };
    return { file, line: pos.line, column: pos.column, path: '', message };
  };
  const fail = (node: Node, message: string): never => {
    throw new SourceError([at(node, message)]);
  };
  const duplicates = new ProblemList();
  const duplicateKey = (key: Node, first: Node) => {
    const line = first.range ? posOf(first.range[0]).line : '?';
    const name = isScalar(key) ? String(key.value) : '';
    duplicates.add(
      at(key, `duplicate key "${name}" (first at line ${line}): keys of a mapping must be unique`),
    );
  };
  const limitsNote = 'a resource-exhaustion guard; see "Limits" in docs/policy.md';
  const anchors = new Map<string, Node>();
  const expanded = new Map<Node, Expanded>();
  let nodes = 0;
  let aliases = 0;
  const stack: Frame[] = [];
  const enter = (value: unknown, depth: number, parent: Frame | undefined) => {
    if (value === null || value === undefined || typeof value !== 'object') return;
    const node = value as Node;
    if (isAlias(node)) {
      const target = anchors.get(node.source);
      if (!target) return fail(node, `unknown alias *${node.source}: define &${node.source} before using it`);
      const x = expanded.get(target);
      if (!x) return fail(node, `alias *${node.source} is used inside the node it names (a cycle)`);
      nodes += x.nodes;
      aliases += 1 + x.aliases;
      if (aliases > limits.maxAliases) {
        fail(
          node,
          `too many aliases: more than ${limits.maxAliases} uses of *name, counting the aliases inside ` +
            `aliased nodes each time (${limitsNote}); write the values out or share fewer of them`,
        );
      }
      if (nodes > limits.maxNodes) {
        fail(
          node,
          `the document is too large: alias *${node.source} expands to ${x.nodes} values, taking the ` +
            `document past ${limits.maxNodes} values once aliases are expanded (${limitsNote})`,
        );
      }
      if (depth + x.height > limits.maxDepth) {
        fail(
          node,
          `nested too deeply: alias *${node.source} takes it past ${limits.maxDepth} levels (${limitsNote})`,
        );
      }
      if (parent) parent.height = Math.max(parent.height, x.height + 1);
      return;
    }
    nodes += 1;
    if (nodes > limits.maxNodes) {
      fail(node, `the document is too large: more than ${limits.maxNodes} values (${limitsNote})`);
    }
    if (depth > limits.maxDepth)
      fail(node, `nested too deeply: more than ${limits.maxDepth} levels (${limitsNote})`);
    const anchor = (node as { anchor?: string }).anchor;
    // Registered on entry: an alias inside the node then finds it unfinished (a cycle).
    if (anchor) anchors.set(anchor, node);
    // A map entry (pair) is not a value of its own: its key and value are children here.
    const children: unknown[] = [];
    if (isMap(node) || isSeq(node)) {
      // Duplicate keys are found here with a Set: the parser's own check scans the map per
      // key (quadratic: a 30,000-key map took 50 s), so it is turned off.
      const keys = isMap(node) ? new Map<string, Node>() : null;
      for (const item of node.items as unknown[]) {
        if (!isPair(item)) {
          children.push(item);
          continue;
        }
        children.push(item.key, item.value);
        if (keys && isScalar(item.key)) {
          const k = `${typeof item.key.value}:${String(item.key.value)}`;
          const first = keys.get(k);
          if (first === undefined) keys.set(k, item.key);
          else duplicateKey(item.key, first);
        }
      }
    }
    stack.push({
      node,
      children,
      next: 0,
      depth,
      height: 0,
      nodesAtEntry: nodes - 1,
      aliasesAtEntry: aliases,
    });
  };
  enter(root, 0, undefined);
  while (stack.length > 0) {
    const top = stack[stack.length - 1]!;
    if (top.next < top.children.length) {
      const child = top.children[top.next++];
      enter(child, top.depth + 1, top);
      continue;
    }
    stack.pop();
    const parent = stack[stack.length - 1];
    if (parent) parent.height = Math.max(parent.height, top.height + 1);
    if ((top.node as { anchor?: string }).anchor) {
      expanded.set(top.node, {
        nodes: nodes - top.nodesAtEntry,
        aliases: aliases - top.aliasesAtEntry,
        height: top.height,
      });
    }
  }
  if (duplicates.total > 0) throw new SourceError(duplicates.list());
}

/**
 * Parse YAML text keeping positions; throws SourceError on YAML syntax errors and when the
 * document crosses `limits` (too many aliases, too large once expanded, too deep).
 */
export function parseYamlSource(text: string, file: string, limits: YamlLimits = YAML_LIMITS): YamlSource {
  const lineCounter = new LineCounter();
  // prettyErrors stays off: its context excerpt runs regular expressions over the text that
  // exhaust memory on pathological input.
  // uniqueKeys: false because checkLimits finds duplicate keys in linear time.
  const doc = parseDocument(text, { lineCounter, prettyErrors: false, uniqueKeys: false });
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
  if (doc.contents) checkLimits(doc.contents as Node, file, posOf, limits);
  let value: unknown;
  try {
    // The library's own alias guard too, in case its count differs from checkLimits'.
    value = doc.toJS({ maxAliasCount: limits.maxAliases });
  } catch (err) {
    throw new SourceError([
      { file, line: 1, column: 1, path: '', message: err instanceof Error ? err.message : String(err) },
    ]);
  }
  // Map entries by key, built on first use: locating N problems costs O(N * depth), not
  // O(N * entries) as a scan of each mapping would.
  const entries = new WeakMap<YAMLMap, Map<string, Pair>>();
  const entryOf = (map: YAMLMap, key: string): Pair | undefined => {
    let index = entries.get(map);
    if (!index) {
      index = new Map();
      for (const p of map.items) {
        if (!isPair(p)) continue;
        const k = isScalar(p.key) ? String(p.key.value) : String(p.key);
        if (!index.has(k)) index.set(k, p as Pair);
      }
      entries.set(map, index);
    }
    return index.get(key);
  };
  const locate = (path: SourcePath): SourcePosition | null => {
    let node: unknown = doc.contents;
    if (!node) return null;
    let best = (node as Node).range ? posOf((node as Node).range![0]) : { line: 1, column: 1 };
    for (const seg of path) {
      if (isMap(node)) {
        const pair = entryOf(node, String(seg));
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

/**
 * TypeBox errors of `value` against `schema` as deduplicated, located problems in file
 * order: the first MAX_PROBLEMS, then one line with the count of the rest.
 */
export function schemaProblems(schema: TSchema, value: unknown, source: YamlSource): SourceProblem[] {
  const seen = new Set<string>();
  const out = new ProblemList();
  const raw: RawProblem[] = [];
  for (const e of Value.Errors(schema, value)) {
    flatten(e, value, raw);
    for (const r of raw) {
      const key = `${formatPath(r.path)}\u0000${r.message}`;
      if (seen.has(key)) continue;
      seen.add(key);
      out.add(problemAt(source, r.path, r.message));
    }
    raw.length = 0;
  }
  return out.list();
}
