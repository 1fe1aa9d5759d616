import { openBackend as openRawBackend } from '../backend/open-backend.js';
import type { Backend } from '../backend/types.js';
import { systemClock, type Clock } from '../core/clock.js';
import { systemRandom, type RandomSource } from '../core/random.js';
import { Repository } from '../repository/repository.js';
import { defaultCacheDir } from './cache-dir.js';
import { Session } from './session.js';
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
}

/** The engine facade: the only entry point for cli/, agent/ and server/. */
export function createEngine(deps: EngineDeps = {}): Engine {
  const clock = deps.clock ?? systemClock;
  const random = deps.random ?? systemRandom;
  const openBackend = (location: string): Backend => {
    const b = openRawBackend(location);
    return deps.wrapBackend ? deps.wrapBackend(b, location) : b;
  };
  const kdfFromEnv = (): KdfParams | undefined => {
    const n = Number(process.env.CAIRN_KDF_N);
    return Number.isInteger(n) && n > 1 ? { N: n, r: 8, p: 1 } : deps.kdf;
  };
  return {
    async init(opts: InitOptions): Promise<InitResult> {
      const backend = openBackend(opts.repo);
      const kdf = opts.kdf ?? kdfFromEnv();
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
        return new Session(repo, kdfFromEnv());
      } catch (err) {
        await backend.close().catch(() => undefined);
        throw err;
      }
    },
    copy(_opts: CopyOptions): Promise<CopyResult> {
      return Promise.reject(new CairnError('INTERNAL', 'copy is not built yet'));
    },
  };
}
