import { openBackend as openRawBackend } from '../backend/open-backend.js';
import type { Backend } from '../backend/types.js';
import { withRetry, type RetryInfo, type RetryOptions } from '../backend/with-retry.js';

export type { RetryInfo } from '../backend/with-retry.js';
import { systemClock, type Clock } from '../core/clock.js';
import { systemRandom, type RandomSource } from '../core/random.js';
import { Repository } from '../repository/repository.js';
import { defaultCacheDir } from './cache-dir.js';
import { Session } from './session.js';
import { initMirror } from '../replication/init-mirror.js';
import { runCopy } from '../replication/run-copy.js';
import type { CopyOptions, CopyResult, Engine, InitOptions, InitResult, RepoOptions, RepositorySession } from './types.js';
import { CairnError } from '../core/errors/index.js';
import type { KdfParams } from '../crypto/key-slot.js';

export interface EngineDeps {
  clock?: Clock;
  random?: RandomSource;
  /** scrypt cost for new key slots (tests lower it); default from the crypto layer. */
  kdf?: KdfParams;
  /**
   * Wraps every backend the engine opens (tests inject faults with it: withFaults).
   * `location` is what the caller passed as the repository.
   */
  wrapBackend?: (backend: Backend, location: string) => Backend;
  /**
   * Retry policy for every backend the engine opens (sleep, random, attempts...). Fields
   * not given come from CAIRN_RETRY_ATTEMPTS / CAIRN_RETRY_BASE_MS, then the defaults.
   */
  retry?: RetryOptions;
  /** Called before each retry of a backend call (the CLI prints it under --verbose). */
  onRetry?: (info: RetryInfo) => void;
  /** Where CAIRN_* tuning variables are read from; default process.env. */
  env?: Record<string, string | undefined>;
}

/**
 * CAIRN_RETRY_ATTEMPTS (total tries per backend call, 1 = no retry) and
 * CAIRN_RETRY_BASE_MS (first backoff window, doubling per attempt). Junk is refused
 * rather than silently replaced by a default: an operator who set it meant something.
 */
export function retryOptionsFromEnv(env: Record<string, string | undefined>): RetryOptions {
  const read = (name: string, min: number, max: number): number | undefined => {
    const raw = env[name];
    if (raw === undefined || raw.trim() === '') return undefined;
    const n = Number(raw.trim());
    if (!/^\d+$/.test(raw.trim()) || !Number.isSafeInteger(n) || n < min || n > max) {
      throw new CairnError('CONFIG_INVALID', `${name} must be a whole number from ${min} to ${max}, got ${JSON.stringify(raw)}`, {
        hint: `unset ${name} to use the default`,
      });
    }
    return n;
  };
  const attempts = read('CAIRN_RETRY_ATTEMPTS', 1, 100);
  const baseDelayMs = read('CAIRN_RETRY_BASE_MS', 0, 600_000);
  return { ...(attempts !== undefined ? { attempts } : {}), ...(baseDelayMs !== undefined ? { baseDelayMs } : {}) };
}

/** The engine facade: the only entry point for cli/, agent/ and server/. */
export function createEngine(deps: EngineDeps = {}): Engine {
  const clock = deps.clock ?? systemClock;
  const random = deps.random ?? systemRandom;
  // Validated now, so junk fails the first command, not the first retry.
  const retry: RetryOptions = {
    ...retryOptionsFromEnv(deps.env ?? process.env),
    ...deps.retry,
    ...(deps.onRetry || deps.retry?.onRetry
      ? { onRetry: (info: RetryInfo) => (deps.retry?.onRetry?.(info), deps.onRetry?.(info)) }
      : {}),
  };
  // Retry is outermost, outside the test hook, so injected faults are retried exactly
  // like real ones. No backend retries by itself (S3 included): this is the one place.
  const openBackend = (location: string): Backend => {
    const b = openRawBackend(location);
    return withRetry(deps.wrapBackend ? deps.wrapBackend(b, location) : b, retry);
  };
  const kdfFromEnv = (): KdfParams | undefined => {
    const n = Number(process.env.CAIRN_KDF_N);
    return Number.isInteger(n) && n > 1 ? { N: n, r: 8, p: 1 } : deps.kdf;
  };
  return {
    async init(opts: InitOptions): Promise<InitResult> {
      const backend = openBackend(opts.repo);
      const kdf = opts.kdf ?? kdfFromEnv();
      if (opts.mirrorOf) {
        const deps = { clock, random, cacheDir: opts.cacheDir ?? defaultCacheDir() };
        return initMirror(backend, openBackend(opts.mirrorOf.repo), opts.password, opts.mirrorOf.password, deps, kdf);
      }
      const repo = await Repository.init(
        backend,
        opts.password,
        { clock, random, cacheDir: opts.cacheDir ?? defaultCacheDir() },
        { ...(kdf ? { kdf } : {}), ...(opts.chunker ? { chunker: opts.chunker } : {}) },
      );
      const result = { id: repo.id, location: backend.location, keyId: repo.keyId as InitResult['keyId'] };
      await repo.close();
      return result;
    },
    async open(opts: RepoOptions): Promise<RepositorySession> {
      const backend = openBackend(opts.repo);
      try {
        const repo = await Repository.open(backend, opts.password, {
          clock,
          random,
          cacheDir: opts.cacheDir ?? defaultCacheDir(),
          ...(opts.threads !== undefined ? { threads: opts.threads } : {}),
        });
        return new Session(repo, kdfFromEnv(), openBackend, retry);
      } catch (err) {
        await backend.close().catch(() => undefined);
        throw err;
      }
    },
    async copy(opts: CopyOptions): Promise<CopyResult> {
      const openRepo = async (o: RepoOptions): Promise<Repository> => {
        const backend = openBackend(o.repo);
        try {
          return await Repository.open(backend, o.password, { clock, random, cacheDir: o.cacheDir ?? defaultCacheDir() });
        } catch (err) {
          await backend.close().catch(() => undefined);
          throw err;
        }
      };
      const src = await openRepo(opts.from);
      try {
        const dst = await openRepo(opts.to);
        try {
          const { from: _from, to: _to, ...params } = opts;
          return await runCopy(src, dst, params);
        } finally {
          await dst.close();
        }
      } finally {
        await src.close();
      }
    },
  };
}
