import type { Repository } from '../repository/repository.js';
import { ClaimTable } from './claim-table.js';
import { WorkerPool, type PoolConfig } from './worker-pool.js';
import { LazyPool } from './lazy-pool.js';

/**
 * A worker pool configured for this repository (null when threads = 0 or workers are
 * unavailable). With `files`, workers also read and store files, which needs the index
 * cache on disk (shared read-only) and a fresh claims table for this run.
 */
export function startPool(repo: Repository): WorkerPool | null {
  return WorkerPool.start(poolConfig(repo, false));
}

/** For backup: file workers, started only when the first file has to be read. */
export function fileWorkers(repo: Repository): LazyPool | null {
  if (repo.index.path === null || !WorkerPool.available(repo.deps.threads)) return null;
  return new LazyPool(poolConfig(repo, true));
}

function poolConfig(repo: Repository, files: boolean): PoolConfig {
  return {
    masterKey: repo.masterKey,
    compressionLevel: repo.config.compression.level,
    packSize: repo.config.packSize,
    ...(repo.deps.threads !== undefined ? { threads: repo.deps.threads } : {}),
    ...(files
      ? {
          files: {
            chunker: { min: repo.config.chunker.min, avg: repo.config.chunker.avg, max: repo.config.chunker.max },
            gear: repo.gear,
            indexPath: repo.index.path!,
            claims: ClaimTable.create(),
          },
        }
      : {}),
  };
}
