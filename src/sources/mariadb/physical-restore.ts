import { copyFile, mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import type { Progress, SnapshotInfo } from '../../engine/types.js';
import type { SourceHost } from '../types.js';
import { run } from './my-datadir.js';
import { findBackupTool } from './physical-backup.js';

/**
 * Puts a physical base (a prepared mariadb-backup copy) into place as the data
 * directory `target`: the snapshot is restored into `stage` (a sibling of `target`, so
 * that the move is a rename on the same file system), then `mariadb-backup --move-back`
 * moves it into `target`, as a restore of a mariadb-backup copy is documented to be done.
 * Returns the copy's backup-my.cnf (kept in `stage`): the InnoDB settings the files
 * were written with, which the server started on them must use.
 */
export async function placePhysicalBase(
  host: SourceHost,
  snapshot: SnapshotInfo,
  target: string,
  stage: string,
  opts: { onProgress?: (p: Progress) => void; signal?: AbortSignal },
): Promise<string> {
  const tool = findBackupTool('restoring a physical base needs it');
  const copy = join(stage, 'base');
  await host.restoreSnapshot(snapshot, copy, opts);
  const cnf = join(stage, 'backup-my.cnf');
  await copyFile(join(copy, 'backup-my.cnf'), cnf);
  await mkdir(target, { recursive: true, mode: 0o750 });
  await run(tool, [`--defaults-file=${cnf}`, '--move-back', `--target-dir=${copy}`, `--datadir=${target}`]);
  return cnf;
}
