import type { SnapshotId, KeyId, BlobId } from '../core/ids.js';
import type { WalkAhead } from '../archiver/walk-ahead.js';
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
}

export interface ForgetPolicy {
  keepLast?: number;
  keepHourly?: number;
  keepDaily?: number;
  keepWeekly?: number;
  keepMonthly?: number;
  keepYearly?: number;
  keepWithin?: string; // duration like "30d", "1y2m", "12h"
  keepTags?: string[];
}

export interface ForgetGroup {
  key: { host: string; paths: string[] };
  keep: { snapshot: SnapshotInfo; reasons: string[] }[];
  remove: SnapshotInfo[];
}

export interface ForgetResult {
  groups: ForgetGroup[];
  removed: string[];
  dryRun: boolean;
  prune?: PruneResult;
  /** PostgreSQL sources: WAL catalog records removed (or, dry run, that would be), per source name. */
  wal?: { source: string; removed: string[]; kept: number; keepFrom: string | null }[];
}

export interface PruneResult {
  marked: { packs: number; bytes: number };
  swept: { packs: number; bytes: number };
  repacked: { packs: number; blobs: number };
  deferred: number; // marks not yet old enough or blocked by live writers
  dryRun: boolean;
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

export interface ForgetOptions {
  policy?: ForgetPolicy;
  /** Explicit snapshot ids/prefixes to forget (instead of, or besides, a policy). */
  ids?: string[];
  filter?: SnapshotFilter;
  groupBy?: { host: boolean; paths: boolean; tags: boolean };
  dryRun?: boolean;
  prune?: boolean;
}

export interface PruneOptions {
  dryRun?: boolean;
  /** Minimum age of a gc mark before its packs are deleted. Default 1 h. */
  gcDelayMs?: number;
  /** Repack packs whose unused share exceeds this fraction (0..1). Default 0.3. */
  maxUnused?: number;
  onProgress?: (p: Progress) => void;
}

export interface UnlockResult {
  /** Lock files deleted. */
  removed: number;
  /** Live locks left in place (without `all`), for the operator to see who holds them. */
  live: { id: string; kind: string; host: string; pid: number; created: string }[];
}

export interface RepairResult {
  packsRead: number;
  blobs: number;
  indexFilesWritten: number;
  indexFilesRemoved: number;
  damagedPacks: string[];
}

// ---- PostgreSQL source (docs/sources/postgres.md) ------------------------------------

export interface PgBackupOptions {
  /** postgres://user[:password]@host[:port]/ */
  url: string;
  /** Stable name grouping this server's snapshots and WAL; default its system identifier. */
  name?: string;
  mode?: BackupMode;
  tags?: string[];
  host?: string;
  /** Also take a pg_dump (custom format) of every database, as a second snapshot. */
  logical?: boolean;
  onProgress?: (p: Progress) => void;
  onWarning?: (w: SourceWarning) => void;
  signal?: AbortSignal;
}

export interface PgBackupResult extends BackupResult {
  name: string;
  /** The snapshot of the logical dumps, with --logical. */
  logical?: SnapshotInfo;
}

export interface PgStreamOptions {
  url: string;
  name?: string;
  /** Replication slot; default cairn_<name>, made safe. Created if missing. */
  slot?: string;
  /** How often new WAL (the growing partial segment too) is stored; default 10 s. */
  flushIntervalMs?: number;
  /** Spool directory; default <cache>/postgres/<name>/spool. */
  spoolDir?: string;
  signal: AbortSignal;
  onFlush?: (f: { segments: string[]; partial: string | null; recordId: string | null }) => void;
  onWarning?: (message: string) => void;
  /** Called once streaming runs (slot ready, receiver started). */
  onStarted?: (info: { name: string; slot: string; spoolDir: string; systemId: string }) => void;
}

export interface PgStreamResult {
  name: string;
  slot: string;
  flushes: number;
  records: number;
  segmentsStored: number;
  restarts: number;
}

export interface WalPushOptions {
  /** The segment file (archive_command's %p). */
  file: string;
  /** Source name; default the system identifier read from the segment. */
  name?: string;
}

export interface WalPushResult {
  name: string;
  segment: string;
  /** False when the same bytes were stored before (archive_command retried). */
  stored: boolean;
  recordId: string | null;
}

export interface PitrWindowInfo {
  /** Timeline of the base backups and WAL behind this window (windows never span two). */
  timeline: number;
  from: string;
  to: string;
}

export interface PitrReport {
  name: string;
  systemId: string | null;
  ok: boolean;
  /** Restorable windows, overlapping ones merged. */
  windows: PitrWindowInfo[];
  bases: { snapshot: string; timeline: number; time: string; from: string; to: string; lastSegment: string | null }[];
  gaps: { timeline: number; from: string; to: string; reason: 'missing' | 'partial'; after: string }[];
  /** A gap in the chain of the newest base backup (exit WAL_GAP). */
  gapAfterNewestBase: boolean;
  segments: number;
  /** With a server URL: its replication slots and how much WAL each holds back. */
  slots?: { name: string; active: boolean; retainedBytes: number; tooMuch: boolean; walStatus: string | null }[];
  /** The --max-slot-lag the slots were judged by (with a server URL). */
  maxSlotLagBytes?: number;
}

export interface PgRestoreOptions {
  /** Source name (as in `cairn pitr`). */
  source: string;
  /** 'latest' or a UTC ISO 8601 time with microseconds (the CLI normalises the input). */
  at: string;
  target: string;
  /** Start the restored server on this port and wait until it is promoted. */
  start?: { port: number };
  onProgress?: (p: Progress) => void;
  signal?: AbortSignal;
}

export interface PgRestoreResult {
  snapshot: SnapshotInfo;
  target: string;
  /** null: recovered to the end of the stored WAL. */
  targetTime: string | null;
  window: PitrWindowInfo;
  segments: number;
  files: number;
  bytes: number;
  started?: { port: number };
}

// ---- S3 bucket source (docs/sources/s3.md) -------------------------------------------

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

// ---- SQLite source (docs/sources/sqlite.md) -------------------------------------------

export interface SqliteBackupOptions {
  /** Absolute path of the database file. */
  path: string;
  /** Source name (default: the file's base name). */
  name?: string;
  tags?: string[];
  host?: string;
  /** How long to wait for the database's write lock (default 30 s; SOURCE_LOCKED after). */
  lockTimeoutMs?: number;
  onProgress?: (p: Progress) => void;
  signal?: AbortSignal;
}

export interface SqliteBackupResult extends BackupResult {
  name: string;
  journalMode: string;
}

export interface SqliteStreamOptions {
  path: string;
  name?: string;
  /** Store captured frames at least this often (default 10 s). */
  flushIntervalMs?: number;
  /** How often to look at the WAL (default 100 ms). */
  pollIntervalMs?: number;
  /** Checkpoint (PASSIVE) and start a new WAL generation this often (default 60 s)… */
  checkpointIntervalMs?: number;
  /** …or when the WAL holds more than this many bytes (default 16 MiB). */
  checkpointBytes?: number;
  lockTimeoutMs?: number;
  signal: AbortSignal;
  onStarted?: (i: { name: string; resumed: boolean; base: string | null }) => void;
  onFlush?: (f: { frames: number; commits: number; recordId: string | null }) => void;
  onWarning?: (message: string) => void;
}

export interface SqliteStreamResult {
  name: string;
  flushes: number;
  records: number;
  frames: number;
  commits: number;
  /** Base snapshots this run took (at start, or after lost frames). */
  bases: string[];
  /** Times frame loss was detected (each started a new base). */
  lostFrames: number;
  /**
   * Longest time between two reads of the WAL, in ms: commit times are read times, so
   * each is late by at most this (the poll interval plus any stall of the process).
   */
  maxReadGapMs: number;
}

export interface SqlitePitrReport {
  name: string;
  /** False when the source was never captured continuously (journal_mode other than wal). */
  continuous: boolean;
  ok: boolean;
  windows: { from: string; to: string }[];
  bases: { snapshot: string; time: string; from: string; to: string; frames: number; journalMode: string }[];
  gaps: { from: string; to: string }[];
  gapAfterNewestBase: boolean;
  records: number;
  commits: number;
}

export interface SqliteRestoreOptions {
  source: string;
  /** 'latest' or UTC ISO 8601 with microseconds. */
  at: string;
  /** The database file to write (must not exist). */
  target: string;
  signal?: AbortSignal;
}

export interface SqliteRestoreResult {
  snapshot: SnapshotInfo;
  target: string;
  targetTime: string | null;
  /** Commit time of the last transaction applied (the base's time if none). */
  restoredTo: string;
  window: { from: string; to: string };
  commits: number;
  bytes: number;
  integrity: string;
}

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
