import type { Clock } from '../core/clock.js';
import type { BackupOptions, BackupResult, RestoreResult, SnapshotInfo, Progress } from '../engine/types.js';
import type { Repository } from '../repository/repository.js';

/**
 * The sources seam (docs/design.md, "Sources").
 *
 * A source is a data store that is not a plain directory tree. It produces
 *   - snapshots: a consistent copy (a base backup, a dump) staged as files and stored
 *     through the normal files path, so chunk dedup makes an unchanged store cost
 *     almost nothing, recorded with `source: {type, name}` and `sourceMeta`; and,
 *     where the store allows,
 *   - a continuous log (PostgreSQL WAL, a binlog, a command stream) stored as data
 *     blobs named by sealed catalog records, which makes point-in-time restore possible.
 * It knows how to restore both: a snapshot plus the log up to a time.
 *
 * Contract:
 *   - `name` groups everything of one store (snapshots and log); it is stable across
 *     restarts and hosts and defaults to something the store itself identifies
 *     (PostgreSQL: the system identifier).
 *   - Nothing is reported as stored that is not: log records are written only after
 *     the index file naming their packs, exactly like snapshots.
 *   - Continuity is verified, never assumed: a source that keeps a log reports the
 *     restorable windows and every gap, and refuses a restore into a gap before it
 *     writes anything.
 *   - Sources live at rank 7 (beside archiver and restorer) and so cannot import them:
 *     the engine hands a source a `SourceHost` with the two operations it needs.
 */
export interface SourceHost {
  repo: Repository;
  clock: Clock;
  /** Snapshots of the repository (oldest first). */
  snapshots(): Promise<SnapshotInfo[]>;
  /** Stores the contents of `dir` as a snapshot whose root is that directory. */
  backupDirectory(
    dir: string,
    as: { source: { type: string; name: string }; paths: string[]; meta?: Record<string, unknown> },
    opts: Omit<BackupOptions, 'paths'>,
  ): Promise<BackupResult>;
  /** Restores a whole snapshot into `target` (created if missing). */
  restoreSnapshot(snapshot: SnapshotInfo, target: string, opts: { onProgress?: (p: Progress) => void; signal?: AbortSignal }): Promise<RestoreResult>;
}

/** What every source implements. Log-keeping methods are optional. */
export interface Source<BackupOpts, BackupOut, RestoreOpts, RestoreOut> {
  readonly type: string;
  /** Takes a consistent copy of the store into a new snapshot. */
  backup(host: SourceHost, opts: BackupOpts): Promise<BackupOut>;
  /** Restores a snapshot (plus the log up to a time, where kept) into a target. */
  restore(host: SourceHost, opts: RestoreOpts): Promise<RestoreOut>;
}
