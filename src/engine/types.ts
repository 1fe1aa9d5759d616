import type { SnapshotId, KeyId, BlobId } from '../core/ids.js';
import type { WalkAhead } from '../archiver/walk-ahead.js';
import type { PgBackupOptions, PgBackupResult, PgStreamOptions, PgStreamResult, WalPushOptions, WalPushResult, PitrWindowInfo, PitrReport, PgRestoreOptions, PgRestoreResult } from '../sources/postgres/pg-types.js';
export type { PgBackupOptions, PgBackupResult, PgStreamOptions, PgStreamResult, WalPushOptions, WalPushResult, PitrWindowInfo, PitrReport, PgRestoreOptions, PgRestoreResult };
import type { S3BackupOptions, S3BackupResult, S3RestoreOptions, S3RestoreResult } from '../sources/s3/s3-types.js';
export type { S3BackupOptions, S3BackupResult, S3RestoreOptions, S3RestoreResult };
import type { SqliteBackupOptions, SqliteBackupResult, SqliteStreamOptions, SqliteStreamResult, SqlitePitrReport, SqliteRestoreOptions, SqliteRestoreResult } from '../sources/sqlite/sqlite-types.js';
export type { SqliteBackupOptions, SqliteBackupResult, SqliteStreamOptions, SqliteStreamResult, SqlitePitrReport, SqliteRestoreOptions, SqliteRestoreResult };
import type {
  RedisBackupOptions,
  RedisBackupResult,
  RedisPitrReport,
  RedisRestoreOptions,
  RedisRestoreResult,
  RedisStreamOptions,
  RedisStreamResult,
} from '../sources/redis/redis-source.js';
export type { RedisBackupOptions, RedisBackupResult, RedisPitrReport, RedisRestoreOptions, RedisRestoreResult, RedisStreamOptions, RedisStreamResult };
import type { ForgetPolicy, ForgetGroup, ForgetResult, PruneResult, ForgetOptions, PruneOptions, UnlockResult, PackRepairResult, RepairPacksResult, RepairResult, RepairSnapshotsResult, SnapshotRepair, WalRecordRepair, TagChange, SnapshotTagging, TagSnapshotsResult, SnapshotRewrite, RewriteSnapshotsResult } from './maintenance-types.js';
export type { ForgetPolicy, ForgetGroup, ForgetResult, PruneResult, ForgetOptions, PruneOptions, UnlockResult, PackRepairResult, RepairPacksResult, RepairResult, RepairSnapshotsResult, SnapshotRepair, WalRecordRepair, TagChange, SnapshotTagging, TagSnapshotsResult, SnapshotRewrite, RewriteSnapshotsResult };

/**
 * The engine facade: the only thing cli/, agent/ and server/ call. Everything here is
 * plain data so that --json output is the object itself.
 */

export type BackupMode = 'full' | 'differential' | 'incremental';

export interface RepoOptions {
  /** Repository location: a local path (or file:// URL). */
  repo: string;
  password: string;
  /** Directory for the local index cache; default from CAIRN_CACHE_DIR or XDG. */
  cacheDir?: string;
  /** Worker threads for compression, encryption and verification; default one per core, 0 = none. */
  threads?: number;
}

export interface InitOptions {
  repo: string;
  password: string;
  cacheDir?: string;
  /**
   * Create a mirror of this primary: same master key and chunking parameters (so packs
   * written to both are byte-identical), its own id and key slot for `password`.
   */
  mirrorOf?: { repo: string; password: string };
  /** scrypt cost; tests lower it. Default N=2^17, r=8, p=1. */
  kdf?: { N: number; r: number; p: number };
  chunker?: { min: number; avg: number; max: number };
}

export interface InitResult {
  id: string;
  location: string;
  keyId: KeyId;
}

export interface SnapshotSummary {
  filesNew: number;
  filesChanged: number;
  filesUnchanged: number;
  dirsNew: number;
  dirsChanged: number;
  dirsUnchanged: number;
  bytesRead: number;
  bytesAdded: number;
  bytesAddedPacked: number;
  dataBlobs: number;
  treeBlobs: number;
  packs: number;
  errors: number;
  durationMs: number;
}

