// Time windows: `time` clauses (days and hours in a time zone) and their parsers, which
// the loader also uses to report errors with line numbers.
import { type Clause, nowOf } from './context.js';
import { fmtList, list } from './lists.js';
import { DAYS, type RuleMatch } from './schema.js';

export interface HoursWindow {
  /** Minutes after local midnight, inclusive. */
  start: number;
  /** Minutes after local midnight, exclusive; less than start when the window wraps midnight. */
  end: number;
}

const HOURS_RE = /^(\d{2}):(\d{2})-(\d{2}):(\d{2})$/;

/** Parse `HH:MM-HH:MM`; returns an error message instead when malformed. */
export function parseHours(s: string): HoursWindow | string {
  const m = HOURS_RE.exec(s.replace(/\s+/g, ''));
  if (!m) return `"${s}" is not a time window: write "HH:MM-HH:MM", e.g. "09:00-17:30" or "22:00-06:00"`;
  const [sh, sm, eh, em] = [m[1], m[2], m[3], m[4]].map(Number) as [number, number, number, number];
  if (sh > 23 || sm > 59 || em > 59 || eh > 24 || (eh === 24 && em !== 0)) {
    return `"${s}" has an impossible time: hours run 00-23 (24:00 only as an end), minutes 00-59`;
  }
  const start = sh * 60 + sm;
  const end = (eh * 60 + em) % 1440;
  if (start === end) return `"${s}" is empty: start and end are the same time`;
  return { start, end };
}

/** Null when `tz` is an IANA time zone this runtime knows. */
export function timeZoneError(tz: string): string | null {
  try {
    new Intl.DateTimeFormat('en-US', { timeZone: tz });
    return null;
  } catch {
    return `unknown time zone "${tz}" (use an IANA name such as "Europe/Berlin" or "UTC")`;
  }
}

interface LocalTime {
  /** 0 = Monday. */
  weekday: number;
  /** Minutes after local midnight. */
  minute: number;
}

const WEEKDAY: Record<string, number> = { Mon: 0, Tue: 1, Wed: 2, Thu: 3, Fri: 4, Sat: 5, Sun: 6 };

/** Local weekday and minute in `tz`, cached for the current minute (offsets are whole minutes). */
function localClock(tz: string): (ms: number) => LocalTime {
  const fmt = new Intl.DateTimeFormat('en-US', {
    timeZone: tz,
    hourCycle: 'h23',
    weekday: 'short',
    hour: '2-digit',
    minute: '2-digit',
  });
  let lastKey = Number.NaN;
  let last: LocalTime = { weekday: 0, minute: 0 };
  return (ms) => {
    const key = Math.floor(ms / 60_000);
    if (key === lastKey) return last;
    let weekday = 0;
    let hour = 0;
    let minute = 0;
    for (const part of fmt.formatToParts(new Date(ms))) {
      if (part.type === 'weekday') weekday = WEEKDAY[part.value] ?? 0;
      else if (part.type === 'hour') hour = Number(part.value) % 24;
      else if (part.type === 'minute') minute = Number(part.value);
    }
    lastKey = key;
    last = { weekday, minute: hour * 60 + minute };
    return last;
  };
}

const DAY_NAMES = DAYS as readonly string[];

/** A `time` clause: the decision time is in the window (days, hours) in its time zone. */
export function timeClause(time: NonNullable<RuleMatch['time']>): Clause {
  const tz = time.tz ?? 'UTC';
  const clock = localClock(tz);
  const days = time.days !== undefined ? new Set(list(time.days).map((d) => DAY_NAMES.indexOf(d))) : null;
  let hours: HoursWindow | null = null;
  if (time.hours !== undefined) {
    const h = parseHours(time.hours);
    if (typeof h === 'string') throw new Error(h);
    hours = h;
  }
  const inWindow = (ms: number): boolean => {
    const t = clock(ms);
    if (!hours) return days === null || days.has(t.weekday);
    const { start, end } = hours;
    if (start < end) return t.minute >= start && t.minute < end && (days === null || days.has(t.weekday));
    // Wraps midnight: the part after midnight belongs to the day the window started.
    if (t.minute >= start) return days === null || days.has(t.weekday);
    if (t.minute < end) return days === null || days.has((t.weekday + 6) % 7);
    return false;
  };
  return {
    name: 'time',
    test: (c) => inWindow(nowOf(c)),
    explain: (c, ok) => {
      const t = clock(nowOf(c));
      const hhmm = `${String(Math.floor(t.minute / 60)).padStart(2, '0')}:${String(t.minute % 60).padStart(2, '0')}`;
      const want = [days ? `days ${fmtList(list(time.days))}` : '', time.hours ? `hours ${time.hours}` : '']
        .filter(Boolean)
        .join(', ');
      return `time ${DAY_NAMES[t.weekday]} ${hhmm} ${tz} is ${ok ? '' : 'not '}within ${want || 'any time'}`;
    },
    tri: () => 1,
  };
}
