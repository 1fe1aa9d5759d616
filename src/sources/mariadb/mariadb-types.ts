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
  bases: { snapshot: string; time: string; binlogFile: string; binlogPos: number; from: string; to: string }[];
  gaps: { from: string; to: string; reason: 'missing' | 'partial'; after: string }[];
  gapAfterNewestBase: boolean;
  files: number;
}

export interface MyRestoreOptions {
  source: string;
  /** 'latest' or UTC ISO time. */
  at: string;
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
  databases: string[];
}
