import { isTransientError } from './is-transient-error.js';
import type { Backend, ByteRange, FileInfo, SaveOptions } from './types.js';

export interface RetryInfo {
  op: 'save' | 'load' | 'list' | 'stat' | 'remove';
  name: string;
  /** The attempt that just failed, 1-based. */
  attempt: number;
  /** How long the wrapper sleeps before the next attempt. */
  delayMs: number;
  error: unknown;
}

export interface RetryOptions {
  /** Total tries including the first; default 5. */
  attempts?: number;
  /** Cap of the first backoff window; doubles per attempt. Default 200 ms. */
  baseDelayMs?: number;
  /** Largest backoff window; default 20 s. */
  maxDelayMs?: number;
  sleep?: (ms: number) => Promise<void>;
  /** Uniform in [0, 1); injected so tests get exact delays. */
  random?: () => number;
  /** Called before each sleep, e.g. to log "retrying save data/ab/… in 1.2 s". */
  onRetry?: (info: RetryInfo) => void;
  /** Which errors to retry; default isTransientError. */
  retryable?: (err: unknown) => boolean;
}

const realSleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/**
 * Retries transient backend failures with exponential backoff and full jitter
 * (sleep uniform in [0, min(max, base·2^(n-1))]), so many clients hitting one flaky
 * store don't retry in lockstep. Every Backend op is idempotent, so any op may be
 * retried; after the last attempt the last error is thrown unchanged.
 *
 * list() is retried only until it has yielded its first entry: starting over later
 * would repeat names, and filtering repeats needs memory that grows with the repository.
 *
 * No per-call timeout here: a hung call can only be abandoned, not stopped (a local
 * fsync cannot be cancelled, and an abandoned save may still land later). Timeouts
 * belong in network backends, which can abort the request and then fail with a
 * retryable error. createEngine applies this wrapper to every backend it opens.
 */
/**
 * Runs one idempotent call with the same policy as withRetry (backoff with full jitter,
 * transient errors only), for callers that talk to a store outside the Backend
 * interface (the S3 source). After the last attempt the last error is thrown unchanged.
 */
export async function retryCall<T>(op: RetryInfo['op'], name: string, fn: () => Promise<T>, opts: RetryOptions = {}): Promise<T> {
  const attempts = Math.max(1, opts.attempts ?? 5);
  const base = opts.baseDelayMs ?? 200;
  const max = opts.maxDelayMs ?? 20_000;
  const sleep = opts.sleep ?? realSleep;
  const random = opts.random ?? Math.random;
  const retryable = opts.retryable ?? isTransientError;
  for (let attempt = 1; ; attempt++) {
    try {
      return await fn();
    } catch (err) {
      if (attempt >= attempts || !retryable(err)) throw err;
      const delayMs = Math.floor(random() * Math.min(max, base * 2 ** (attempt - 1)));
      opts.onRetry?.({ op, name, attempt, delayMs, error: err });
      await sleep(delayMs);
    }
  }
}

export function withRetry(inner: Backend, opts: RetryOptions = {}): Backend {
  const attempts = Math.max(1, opts.attempts ?? 5);
  const base = opts.baseDelayMs ?? 200;
  const max = opts.maxDelayMs ?? 20_000;
  const sleep = opts.sleep ?? realSleep;
  const random = opts.random ?? Math.random;
  const retryable = opts.retryable ?? isTransientError;

  /** Returns the delay before the next attempt, or throws if the error is final. */
  const backoff = (op: RetryInfo['op'], name: string, attempt: number, error: unknown): number => {
    if (attempt >= attempts || !retryable(error)) throw error;
    const delayMs = Math.floor(random() * Math.min(max, base * 2 ** (attempt - 1)));
    opts.onRetry?.({ op, name, attempt, delayMs, error });
    return delayMs;
  };

  const run = async <T>(op: RetryInfo['op'], name: string, fn: () => Promise<T>): Promise<T> => {
    for (let attempt = 1; ; attempt++) {
      try {
        return await fn();
      } catch (err) {
        await sleep(backoff(op, name, attempt, err));
      }
    }
  };

  return {
    location: inner.location,
    ...(inner.verifiesWrites ? { verifiesWrites: true } : {}),
    save: (name: string, data: Uint8Array, options?: SaveOptions) => run('save', name, () => inner.save(name, data, options)),
    load: (name: string, range?: ByteRange, into?: Uint8Array) => run('load', name, () => inner.load(name, range, into)),
    stat: (name: string) => run('stat', name, () => inner.stat(name)),
    remove: (name: string) => run('remove', name, () => inner.remove(name)),
    async *list(prefix: string): AsyncIterable<FileInfo> {
      for (let attempt = 1; ; attempt++) {
        const it = inner.list(prefix)[Symbol.asyncIterator]();
        let first: IteratorResult<FileInfo>;
        try {
          first = await it.next();
        } catch (err) {
          await sleep(backoff('list', prefix, attempt, err));
          continue;
        }
        if (first.done) return;
        let delegated = false;
        try {
          yield first.value;
          // From here on errors propagate; see the note above. yield* also forwards an
          // early break to the inner iterator so it can close its handles.
          delegated = true;
          yield* { [Symbol.asyncIterator]: () => it };
        } finally {
          if (!delegated) await it.return?.();
        }
        return;
      }
    },
    close: () => inner.close(),
    // Optional members must pass through, or wrapping would silently turn them off.
    ...(inner.cleanup ? { cleanup: (olderThanMs: number) => run('remove', '(cleanup)', () => inner.cleanup!(olderThanMs)) } : {}),
  };
}
