// Load a policy file: YAML -> schema -> cross-references and values -> compiled policy.
// Every problem names file, line and column, and what to change.
import { readFileSync } from 'node:fs';
import {
  ProblemList,
  parseYamlSource,
  problemAt,
  SourceError,
  type SourcePath,
  type SourceProblem,
  schemaProblems,
  type YamlSource,
} from '../yaml-source.js';
import { parseRateLimit } from './compile.js';
import { type CompiledPolicy, compilePolicy } from './evaluate.js';
import { domainPatternError, parseMemberRef } from './members.js';
import { compilePattern } from './patterns.js';
import { type PartyMatch, type PolicyDocument, policyDocumentSchema } from './schema.js';
import { parseHours, timeZoneError } from './time.js';

const NAME_RE = /^[A-Za-z][A-Za-z0-9_-]*$/;

/**
 * Limits on what a policy may ask of the compiler, well above any real policy (the shipped
 * ones have at most 4 zones, 12 rules and 4 domains named in rules; docs/policy.md "Limits").
 * The index holds, for every (event kind, sender zone, recipient zone), the rules that may
 * match and the domains they name, so its size grows with (zones + 1)² × (rules + domains).
 */
export const POLICY_LIMITS = Object.freeze({
  maxZones: 100,
  /** Bound on (zones + 1)² × (rules + domain patterns named in rules). */
  maxIndexSize: 500_000,
});
const list = <T>(v: T | T[] | undefined): T[] => (v === undefined ? [] : Array.isArray(v) ? v : [v]);
/** Path of the i-th entry of a field that may be one value or a list. */
const at = (base: SourcePath, v: unknown, i: number): SourcePath => (Array.isArray(v) ? [...base, i] : base);

/** Problems beyond the schema: references, patterns, windows, limits. */
export function policyProblems(doc: PolicyDocument, source: YamlSource): SourceProblem[] {
  // Linear in the size of the document: names and patterns are looked up in Sets and Maps,
  // and only the first problems (by position) are kept, with a count of the rest.
  const problems = new ProblemList();
  const add = (path: SourcePath, message: string) => problems.add(problemAt(source, path, message));

  const zoneNames = Object.keys(doc.zones);
  const zoneSet = new Set(zoneNames);
  const zoneList = (): string => {
    const shown = zoneNames.slice(0, 20).join(', ');
    return zoneNames.length > 20 ? `${shown}, ... (${zoneNames.length} zones)` : shown || 'none';
  };
  const patternOwner = new Map<string, string>();
  // The same list under two zone names (a YAML alias) is one problem, not one per domain.
  const zoneOfList = new Map<unknown, string>();
  if (zoneNames.length === 0)
    add(['zones'], 'define at least one zone (e.g. enterprise: { domains: [corp.example] })');
  for (const name of zoneNames) {
    if (!NAME_RE.test(name))
      add(['zones', name], `zone name "${name}" must start with a letter and use letters, digits, - or _`);
    const domains = doc.zones[name]!.domains;
    const sameAs = zoneOfList.get(domains) ?? zoneOfList.get(doc.zones[name]);
    if (sameAs !== undefined) {
      add(
        ['zones', name],
        `zone ${name} has the same domains as zone ${sameAs} (a YAML alias?): a domain pattern may belong to one zone only`,
      );
      continue;
    }
    zoneOfList.set(domains, name);
    zoneOfList.set(doc.zones[name], name);
    domains.forEach((d, i) => {
      const err = domainPatternError(d);
      if (err) {
        add(['zones', name, 'domains', i], `${err}; zone domains are exact, "*.suffix" or "*"`);
        return;
      }
      const owner = patternOwner.get(d);
      if (owner !== undefined) {
        add(
          ['zones', name, 'domains', i],
          owner === name
            ? `"${d}" is listed twice in zone ${name}`
            : `"${d}" is already in zone ${owner}: a domain pattern may belong to one zone only`,
        );
      } else patternOwner.set(d, name);
    });
  }
  const segmentNames = Object.keys(doc.segments ?? {});
  const segmentSet = new Set(segmentNames);
  for (const name of segmentNames) {
    if (!NAME_RE.test(name)) {
      add(
        ['segments', name],
        `segment name "${name}" must start with a letter and use letters, digits, - or _`,
      );
    }
    doc.segments![name]!.users.forEach((u, i) => {
      const ref = parseMemberRef(u, false);
      if (typeof ref === 'string') add(['segments', name, 'users', i], ref);
    });
  }

  const checkParty = (pm: PartyMatch, path: SourcePath) => {
    list(pm.zone).forEach((z, i) => {
      if (!zoneSet.has(z)) {
        add(at([...path, 'zone'], pm.zone, i), `unknown zone "${z}" (zones: ${zoneList()})`);
      }
    });
    list(pm.segment).forEach((s, i) => {
      if (!segmentSet.has(s)) {
        add(
          at([...path, 'segment'], pm.segment, i),
          `unknown segment "${s}" (segments: ${segmentNames.join(', ') || 'none defined'})`,
        );
      }
    });
    list(pm.domain).forEach((d, i) => {
      const err = domainPatternError(d);
      if (err) add(at([...path, 'domain'], pm.domain, i), err);
    });
    list(pm.user).forEach((u, i) => {
      const ref = parseMemberRef(u, true);
      if (typeof ref === 'string') add(at([...path, 'user'], pm.user, i), ref);
    });
  };

  const seen = new Map<string, number>();
  doc.rules.forEach((rule, ri) => {
    const base: SourcePath = ['rules', ri];
    const first = seen.get(rule.id);
    if (first !== undefined) {
      const pos = source.locate(['rules', first, 'id']);
      add([...base, 'id'], `duplicate rule id "${rule.id}" (first used at line ${pos?.line ?? '?'})`);
    } else seen.set(rule.id, ri);
    const m = rule.match;
    const mp: SourcePath = [...base, 'match'];
    if (m.from) checkParty(m.from, [...mp, 'from']);
    if (m.to) checkParty(m.to, [...mp, 'to']);
    if (m.party) checkParty(m.party, [...mp, 'party']);
    m.between?.forEach((side, i) => {
      checkParty(side, [...mp, 'between', i]);
    });
    if (m.direction !== undefined && !zoneSet.has('enterprise')) {
      add([...mp, 'direction'], 'direction needs a zone named "enterprise" (inbound means into it)');
    }
    if (m.content) {
      if (m.content.pattern === undefined && m.content.longerThan === undefined) {
        add([...mp, 'content'], 'content needs pattern or longerThan');
      }
      if (m.content.pattern !== undefined) {
        try {
          compilePattern(m.content.pattern);
        } catch (err) {
          add(
            [...mp, 'content', 'pattern'],
            `invalid regular expression: ${err instanceof Error ? err.message : String(err)}`,
          );
        }
      }
    }
    if (m.time) {
      if (m.time.days === undefined && m.time.hours === undefined)
        add([...mp, 'time'], 'time needs days or hours');
      if (m.time.hours !== undefined) {
        const h = parseHours(m.time.hours);
        if (typeof h === 'string') add([...mp, 'time', 'hours'], h);
      }
      if (m.time.tz !== undefined) {
        const err = timeZoneError(m.time.tz);
        if (err) add([...mp, 'time', 'tz'], err);
      }
    }
    if (rule.effect === 'redact' && m.content?.pattern === undefined) {
      add([...base, 'effect'], 'a redact rule needs match.content.pattern (what to redact)');
    }
    if (rule.replacement !== undefined && rule.effect !== 'redact') {
      add([...base, 'replacement'], 'replacement is used by redact rules only');
    }
    if (rule.obligations !== undefined && rule.effect === 'deny') {
      add(
        [...base, 'obligations'],
        'obligations apply to allow and redact rules only (a deny delivers nothing)',
      );
    }
    if (rule.obligations?.rateLimit !== undefined) {
      const r = parseRateLimit(rule.obligations.rateLimit);
      if (typeof r === 'string') add([...base, 'obligations', 'rateLimit'], r);
    }
  });
  return problems.list();
}

