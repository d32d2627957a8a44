// Coalesces the stanzas sent in one turn of the event loop into one socket write. Prosody
// pays per read: a burst of 500 stanzas written one by one costs it 500 reads (and Node
// 500 syscalls); written together it reads them in a few. Measured with bench:xmpp, this
// cut Prosody's CPU per gateway message by about a third. Each send still resolves only
// when its bytes reached the socket, so a failed write is reported to every stanza in it.

export interface Writable {
  write(data: string): Promise<void>;
}

/** Flush early when this much is waiting, so one huge burst does not build one huge string. */
const MAX_PENDING_CHARS = 256 * 1024;

interface Waiter {
  resolve(): void;
  reject(err: Error): void;
}

export class WriteCoalescer {
  readonly #out: Writable;
  #chunks: string[] = [];
  #chars = 0;
  #waiters: Waiter[] = [];
  #scheduled = false;

  constructor(out: Writable) {
    this.#out = out;
  }

  /** Queue `data` for the next write; resolves once it was written, rejects if that failed. */
  write(data: string): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      this.#chunks.push(data);
      this.#chars += data.length;
      this.#waiters.push({ resolve, reject });
      if (this.#chars >= MAX_PENDING_CHARS) this.flush();
      else if (!this.#scheduled) {
        this.#scheduled = true;
        setImmediate(() => this.flush());
      }
    });
  }

  /** Write what is waiting now. */
  flush(): void {
    this.#scheduled = false;
    if (this.#chunks.length === 0) return;
    const data = this.#chunks.length === 1 ? (this.#chunks[0] as string) : this.#chunks.join('');
    const waiters = this.#waiters;
    this.#chunks = [];
    this.#chars = 0;
    this.#waiters = [];
    let written: Promise<void>;
    try {
      written = this.#out.write(data);
    } catch (err) {
      written = Promise.reject(err);
    }
    written.then(
      () => {
        for (const w of waiters) w.resolve();
      },
      (err: unknown) => {
        const e = err instanceof Error ? err : new Error(String(err));
        for (const w of waiters) w.reject(e);
      },
    );
  }
}