export interface SnapshotInfo {
  id: SnapshotId;
  shortId: string;
  time: string; // ISO 8601
  host: string;
  user: string;
  source: { type: string; name: string };
  paths: string[];
  tags: string[];
  mode: BackupMode;
  parent: SnapshotId | null;
  tree: BlobId;
  summary?: SnapshotSummary;
  /** For a snapshot made by `cairn copy` between repositories with different keys: the source snapshot's id. */
  original?: SnapshotId;
  /** Source-specific facts (postgres: system id, timeline, WAL range, stop time). */
  sourceMeta?: Record<string, unknown>;
}

export interface BackupOptions {
  paths: string[];
  mode?: BackupMode;
  tags?: string[];
  host?: string;
  excludes?: string[]; // globs
  excludeFiles?: string[]; // files with one glob per line
  oneFileSystem?: boolean;
  /** Leave out regular files larger than this many bytes. */
  excludeLargerThan?: number;
  /** "NAME" or "NAME:HEADER": a directory holding such a file keeps only that file. */
  excludeIfPresent?: string[];
  /** Directories tagged with a valid CACHEDIR.TAG keep only the tag file. */
  excludeCaches?: boolean;
  /** Record access times in the snapshot (not by default; restore then sets them to the mtime). */
  atime?: boolean;
  /** Explicit parent snapshot (id or prefix); default chosen by mode. */
  parent?: string;
  dryRun?: boolean;
  onProgress?: (p: Progress) => void;
  /** Walk the sources once more, concurrently, so progress can carry totals (percent, ETA). */
  estimateTotals?: boolean;
  onWarning?: (w: SourceWarning) => void;
  signal?: AbortSignal;
  /** Mirror repositories (created with `init --mirror-of`) that receive every pack and the snapshot too. */
  mirrors?: string[];
  /**
   * A walk of these same paths started before the repository was opened (new
   * WalkAhead(options)): the key unlock leaves the main thread idle for ~0.5 s. Used
   * only if it selects the same files; the caller closes it after the backup.
   */
  walkAhead?: WalkAhead;
}

/** How one mirror fared in a backup. A failed mirror makes the backup exit MIRROR_FAILED. */
export interface MirrorReport {
  location: string;
  ok: boolean;
  /** Packs the mirror lacked and got copied byte-for-byte from the primary (catch-up after an earlier failure). */
  packsCopied: number;
  bytesCopied: number;
  error?: { code: string; message: string };
}

export interface SourceWarning {
  path: string;
  code: 'UNREADABLE' | 'CHANGED' | 'VANISHED' | 'SKIPPED';
  message: string;
}

export interface BackupResult {
  snapshot: SnapshotInfo;
  warnings: SourceWarning[];
  /** True when some source data could not be read (exit 3). */
  partial: boolean;
  /** One entry per mirror asked for. */
  mirrors?: MirrorReport[];
}

export interface Progress {
  phase: string;
  files: number;
  totalFiles?: number;
  bytes: number;
  totalBytes?: number;
  currentPath?: string;
}

export interface SnapshotFilter {
  host?: string[];
  tags?: string[]; // each entry "a,b" means a AND b; entries are ORed
  paths?: string[];
  source?: string;
}

/** A node as listed by ls/find: path is the full path inside the snapshot. */
export interface ListedNode {
  path: string;
  name: string;
  type: string;
  mode: number;
  uid: number;
  gid: number;
  user?: string;
  group?: string;
  size: number;
  mtime: string; // ISO
  linkTarget?: string;
}

export interface DiffEntry {
  path: string;
  change: 'added' | 'removed' | 'modified' | 'metadata' | 'type';
}

export interface DiffResult {
  entries: DiffEntry[];
  stats: { added: number; removed: number; modified: number; metadata: number };
}

export interface RestoreOptions {
  /** id, unique prefix, or "latest"; ignored when `at` is given. */
  snapshot: string;
  at?: string; // newest snapshot at or before this time
  target: string;
  include?: string[]; // paths inside the snapshot
  /** Exclude patterns, as for backup, matched against paths inside the snapshot. */
  exclude?: string[];
  verify?: boolean;
  filter?: SnapshotFilter;
  onProgress?: (p: Progress) => void;
  /** Sum the selected files' sizes first, so progress can carry totals (percent, ETA). */
  estimateTotals?: boolean;
  signal?: AbortSignal;
}

