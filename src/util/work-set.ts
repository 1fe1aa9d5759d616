/**
 * Work in flight, with a wait for room. `while (set.size >= max) await Promise.race(set)`
 * does the same, but each race leaves a reaction on every pending member until that
 * member settles: one long task (a big file read while thousands of small ones pass)
 * collects one per call, ~300 bytes each, so memory grew with the number of files.
 * Here a settling task wakes the waiters, and nothing is attached per wait.
 */
export class WorkSet {
  private readonly pending = new Set<Promise<void>>();
  private readonly waiters: (() => void)[] = [];

  get size(): number {
    return this.pending.size;
  }

  /** Counts `p` until it settles. Its result and rejection stay the caller's: this only watches. */
  add(p: Promise<unknown>): void {
    const settled = p.then(
      () => undefined,
      () => undefined,
    );
    this.pending.add(settled);
    void settled.then(() => {
      this.pending.delete(settled);
      // Every waiter re-checks: one woken alone may go on without adding a task (a
      // save that fills no pack), and the others would then wait for a settle that
      // never comes.
      for (const wake of this.waiters.splice(0)) wake();
    });
  }

  /** Resolves once fewer than `max` tasks are pending. */
  async room(max: number): Promise<void> {
    while (this.pending.size >= max) await new Promise<void>((resolve) => this.waiters.push(resolve));
  }

  /** Resolves when every task added so far has settled (never rejects). */
  async drained(): Promise<void> {
    await Promise.all([...this.pending]);
  }
}
