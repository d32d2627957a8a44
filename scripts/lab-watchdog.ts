// The lab's watchdog (scripts/lab.ts): a process of its own, in a session of its own, that
// outlives the lab only to clean up after it. The lab keeps it told, over a pipe on its
// stdin, which processes it started and which folder it works in; when that pipe closes
// without a `done` (the lab was killed with SIGKILL, or crashed), the watchdog stops those
// processes and removes the folder (its tokens and secrets with it). Node has no
// PR_SET_PDEATHSIG; a pipe's end is what every death of the lab reliably produces.
// Linux only (/proc), as the lab is.
import { readdirSync, readFileSync, rmSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';

/** A process, told apart from a later one with the same pid by its start time. */
export interface Proc {
  pid: number;
  /** Start time in clock ticks since boot (/proc/PID/stat field 22). */
  start: string;
}

export interface WatchdogState {
  procs: Proc[];
  dirs: string[];
  done?: boolean;
}

interface Stat {
  state: string;
  ppid: number;
  start: string;
}

function statOf(pid: number): Stat | null {
  let text: string;
  try {
    text = readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return null;
  }
  // "pid (comm) state ppid ...": comm may hold spaces and parentheses, so split after the last ')'.
  const f = text.slice(text.lastIndexOf(')') + 2).split(' ');
  const [state, ppid, start] = [f[0], f[1], f[19]];
  if (state === undefined || ppid === undefined || start === undefined) return null;
  return { state, ppid: Number(ppid), start };
}

/** The process is still the one recorded, and not a zombie waiting to be reaped. */
export function isAlive(p: Proc): boolean {
  const s = statOf(p.pid);
  return s !== null && s.start === p.start && s.state !== 'Z' && s.state !== 'X';
}

/** Every live descendant of `root` (children, their children...), not `root` itself. */
export function descendants(root: number): Proc[] {
  const children = new Map<number, { pid: number; stat: Stat }[]>();
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    const pid = Number(name);
    const stat = statOf(pid);
    if (!stat || stat.state === 'Z') continue;
    const list = children.get(stat.ppid) ?? [];
    list.push({ pid, stat });
    children.set(stat.ppid, list);
  }
  const out: Proc[] = [];
  const todo = [root];
  for (let next = todo.pop(); next !== undefined; next = todo.pop()) {
    for (const c of children.get(next) ?? []) {
      out.push({ pid: c.pid, start: c.stat.start });
      todo.push(c.pid);
    }
  }
  return out;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** SIGTERM, a few seconds to exit, then SIGKILL; then remove the folders. */
export async function cleanUp(state: WatchdogState, graceMs = 5000): Promise<void> {
  const signal = (p: Proc, s: NodeJS.Signals) => {
    try {
      if (isAlive(p)) process.kill(p.pid, s);
    } catch {
      // gone meanwhile
    }
  };
  for (const p of state.procs) signal(p, 'SIGTERM');
  for (let waited = 0; waited < graceMs && state.procs.some(isAlive); waited += 100) await sleep(100);
  for (const p of state.procs) signal(p, 'SIGKILL');
  for (const d of state.dirs) rmSync(d, { recursive: true, force: true });
}

async function main(): Promise<void> {
  // Only the end of the pipe ends the watchdog; a hangup or Ctrl-C meant for the lab does not.
  process.on('SIGHUP', () => {});
  process.on('SIGINT', () => {});
  let state: WatchdogState = { procs: [], dirs: [] };
  const lines = createInterface({ input: process.stdin });
  lines.on('line', (line) => {
    try {
      state = JSON.parse(line) as WatchdogState;
    } catch {
      // a torn line from a dying lab: keep the last whole state
    }
  });
  await new Promise<void>((r) => lines.once('close', () => r()));
  if (!state.done) await cleanUp(state);
  process.exit(0);
}

if (process.argv[1] === fileURLToPath(import.meta.url)) void main();
