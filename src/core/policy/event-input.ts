// Events as people type them for `parley policy eval` and the admin API: a JSON object with
// a kind, the sender's and the recipient's address URIs and the kind's own fields.
// Missing plumbing (id, time, adapter, trace id, call id) is filled in; the result is
// validated against the canonical model so the policy sees exactly what the pipeline would.
import { randomBytes, randomUUID } from 'node:crypto';
import { FormatRegistry } from '@sinclair/typebox';
import { parseAddress } from '../address.js';
import { KIND_RULES } from '../kinds/index.js';
import { type CanonicalEvent, EVENT_KINDS, type EventKind } from '../model.js';
import { networkModules } from '../network.js';
import { formatPath, type SourcePath, schemaProblems, type YamlSource } from '../yaml-source.js';

const DATE_TIME = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?(?:Z|[+-]\d{2}:\d{2})$/i;
if (!FormatRegistry.Has('date-time')) {
  FormatRegistry.Set('date-time', (v) => DATE_TIME.test(v) && !Number.isNaN(Date.parse(v)));
}

/** Bad event input; the message names the field and what to write instead. */
export class EventInputError extends Error {
  override name = 'EventInputError';

  /** `field`: the input field at fault (e.g. `/kind`) when the thrower names it apart from the message. */
  constructor(
    message: string,
    readonly field?: string,
  ) {
    super(message);
  }
}

/** An address URI to show: the first registered network's example. */
const exampleAddress = (): string => networkModules()[0]?.example ?? 'net:alice@corp.example';

/** An event to show, between the first two registered networks. */
const exampleEvent = (): string => {
  const [a, b] = networkModules();
  const to = b?.example ?? a?.example ?? 'net:bob@hs.example';
  return JSON.stringify({ kind: 'message', from: exampleAddress(), to, body: 'hi' });
};

/** Turn user-supplied event JSON into a validated canonical event (defaults filled in). */
export function eventFromInput(input: unknown, where?: string): CanonicalEvent {
  const prefix = where ? `${where}: ` : '';
  const fail = (path: SourcePath, message: string): never => {
    const p = formatPath(path);
    throw new EventInputError(`${prefix}${p ? `${p}: ` : ''}${message}`);
  };
  if (input === null || typeof input !== 'object' || Array.isArray(input)) {
    return fail([], `the event must be a JSON object, e.g. ${exampleEvent()}`);
  }
  const raw = input as Record<string, unknown>;
  const kind = raw.kind;
  if (kind === undefined) return fail(['kind'], `missing; give one of ${EVENT_KINDS.join(', ')}`);
  if (typeof kind !== 'string' || !(EVENT_KINDS as readonly string[]).includes(kind)) {
    return fail(
      ['kind'],
      `${JSON.stringify(kind)} is not an event kind; give one of ${EVENT_KINDS.join(', ')}`,
    );
  }
  for (const side of ['from', 'to'] as const) {
    const v = raw[side];
    if (v === undefined) return fail([side], `missing; give an address URI such as ${exampleAddress()}`);
    if (typeof v !== 'string')
      return fail([side], `must be a string address URI such as ${exampleAddress()}`);
    try {
      parseAddress(v);
    } catch (err) {
      return fail([side], err instanceof Error ? err.message : String(err));
    }
  }
  const event: Record<string, unknown> = {
    kind,
    from: raw.from,
    to: raw.to,
    id: randomUUID(),
    time: new Date().toISOString(),
    adapter: 'cli',
    traceId: randomBytes(8).toString('hex'),
  };
  const rules = KIND_RULES[kind as EventKind];
  Object.assign(event, rules.inputDefaults());
  for (const [k, v] of Object.entries(raw)) if (v !== undefined) event[k] = v;
  if (
    typeof event.time === 'string' &&
    !Number.isNaN(Date.parse(event.time)) &&
    !DATE_TIME.test(event.time)
  ) {
    return fail(['time'], `"${event.time}" is not an ISO 8601 instant; write e.g. 2026-11-25T10:00:00Z`);
  }
  const source: YamlSource = { value: event, file: where ?? 'event', locate: () => null };
  const problems = schemaProblems(rules.schema, event, source);
  if (problems.length > 0) {
    const first = problems[0]!;
    let message = first.message;
    if (message.startsWith('unknown key'))
      message = message.replace('unknown key', `unknown field for a ${kind} event:`);
    if (first.path === 'time') message += '; write an ISO 8601 instant such as 2026-11-25T10:00:00Z';
    throw new EventInputError(
      `${prefix}${first.path ? `${first.path}: ` : ''}${message}${problems.length > 1 ? ` (and ${problems.length - 1} more problem${problems.length > 2 ? 's' : ''})` : ''}`,
    );
  }
  return event as CanonicalEvent;
}
