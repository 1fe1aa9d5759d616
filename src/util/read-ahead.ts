/**
 * Pulls items from an async iterator before anyone asks for them, up to `limit`, and
 * hands them out in order to the one consumer that later iterates it. Made for work
 * that can start while the program waits on something else: a backup's walk runs on the
 * main thread while scrypt unlocks the key on the thread pool.
 *
 * Only the time before the consumer arrives is used: once it iterates, it drains what
 * was read ahead and then pulls from the source itself, with no queue in between. An
 * error thrown by the source is kept in its place and thrown to the consumer when it
 * gets there, after the items read before it.
 */
export class ReadAhead<T> implements AsyncIterable<T> {
  private queue: T[] = [];
  /** Next item of `queue` to hand out (an index: shifting a long array is O(n)). */
  private head = 0;
  private failure: { error: unknown } | null = null;
  private done = false;
  private closed = false;
  private taken = false;
  /** The one pull in flight while reading ahead; the consumer waits for it before pulling. */
  private pulling: Promise<void> | null = null;

  constructor(
    private readonly source: AsyncIterator<T>,
    private readonly limit: number,
  ) {
    if (!(limit > 0)) throw new RangeError(`read-ahead limit must be positive, got ${limit}`);
    this.pulling = this.fill();
  }

  /** Settles when reading ahead stops: the limit reached, the source done, or the consumer arrived. */
  get filled(): Promise<void> {
    return this.pulling ?? Promise.resolve();
  }

  /** Items read ahead and not yet handed out. */
  get buffered(): number {
    return this.queue.length - this.head;
  }

  private async fill(): Promise<void> {
    try {
      while (!this.taken && !this.closed && this.queue.length < this.limit) {
        const r = await this.source.next();
        if (r.done) {
          this.done = true;
          return;
        }
        this.queue.push(r.value);
      }
    } catch (error) {
      this.failure = { error };
      this.done = true;
    } finally {
      this.pulling = null;
    }
  }

  /**
   * Stops reading ahead and releases the source (its `return`). For a read-ahead that
   * will never be consumed (the run failed before it got there); a consumer's iteration
   * releases the source itself when it stops.
   */
  async close(): Promise<void> {
    if (this.closed || this.taken) return;
    this.closed = true;
    this.queue = [];
    await this.pulling;
    if (!this.done) await this.source.return?.();
  }

  async *[Symbol.asyncIterator](): AsyncIterator<T> {
    if (this.taken) throw new Error('a read-ahead can be iterated once');
    if (this.closed) throw new Error('read-ahead closed before it was iterated');
    this.taken = true;
    await this.pulling;
    let completed = false;
    try {
      while (this.head < this.queue.length) {
        const item = this.queue[this.head]!;
        // Handed out items are not kept: the consumer may hold on to few of them.
        this.queue[this.head++] = undefined as T;
        yield item;
      }
      this.queue = [];
      if (this.failure) throw this.failure.error;
      if (!this.done) {
        for (let r = await this.source.next(); !r.done; r = await this.source.next()) yield r.value;
      }
      completed = true;
    } finally {
      this.queue = [];
      // A consumer that stops early (break, or an error of its own) releases the source.
      if (!completed && !this.done) await this.source.return?.();
    }
  }
}
