// Posted audit entries (outcome records nothing waits on) whose append failed: kept,
// bounded, for another attempt once the store answers, so that a store outage does not
// lose them. An attempt that failed may have been written all the same (the connection
// broke after the commit): each group remembers the last record of the attempt, and is
// dropped as written when the log holds that record.
import type { AuditLog } from '../store.js';

export interface Mark {
  seq: number;
  hash: string;
}

interface Group<T> {
  items: T[];
  mark: Mark | null;
}

export class RetainedPosts<T> {
  private groups: Group<T>[] = [];
  private count = 0;
  private timer: NodeJS.Timeout | null = null;
  private delayMs: number;

  constructor(
    private readonly max: number,
    private readonly minMs: number,
    private readonly maxMs: number,
    /** Called when the delay after a failure has passed. */
    private readonly due: () => void,
  ) {
    this.delayMs = minMs;
  }

  get size(): number {
    return this.count;
  }

  /** Keep `items` (as many as there is room for); returns how many did not fit. */
  keep(items: T[], mark: Mark | null): number {
    const room = Math.max(0, this.max - this.count);
    const kept = items.length <= room ? items : items.slice(0, room);
    if (kept.length > 0) {
      this.groups.push({ items: kept, mark });
      this.count += kept.length;
    }
    this.arm();
    return items.length - kept.length;
  }

  /** The store answered: the next attempt need not wait long. */
  succeeded(): void {
    this.delayMs = this.minMs;
  }

  /** Take every kept item not already written, oldest first. */
  async takeUnwritten(log: AuditLog): Promise<{ items: T[]; written: number }> {
    const groups = this.groups;
    this.groups = [];
    this.count = 0;
    const items: T[] = [];
    let written = 0;
    for (let i = 0; i < groups.length; i++) {
      const g = groups[i] as Group<T>;
      let done: boolean;
      try {
        done = g.mark !== null && (await wasWritten(log, g.mark));
      } catch {
        // The store fails again: keep this group and the rest for later.
        for (const rest of groups.slice(i)) this.keep(rest.items, rest.mark);
        return { items, written };
      }
      if (done) written += g.items.length;
      else items.push(...g.items);
    }
    return { items, written };
  }

  /** Drop everything kept (the writer closes); returns how many were dropped. */
  clear(): number {
    const n = this.count;
    this.groups = [];
    this.count = 0;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    return n;
  }

  private arm(): void {
    if (this.timer || this.count === 0) return;
    const delay = this.delayMs;
    this.delayMs = Math.min(this.maxMs, this.delayMs * 2);
    this.timer = setTimeout(() => {
      this.timer = null;
      this.due();
    }, delay);
    this.timer.unref();
  }
}

async function wasWritten(log: AuditLog, mark: Mark): Promise<boolean> {
  const [r] = await log.range(mark.seq, 1);
  return r !== undefined && r.seq === mark.seq && r.hash === mark.hash;
}
