/**
 * Resolves after `ms`, or at once when any of `signals` aborts (never rejects): a
 * streamer's wait between polls. The listeners are removed when it resolves, so a
 * loop that sleeps millions of times keeps nothing.
 */
export function abortableSleep(ms: number, ...signals: AbortSignal[]): Promise<void> {
  return new Promise((resolve) => {
    if (signals.some((s) => s.aborted)) return resolve();
    const t = setTimeout(done, ms);
    function done(): void {
      clearTimeout(t);
      for (const s of signals) s.removeEventListener('abort', done);
      resolve();
    }
    for (const s of signals) s.addEventListener('abort', done, { once: true });
  });
}

/**
 * An AbortSignal that aborts once `p` settles. A loop that waits for "the next tick or
 * the end of `p`" must not race against `p` itself: `Promise.race([sleep, p])` leaves a
 * reaction on `p` on every call, kept until `p` settles (~300 bytes each; a streamer
 * flushing every second for 30 days would hold ~0.8 GB). This adds one.
 */
export function settledSignal(p: Promise<unknown>): AbortSignal {
  const c = new AbortController();
  const abort = (): void => c.abort();
  p.then(abort, abort);
  return c.signal;
}
