import { runBackup } from '../archiver/backup.js';
import type { Backend } from '../backend/types.js';
import type { BackupOptions, BackupResult, SnapshotInfo } from '../engine/types.js';
import type { Repository } from '../repository/repository.js';
import { MirrorSet } from './mirror-set.js';

/**
 * A backup written to the primary and to every mirror in `opts.mirrors`: each pack goes
 * to the healthy mirrors as soon as the primary has it; once the snapshot is committed
 * in the primary, each healthy mirror is caught up for it and gets the snapshot file.
 * The result reports every mirror; a failed one never fails the primary's backup.
 */
export async function runMirroredBackup(
  repo: Repository,
  opts: BackupOptions,
  snapshots: () => Promise<SnapshotInfo[]>,
  openBackend: (location: string) => Backend,
): Promise<BackupResult> {
  const mirrors = await MirrorSet.open(repo, opts.mirrors ?? [], openBackend, { dryRun: !!opts.dryRun });
  try {
    const result = await runBackup(repo, opts, snapshots, { onPackStored: mirrors.fanOut });
    if (!opts.dryRun) await mirrors.finish(result.snapshot.id, result.snapshot.tree, opts.signal);
    return { ...result, mirrors: mirrors.reports() };
  } finally {
    await mirrors.close();
  }
}
