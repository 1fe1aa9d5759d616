import type { Repository } from '../repository/repository.js';
import { ClaimTable } from './claim-table.js';
import { WorkerPool } from './worker-pool.js';

/**
 * A worker pool configured for this repository (null when threads = 0 or workers are
 * unavailable). With `files`, workers also read and store files, which needs the index
 * cache on disk (shared read-only) and a fresh claims table for this run.
 */
export function startPool(repo: Repository, opts: { files?: boolean } = {}): WorkerPool | null {
  const files = opts.files && repo.index.path !== null;
  if (opts.files && !files) return null;
  return WorkerPool.start({
    masterKey: repo.masterKey,
    compressionLevel: repo.config.compression.level,
    packSize: repo.config.packSize,
    ...(repo.deps.threads !== undefined ? { threads: repo.deps.threads } : {}),
    ...(files
      ? {
          files: {
            chunker: { min: repo.config.chunker.min, avg: repo.config.chunker.avg, max: repo.config.chunker.max },
            gear: repo.gear,
            indexPath: repo.index.path,
            claims: ClaimTable.create(),
          },
        }
      : {}),
  });
}