/** Domain patterns a party match names (each is a key in the compiled index). */
const domainCount = (pm: PartyMatch | undefined): number => (pm ? list(pm.domain).length : 0);

/** A problem when the compiled index would exceed POLICY_LIMITS (null when within them). */
export function sizeProblem(doc: PolicyDocument, source: YamlSource): SourceProblem | null {
  const zones = Object.keys(doc.zones).length;
  if (zones > POLICY_LIMITS.maxZones) {
    return problemAt(
      source,
      ['zones'],
      `too many zones: ${zones} (at most ${POLICY_LIMITS.maxZones}; see "Limits" in docs/policy.md). ` +
        'A zone is a class of correspondent (enterprise, partner, consumer...): list many domains in one zone',
    );
  }
  let domains = 0;
  for (const r of doc.rules) {
    const m = r.match;
    domains += domainCount(m.from) + domainCount(m.to) + domainCount(m.party);
    for (const side of m.between ?? []) domains += domainCount(side);
  }
  const size = (zones + 1) ** 2 * (doc.rules.length + domains);
  if (size <= POLICY_LIMITS.maxIndexSize) return null;
  return problemAt(
    source,
    ['rules'],
    `the policy is too large to index: (${zones} zones + 1)² × (${doc.rules.length} rules + ${domains} domain ` +
      `patterns named in rules) = ${size}, above ${POLICY_LIMITS.maxIndexSize} (see "Limits" in docs/policy.md). ` +
      'Use fewer zones, or put long domain lists in a zone and name the zone in the rule',
  );
}

/** Parse, validate and compile policy YAML; throws SourceError listing every problem. */
export function compilePolicySource(text: string, file: string): CompiledPolicy {
  const source = parseYamlSource(text, file);
  if (source.value === null || source.value === undefined) {
    throw new SourceError([{ file, line: 1, column: 1, path: '', message: 'the policy file is empty' }]);
  }
  const schema = schemaProblems(policyDocumentSchema(), source.value, source);
  if (schema.length > 0) throw new SourceError(schema);
  const doc = source.value as PolicyDocument;
  const problems = policyProblems(doc, source);
  if (problems.length > 0) throw new SourceError(problems);
  // Checked on a valid document, before compiling: the index is what grows superlinearly.
  const tooLarge = sizeProblem(doc, source);
  if (tooLarge) throw new SourceError([tooLarge]);
  try {
    return compilePolicy(doc, file);
  } catch (err) {
    throw new SourceError([
      { file, line: 1, column: 1, path: '', message: err instanceof Error ? err.message : String(err) },
    ]);
  }
}

/** Read and compile a policy file; throws SourceError (also when the file cannot be read). */
export function loadPolicyFile(path: string): CompiledPolicy {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new SourceError([
      {
        file: path,
        line: 1,
        column: 1,
        path: '',
        message: code === 'ENOENT' ? 'file not found' : `cannot read the file (${code ?? String(err)})`,
      },
    ]);
  }
  return compilePolicySource(text, path);
}
