import type { BackupMode, BackupResult, Progress, SnapshotFilter, SnapshotInfo, SourceWarning } from '../../engine/types.js';

/* The engine facade's types for the S3 bucket source (docs/sources/s3.md); engine/types.ts re-exports them. */

export interface S3BackupOptions {
  /** s3://bucket[/prefix][?endpoint=…&region=…&path-style=…&concurrency=N]; credentials from the AWS chain. */
  url: string;
  /** Groups this bucket's snapshots (incremental parent, --source on restore); default "bucket/prefix". */
  name?: string;
  mode?: BackupMode;
  /** Explicit parent snapshot (id or prefix). */
  parent?: string;
  tags?: string[];
  host?: string;
  dryRun?: boolean;
  onProgress?: (p: Progress) => void;
  onWarning?: (w: SourceWarning) => void;
  signal?: AbortSignal;
}

export interface S3BackupResult extends BackupResult {
  name: string;
  /** Objects listed, and how many of them were read (GetObject) rather than reused from the parent. */
  objects: number;
  objectsRead: number;
}

export interface S3RestoreOptions {
  /** id, prefix or "latest"; ignored with `at`. */
  snapshot: string;
  /** The newest snapshot (of the S3 source chosen by `source`/`filter`) at or before this time. */
  at?: string;
  /** Source name (as shown by `cairn snapshots`); narrows latest/--at to that bucket's snapshots. */
  source?: string;
  filter?: SnapshotFilter;
  /** s3://bucket[/prefix][?…]: objects are written under this prefix; nothing there is ever deleted. */
  to: string;
  include?: string[];
  onProgress?: (p: Progress) => void;
  signal?: AbortSignal;
}

export interface S3RestoreResult {
  snapshot: SnapshotInfo;
  to: string;
  objects: number;
  bytes: number;
  /** Entries that are not objects (symlinks, devices, names that are no key) and were skipped. */
  warnings: string[];
}