export interface RestoreResult {
  snapshot: SnapshotInfo;
  files: number;
  dirs: number;
  bytes: number;
  verified?: { files: number; bytes: number; mismatches: string[] };
  warnings: string[];
}

export interface CheckOptions {
  readData?: boolean;
  /** "10%" or "1/5" style; only with readData. */
  readDataSubset?: string;
  onProgress?: (p: Progress) => void;
}

export interface CheckProblem {
  /** 'wal': a WAL catalog record that does not open, or names a blob in no pack (id = the record). */
  kind: 'pack' | 'blob' | 'tree' | 'snapshot' | 'index' | 'wal';
  id: string;
  message: string;
}

export interface CheckResult {
  ok: boolean;
  packsChecked: number;
  bytesRead: number;
  problems: CheckProblem[];
  damagedPacks: string[];
  /** For each damaged pack, the snapshots and files whose data is in it. */
  affected: { snapshot: string; paths: string[] }[];
  /** WAL segments (the version restores use) with data in a damaged or missing pack, per source. */
  affectedWal?: { source: string; segments: string[] }[];
  /**
   * Packs in the repository that no index file names: left by an interrupted backup or
   * repair, or being stored by a backup running now. Not damage (nothing references
   * them yet); the next backup or prune indexes them. Not checked by --read-data.
   */
  unindexedPacks: string[];
}

export interface StatsResult {
  snapshots: number;
  packs: number;
  blobs: number;
  storedBytes: number;
  rawBytes: number; // uncompressed blob bytes stored
  restoreSize?: number; // for a single snapshot
  compressionRatio: number;
}

/** full: everything; append-only: may add snapshots and data, never forget, prune, or change keys. */
export type KeyRole = 'full' | 'append-only';

export interface KeyInfo {
  id: KeyId;
  role: KeyRole;
  current: boolean;
  created: string;
  host: string;
  user: string;
  label?: string;
}

export interface LsOptions {
  path?: string; // directory or file inside the snapshot; default "/"
  recursive?: boolean;
}

export interface FindOptions {
  /** Globs matched against the base name, or the full path when they contain "/". */
  patterns: string[];
  filter?: SnapshotFilter;
  snapshots?: string[]; // ids/prefixes; default all
}

export interface FindMatch {
  snapshot: SnapshotInfo;
  node: ListedNode;
}

export type CatKind = 'config' | 'snapshot' | 'tree' | 'index' | 'key' | 'file' | 'masterkey-ids';

