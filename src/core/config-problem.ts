// Problems of a config block that is checked on its own (an adapter's block, checked when
// the adapter is created), in one wording for every network: the key path relative to the
// block, and what to write instead. Unknown keys are named in the words the top-level
// config uses (the problems of yaml-source's schemaProblems), with the valid key the author
// most likely meant: a misspelt key also makes the key it meant "missing", and the
// misspelling is what to report.
import { Kind, type TSchema } from '@sinclair/typebox';
import { Value } from '@sinclair/typebox/value';
import { pointerToPath } from './adapter.js';
import { formatPath, type SourcePath, schemaProblems, type YamlSource } from './yaml-source.js';

export interface BlockProblem {
  /** Path of the offending key, relative to the block. */
  path: SourcePath;
  message: string;
}

/** Edit distance with transpositions (optimal string alignment), case-insensitive. */
function distance(a: string, b: string): number {
  const x = a.toLowerCase();
  const y = b.toLowerCase();
  const d: number[][] = Array.from({ length: x.length + 1 }, (_, i) =>
    Array.from({ length: y.length + 1 }, (_, j) => (i === 0 ? j : j === 0 ? i : 0)),
  );
  for (let i = 1; i <= x.length; i++) {
    for (let j = 1; j <= y.length; j++) {
      const cost = x[i - 1] === y[j - 1] ? 0 : 1;
      let v = Math.min(d[i - 1]![j]! + 1, d[i]![j - 1]! + 1, d[i - 1]![j - 1]! + cost);
      if (i > 1 && j > 1 && x[i - 1] === y[j - 2] && x[i - 2] === y[j - 1])
        v = Math.min(v, d[i - 2]![j - 2]! + 1);
      d[i]![j] = v;
    }
  }
  return d[x.length]![y.length]!;
}

/** The candidate `key` most plausibly misspells, or null when none is close. */
export function nearestKey(key: string, candidates: readonly string[]): string | null {
  let best: string | null = null;
  let bestDistance = Number.POSITIVE_INFINITY;
  for (const c of candidates) {
    const dist = distance(key, c);
    if (dist < bestDistance) {
      best = c;
      bestDistance = dist;
    }
  }
  // About one edit in three characters: `componnet` -> component, not `colour` -> id.
  return best !== null && bestDistance <= Math.max(1, Math.floor(key.length / 3)) ? best : null;
}

/** The keys an object schema allows at `path` (through unions of objects), or []. */
function keysAt(schema: TSchema, path: SourcePath): string[] {
  let nodes: TSchema[] = [schema];
  for (const seg of path) {
    const next: TSchema[] = [];
    for (const n of nodes) {
      if (n[Kind] === 'Union') {
        for (const v of n.anyOf as TSchema[]) next.push(...keysStep(v, seg));
      } else {
        next.push(...keysStep(n, seg));
      }
    }
    nodes = next;
  }
  const keys = new Set<string>();
  for (const n of nodes.flatMap((n) => (n[Kind] === 'Union' ? (n.anyOf as TSchema[]) : [n]))) {
    if (n[Kind] === 'Object') for (const k of Object.keys(n.properties ?? {})) keys.add(k);
  }
  return [...keys];
}

function keysStep(n: TSchema, seg: string | number): TSchema[] {
  if (n[Kind] === 'Object' && typeof seg === 'string') {
    const p = (n.properties as Record<string, TSchema> | undefined)?.[seg];
    return p ? [p] : [];
  }
  if (n[Kind] === 'Array' && typeof seg === 'number') return [n.items as TSchema];
  if (n[Kind] === 'Record' && typeof seg === 'string') {
    return Object.values((n.patternProperties as Record<string, TSchema> | undefined) ?? {});
  }
  return [];
}

/**
 * The first unknown key of `value` against `schema`, with the top-level config's message
 * and "did you mean" the nearest allowed key; null when every key is known.
 */
export function unknownKeyProblem(schema: TSchema, value: unknown): BlockProblem | null {
  // schemaProblems locates each problem through `locate`: that is where its path is seen.
  const paths = new Map<string, SourcePath>();
  const source: YamlSource = {
    value,
    file: '',
    locate: (path) => {
      paths.set(formatPath(path), path);
      return null;
    },
  };
  for (const p of schemaProblems(schema, value, source)) {
    const path = paths.get(p.path);
    const key = path?.[path.length - 1];
    if (!path || typeof key !== 'string' || !p.message.startsWith('unknown key')) continue;
    const near = nearestKey(key, keysAt(schema, path.slice(0, -1)));
    return {
      path,
      message: near ? p.message.replace(/^(unknown key "[^"]*")/, `$1: did you mean "${near}"?`) : p.message,
    };
  }
  return null;
}

/**
 * The first problem of a config block against its schema, or null when the block fits: a
 * misspelt key first, else the first schema error. The path is relative to the block, with
 * indexes as numbers (`['listen', 0]`); the message starts with that key (`listen.0: ...`).
 * What to write instead comes from `hints` (by the block's top-level key), else from the
 * failing schema's `description` ("expected <description>").
 */
export function blockProblem(
  schema: TSchema,
  value: unknown,
  hints: Readonly<Record<string, string>> = {},
): BlockProblem | null {
  const unknown = unknownKeyProblem(schema, value);
  if (unknown) return unknown;
  const first = Value.Errors(schema, value).First();
  if (!first) return null;
  const path = pointerToPath(first.path);
  const described = (first.schema as { description?: unknown }).description;
  const hint =
    (typeof path[0] === 'string' ? hints[path[0]] : undefined) ??
    (typeof described === 'string' ? `expected ${described}` : undefined);
  const key = path.join('.') || '(block)';
  const shown =
    typeof first.value === 'string' ? `"${first.value.slice(0, 100)}"` : JSON.stringify(first.value);
  // A pattern mismatch reads better as the value and what was expected than as the regex.
  const what = hint && /match/.test(first.message) ? `${shown} is not valid` : first.message;
  return { path, message: `${key}: ${what}${hint ? ` (${hint})` : ''}` };
}
