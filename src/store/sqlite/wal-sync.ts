// Durability without stopping the writer: with `synchronous = full` the writer thread
// commits without waiting for the disk (SQLite's NORMAL: the WAL is written, not synced)
// and this syncs the WAL file on libuv's thread pool, then releases the answers of every
// transaction committed before that sync began. The writer meanwhile goes on with the next
// transaction, and one sync covers all the commits made while the previous one ran. An
// answer is still sent only once its transaction is on disk: what FULL gives, at the cost
// of one sync per burst instead of one per transaction. (In WAL mode with NORMAL, SQLite
// itself syncs the WAL before each checkpoint and the database after it, so the file stays
// consistent; what this adds is the sync before an answer.) Another connection may read a
// transaction in the moment between its commit and its sync; the gateway acts on a record
// (delivers its event) only after the answer.
import { closeSync, fstatSync, fsync, openSync, statSync } from 'node:fs';

export class WalSync<T> {
  readonly #walPath: string;
  readonly #release: (answers: T[]) => void;
  readonly #fail: (answers: T[], err: Error) => void;
  #fd: number | null = null;
  #waiting: T[] = [];
  #syncing = false;
  #idle: Array<() => void> = [];

  /**
   * `release`: send answers once on disk; `fail`: the sync failed (they may not be on disk).
   */
  constructor(walPath: string, release: (answers: T[]) => void, fail: (answers: T[], err: Error) => void) {
    this.#walPath = walPath;
    this.#release = release;
    this.#fail = fail;
  }

  /** Call right after a commit: its answers go out once a sync that began after it is done. */
  committed(answers: T[]): void {
    if (answers.length === 0 && !this.#syncing && this.#waiting.length === 0) return;
    this.#waiting.push(...answers);
    if (!this.#syncing) this.#sync();
  }

  /** The WAL's descriptor, opened again if the file was replaced (same path, new file). */
  #walFd(): number {
    if (this.#fd !== null) {
      let same = false;
      try {
        same = fstatSync(this.#fd).ino === statSync(this.#walPath).ino;
      } catch {
        same = false;
      }
      if (same) return this.#fd;
      closeSync(this.#fd);
      this.#fd = null;
    }
    this.#fd = openSync(this.#walPath, 'r');
    return this.#fd;
  }

  #sync(): void {
    const covered = this.#waiting;
    this.#waiting = [];
    let fd: number;
    try {
      fd = this.#walFd();
    } catch (err) {
      this.#fail(covered, err as Error);
      this.#done();
      return;
    }
    this.#syncing = true;
    fsync(fd, (err) => {
      this.#syncing = false;
      if (err) this.#fail(covered, err);
      else this.#release(covered);
      if (this.#waiting.length > 0) this.#sync();
      else this.#done();
    });
  }

  #done(): void {
    if (this.#syncing || this.#waiting.length > 0) return;
    const idle = this.#idle;
    this.#idle = [];
    for (const f of idle) f();
  }

  /** Resolves when every committed answer has been released (or failed). */
  settled(): Promise<void> {
    if (!this.#syncing && this.#waiting.length === 0) return Promise.resolve();
    return new Promise((r) => this.#idle.push(r));
  }

  close(): void {
    if (this.#fd !== null) closeSync(this.#fd);
    this.#fd = null;
  }
}