/** An opened, unlocked repository. Obtain with Engine.open(); close() when done. */
export interface RepositorySession {
  readonly id: string;
  readonly location: string;
  snapshots(filter?: SnapshotFilter): Promise<SnapshotInfo[]>;
  /** "latest", a full id, or a unique prefix; SNAPSHOT_NOT_FOUND / SNAPSHOT_AMBIGUOUS. */
  findSnapshot(ref: string, filter?: SnapshotFilter): Promise<SnapshotInfo>;
  /** Newest snapshot at or before `time` (any Date.parse-able string). */
  snapshotAt(time: string, filter?: SnapshotFilter): Promise<SnapshotInfo>;
  backup(opts: BackupOptions): Promise<BackupResult>;
  ls(snapshotRef: string, opts?: LsOptions): AsyncIterable<ListedNode>;
  find(opts: FindOptions): AsyncIterable<FindMatch>;
  diff(refA: string, refB: string): Promise<DiffResult>;
  restore(opts: RestoreOptions): Promise<RestoreResult>;
  /** Raw objects for debugging: JSON for structured kinds, bytes for `file` (path in snapshot: "SNAP:/path"). */
  cat(kind: CatKind, ref: string): Promise<unknown>;
  check(opts?: CheckOptions): Promise<CheckResult>;
  forget(opts: ForgetOptions): Promise<ForgetResult>;
  prune(opts?: PruneOptions): Promise<PruneResult>;
  stats(snapshotRef?: string): Promise<StatsResult>;
  listKeys(): Promise<KeyInfo[]>;
  /** The role of the key slot this session was opened with. */
  readonly role: KeyRole;
  addKey(newPassword: string, opts?: { label?: string; host?: string; user?: string; role?: KeyRole }): Promise<KeyInfo>;
  removeKey(id: string): Promise<void>;
  /** Replaces the key slot that opened this session with one for newPassword. */
  changePassword(newPassword: string): Promise<KeyInfo>;
  repairIndex(opts?: { onProgress?: (p: Progress) => void }): Promise<RepairResult>;
  /**
   * Takes damaged packs out, storing again each of their blobs that still opens (see
   * maintenance/repair-packs.ts). Full ids or unique prefixes (8+ hex digits);
   * PACK_NOT_FOUND for one not in data/.
   */
  repairPacks(ids: readonly string[], opts?: { dryRun?: boolean; onProgress?: (p: Progress) => void }): Promise<RepairPacksResult>;
  /**
   * Writes new snapshots without the files and directories whose data the index no
   * longer has (see maintenance/repair-snapshots.ts); `ids` as for forget (none: all).
   * With `forget`, each original is removed once its repaired snapshot is stored.
   */
  repairSnapshots(ids: readonly string[], opts?: { forget?: boolean; dryRun?: boolean; onProgress?: (p: Progress) => void }): Promise<RepairSnapshotsResult>;
  /**
   * Adds, removes or sets tags of the snapshots named (ids, prefixes, "latest"), or of
   * every snapshot the filter matches when none is named. Each changed snapshot is
   * stored again with its new tags and the old file removed (its id changes). Needs a
   * full key except with dryRun.
   */
  tag(ids: readonly string[], change: TagChange, opts?: { filter?: SnapshotFilter; dryRun?: boolean }): Promise<TagSnapshotsResult>;
  /**
   * Stores the snapshots named (or every one the filter matches) again without the
   * entries the exclude patterns match; with forget, removes each original. Needs a
   * full key for forget except with dryRun.
   */
  rewrite(
    ids: readonly string[],
    opts: { excludes: string[]; filter?: SnapshotFilter; forget?: boolean; dryRun?: boolean; onProgress?: (p: Progress) => void },
  ): Promise<RewriteSnapshotsResult>;
  /** Deletes stale lock files; with `all`, every lock file (only when no cairn runs). */
  unlock(opts?: { all?: boolean }): Promise<UnlockResult>;
  /** A PostgreSQL base backup (pg_basebackup) as a snapshot of source type `postgres`. */
  backupPostgres(opts: PgBackupOptions): Promise<PgBackupResult>;
  /** Continuous WAL capture until opts.signal aborts; flushes on the way out. */
  streamPostgres(opts: PgStreamOptions): Promise<PgStreamResult>;
  /** Stores one WAL segment (for archive_command). */
  walPush(opts: WalPushOptions): Promise<WalPushResult>;
  /** Restorable windows and gaps of a postgres source; `server` adds slot lag. */
  pitr(name: string, opts?: { server?: string; maxSlotLagBytes?: number }): Promise<PitrReport>;
  /** Builds a data directory recovering to a time (and optionally starts it). */
  restorePostgres(opts: PgRestoreOptions): Promise<PgRestoreResult>;
  /** Objects of an S3 bucket (prefix) as a snapshot of source type `s3`, streamed, incremental by ETag/size/LastModified. */
  backupS3(opts: S3BackupOptions): Promise<S3BackupResult>;
  /** Writes a snapshot's files back as objects, with their recorded metadata, into a bucket. */
  restoreS3(opts: S3RestoreOptions): Promise<S3RestoreResult>;
  /** A MariaDB/MySQL logical dump (binlog coordinates) as a snapshot of source type `mariadb`. */
  backupMariadb(opts: MyBackupOptions): Promise<MyBackupResult>;
  /** Continuous binlog capture until opts.signal aborts. */
  streamMariadb(opts: MyStreamOptions): Promise<MyStreamResult>;
  /** Windows and gaps of a mariadb source; null when the repository has no such source. */
  pitrMariadb(name: string): Promise<MyPitrReport | null>;
  /** Loads a dump plus the binlog up to a time into a target server. */
  restoreMariadb(opts: MyRestoreOptions): Promise<MyRestoreResult>;
  /** Redis (docs/sources/redis.md): an RDB over the replication protocol as a snapshot of source type `redis`. */
  backupRedis(opts: RedisBackupOptions): Promise<RedisBackupResult>;
  /** Acts as a replica until opts.signal aborts: full resyncs become bases, the command stream log records. */
  streamRedis(opts: RedisStreamOptions): Promise<RedisStreamResult>;
  /** Restorable windows and gaps of a redis source; `server` adds replica lag. */
  pitrRedis(name: string, opts?: { server?: string }): Promise<RedisPitrReport>;
  /** dump.rdb for a time (--target), or the keys written into a running server (--to). */
  restoreRedis(opts: RedisRestoreOptions): Promise<RedisRestoreResult>;
  /** The source type of the snapshots or log records named `name` (null: none). */
  sourceType(name: string): Promise<string | null>;
  /** A consistent copy of a SQLite database as a snapshot of source type `sqlite`. */
  backupSqlite(opts: SqliteBackupOptions): Promise<SqliteBackupResult>;
  /** Continuous capture of committed WAL frames until opts.signal aborts. */
  streamSqlite(opts: SqliteStreamOptions): Promise<SqliteStreamResult>;
  /** Windows and gaps of a sqlite source; null when no sqlite source has that name. */
  pitrSqlite(name: string): Promise<SqlitePitrReport | null>;
  /** Writes the database as of a time to a new file. */
  restoreSqlite(opts: SqliteRestoreOptions): Promise<SqliteRestoreResult>;
  close(): Promise<void>;
}

