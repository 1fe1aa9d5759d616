import type { BackupMode, BackupResult, Progress, SnapshotInfo, SourceWarning } from '../../engine/types.js';

export interface MyBackupOptions {
  url: string;
  name?: string;
  mode?: BackupMode;
  tags?: string[];
  host?: string;
  onProgress?: (p: Progress) => void;
  onWarning?: (w: SourceWarning) => void;
  signal?: AbortSignal;
}

export interface MyBackupResult extends BackupResult {
  name: string;
}

export interface MyStreamOptions {
  url: string;
  name?: string;
  flushIntervalMs?: number;
  spoolDir?: string;
  signal: AbortSignal;
  onStarted?: (i: { name: string; file: string; spoolDir: string }) => void;
  onFlush?: (files: string[]) => void;
  onWarning?: (m: string) => void;
}

export interface MyStreamResult {
  name: string;
  flushes: number;
  records: number;
  filesStored: number;
  restarts: number;
}

export interface MyPitrReport {
  type: 'mariadb';
  name: string;
  serverId: string | null;
  windows: { from: string; to: string }[];
  /** Per base: its kind, its binlog coordinates and GTID position, its window, and the end of its chain (FILE:SIZE as stored). */
  bases: { snapshot: string; time: string; kind: 'logical' | 'physical'; binlogFile: string; binlogPos: number; gtid: string | null; from: string; to: string; end: string | null }[];
  gaps: { from: string; to: string; reason: 'missing' | 'partial'; after: string }[];
  gapAfterNewestBase: boolean;
  files: number;
}

export interface MyRestoreOptions {
  source: string;
  /** 'latest' or UTC ISO time; or */
  at?: string;
  /** `FILE:POS`: replay up to this binlog position (exclusive; it must be a transaction boundary); or */
  atPosition?: string;
  /** `D-S-N`: replay up to and including the transaction with this GTID. */
  atGtid?: string;
  /** mariadb:// URL of the server to load into; or */
  to?: string;
  /** a new data directory to build (mariadb-install-db, then loaded through a private mariadbd). */
  target?: string;
  /** Only these databases (from the dump, and their binlog events). */
  includeDb?: string[];
  /** Only these tables (DATABASE.TABLE) from the dump, and their row events. */
  includeTable?: string[];
  onProgress?: (p: Progress) => void;
  signal?: AbortSignal;
}

export interface MyRestoreResult {
  snapshot: SnapshotInfo;
  /** The server loaded into (display URL), or the data directory built. */
  to: string;
  target?: string;
  targetTime: string | null;
  window: { from: string; to: string };
  binlogFiles: number;
  /** Where the replay stopped: file and position (exclusive). */
  stop: { file: string; position: number } | null;
  /** The --at-position / --at-gtid asked for (null for --at). */
  targetPosition: { file: string; position: number } | null;
  targetGtid: string | null;
  /** The GTID of the last transaction replayed; the base's GTID position when none was. */
  gtid: string | null;
  /** The base restored: a logical dump loaded, or a physical copy of the data directory. */
  kind: 'logical' | 'physical';
  databases: string[];
}
