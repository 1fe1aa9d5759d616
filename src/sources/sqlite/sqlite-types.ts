import type { BackupResult, Progress, SnapshotInfo } from '../../engine/types.js';

/* The engine facade's types for the SQLite source (docs/sources/sqlite.md); engine/types.ts re-exports them. */

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
