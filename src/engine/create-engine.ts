import { openBackend } from '../backend/open-backend.js';
import { systemClock, type Clock } from '../core/clock.js';
import { systemRandom, type RandomSource } from '../core/random.js';
import { Repository } from '../repository/repository.js';
import { defaultCacheDir } from './cache-dir.js';
import { Session } from './session.js';
import type { Engine, InitOptions, InitResult, RepoOptions, RepositorySession } from './types.js';
import type { KdfParams } from '../crypto/key-slot.js';

export interface EngineDeps {
  clock?: Clock;
  random?: RandomSource;
  /** scrypt cost for new key slots (tests lower it); default from the crypto layer. */
  kdf?: KdfParams;
}

/** The engine facade: the only entry point for cli/, agent/ and server/. */
export function createEngine(deps: EngineDeps = {}): Engine {
  const clock = deps.clock ?? systemClock;
  const random = deps.random ?? systemRandom;
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
  };
}
