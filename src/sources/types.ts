import type { Clock } from '../core/clock.js';
import type { BackupOptions, BackupResult, RestoreResult, SnapshotInfo, Progress } from '../engine/types.js';
import type { Repository } from '../repository/repository.js';
import type { BlobSaver } from '../repository/blob-saver.js';
import type { BlobId } from '../core/ids.js';
import type { SnapshotSummary, SourceWarning } from '../engine/types.js';

/** What a source that builds its own trees gets (SourceHost.backupTrees). */
export interface TreeBuildContext {
  /** Deduplicates and packs blobs; the host writes the index file after build returns. */
  saver: BlobSaver;
  /** The snapshot to compare with (null: everything is new). */
  parent: SnapshotInfo | null;
  /** False in --mode full: read everything even with a parent. */
  reuseUnchanged: boolean;
  /** The parent's blobs are known to be stored: reuse them without a lookup each. */
  parentStored: boolean;
}

export interface TreeBuildResult {
  tree: BlobId;
  summary: Omit<SnapshotSummary, 'dataBlobs' | 'treeBlobs' | 'packs' | 'bytesAdded' | 'bytesAddedPacked' | 'durationMs'>;
  warnings: SourceWarning[];
  /** Some data could not be read (the CLI exits 3). */
  partial: boolean;
  /** Merged into the snapshot's sourceMeta. */
  meta?: Record<string, unknown>;
}

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
  /**
   * Stores a snapshot whose trees the source builds itself, streaming blobs into the
   * saver with nothing staged on disk (S3). The host does the rest exactly as for a
   * files backup: writer lock, index refresh, parent choice (same host, type and
   * name; `opts.mode`), index file, then the snapshot.
   */
  backupTrees(
    as: { source: { type: string; name: string }; paths: string[]; meta?: Record<string, unknown> },
    opts: Omit<BackupOptions, 'paths'>,
    build: (ctx: TreeBuildContext) => Promise<TreeBuildResult>,
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
