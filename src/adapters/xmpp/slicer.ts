// Hands items to a handler at most `budget` per turn of the event loop, in order. One
// socket read can hold hundreds of stanzas (a burst the server had queued): handled all in
// one turn, none of their deliveries leaves before the last is through the pipeline and
// the server sits idle meanwhile; in slices, the first deliveries are written while later
// stanzas are still being handled (bench/README.md, XMPP, session 3).

export class TurnSlicer<T> {
  readonly #budget: number;
  readonly #handle: (item: T) => void;
  /** Items not yet handled, from #head on. */
  #queue: (T | undefined)[] = [];
  #head = 0;
  #handledThisTurn = 0;
  #scheduled = false;

  constructor(budget: number, handle: (item: T) => void) {
    this.#budget = Math.max(1, budget);
    this.#handle = handle;
  }

  /** Items waiting for a later turn. */
  get waiting(): number {
    return this.#queue.length - this.#head;
  }

  /** Handle `item` now if this turn's budget allows and nothing is waiting, else queue it. */
  push(item: T): void {
    if (this.#head === this.#queue.length && this.#handledThisTurn < this.#budget) {
      this.#handledThisTurn++;
      this.#handle(item);
    } else this.#queue.push(item);
    if (!this.#scheduled) {
      this.#scheduled = true;
      setImmediate(this.#nextTurn);
    }
  }

  readonly #nextTurn = (): void => {
    this.#scheduled = false;
    this.#handledThisTurn = 0;
    while (this.#head < this.#queue.length && this.#handledThisTurn < this.#budget) {
      const item = this.#queue[this.#head] as T;
      this.#queue[this.#head++] = undefined;
      this.#handledThisTurn++;
      this.#handle(item);
    }
    // A fresh budget for whatever arrives before the next turn.
    this.#handledThisTurn = 0;
    if (this.#head < this.#queue.length) {
      this.#scheduled = true;
      setImmediate(this.#nextTurn);
    } else {
      this.#queue = [];
      this.#head = 0;
    }
  };
}