export interface CopyOptions {
  from: RepoOptions;
  to: RepoOptions;
  /** Snapshot ids/prefixes/"latest" in the source; default all (after filter). */
  snapshots?: string[];
  filter?: SnapshotFilter;
  /**
   * Copy the WAL records of database sources too (default true): of every source when no
   * snapshot and no filter is given, else of the postgres sources of the selected snapshots
   * (or of `filter.source`).
   */
  wal?: boolean;
  dryRun?: boolean;
  onProgress?: (p: Progress) => void;
  signal?: AbortSignal;
}

/** The WAL part of a copy. */
export interface WalCopyReport {
  /** Source names whose WAL records were considered. */
  sources: string[];
  /** Records written to the destination (for 'packs' the same files; for 'blobs' re-encrypted copies). */
  recordsCopied: number;
  /** Records the destination already held (same id, or a copy with that `original`). */
  recordsSkipped: number;
  /** Records not copied because every segment they name has a better version (a complete one) elsewhere. */
  recordsSuperseded: number;
  /** Segment versions named by the records copied. */
  segmentsCopied: number;
}

export interface CopyResult {
  /**
   * packs: the repositories share their master key (a mirror), so missing packs are
   * copied byte-for-byte; blobs: different keys, so missing blobs are re-encrypted.
   */
  method: 'packs' | 'blobs';
  copied: { source: SnapshotInfo; copy: SnapshotInfo }[];
  /** Source snapshots the destination already holds (same original id). */
  skipped: SnapshotInfo[];
  blobsCopied: number;
  packsCopied: number;
  /** Bytes written to the destination. */
  bytesCopied: number;
  dryRun: boolean;
  /** Present unless WAL copying was off: blobs, packs and bytes above include the WAL's. */
  wal?: WalCopyReport;
}

export interface Engine {
  init(opts: InitOptions): Promise<InitResult>;
  open(opts: RepoOptions): Promise<RepositorySession>;
  /** Copies snapshots between two repositories, moving only what the destination lacks. */
  copy(opts: CopyOptions): Promise<CopyResult>;
}

export type { MyBackupOptions, MyBackupResult, MyStreamOptions, MyStreamResult, MyPitrReport, MyRestoreOptions, MyRestoreResult } from '../sources/mariadb/mariadb-types.js';
import type { MyBackupOptions, MyBackupResult, MyStreamOptions, MyStreamResult, MyPitrReport, MyRestoreOptions, MyRestoreResult } from '../sources/mariadb/mariadb-types.js';
