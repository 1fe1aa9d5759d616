import type { BackupMode, BackupResult, Progress, SnapshotInfo, SourceWarning } from '../../engine/types.js';

/* The engine facade's types for the PostgreSQL source (docs/sources/postgres.md); engine/types.ts re-exports them. */

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
