import type { Progress, SnapshotFilter, SnapshotInfo } from './types.js';

/**
 * The engine facade's types for repository maintenance: forget, prune, repair and
 * unlock (re-exported by types.ts, where the session interface uses them).
 */

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

/** One pack named to `repair packs`. */
export interface PackRepairResult {
  id: string;
  /** intact: read whole again and sound, left alone; damaged: taken out (unless a dry run). */
  status: 'intact' | 'damaged';
  /** Blobs the index (or, for a pack it does not know, the pack's own trailer) lists. */
  blobs: number;
  /** Blobs that still open and hash to their id, stored again in new packs. */
  salvaged: number;
  /** Blobs that do not: their data is gone from the repository. */
  lost: { type: 'data' | 'tree'; id: string }[];
  /** The pack's SHA-256 is not its name. */
  hashMismatch?: boolean;
  /** Why its header or trailer does not parse. */
  structure?: string;
  /** Whether the index named the pack. */
  indexed: boolean;
}

export interface RepairPacksResult {
  dryRun: boolean;
  packs: PackRepairResult[];
  blobsSalvaged: number;
  blobsLost: number;
  packsRemoved: number;
}

/** What `repair snapshots` did (or would do) to one snapshot. */
export interface SnapshotRepair {
  snapshot: string;
  /** Paths of files left out: their content names a blob in no pack. */
  removedFiles: string[];
  /** Paths of directories whose listing could not be read, now empty. */
  emptiedDirs: string[];
  /** The new snapshot's id; null on a dry run (and for one that cannot be repaired). */
  repairedAs: string | null;
  /** True when the original was removed (--forget). */
  forgotten?: boolean;
  /** Set when the snapshot cannot be repaired (its root listing is unreadable). */
  error?: string;
}

/** What `repair snapshots` did (or would do) to one WAL catalog record of a database source. */
export interface WalRecordRepair {
  record: string;
  /** "postgres db1", "mariadb shop-db", ... */
  source: string;
  /** Log entries (WAL segments, binlog files, frame batches) left out: their data names a blob in no pack. */
  droppedEntries: string[];
  /** The new record holding the rest; null on a dry run or when nothing of it is left. */
  repairedAs: string | null;
  /** True when the original was removed (--forget). */
  forgotten?: boolean;
}

export interface RepairSnapshotsResult {
  dryRun: boolean;
  /** Snapshots examined. */
  checked: number;
  /** Those that named missing data, each with what its repaired snapshot leaves out. */
  repaired: SnapshotRepair[];
  unrepairable: SnapshotRepair[];
  /** WAL catalog records examined (all of them when no snapshot was named, else none). */
  walChecked: number;
  /** Those that named missing data, each with the entries its repaired record leaves out. */
  walRepaired: WalRecordRepair[];
}

/** What `rewrite` did (or would do) to one snapshot. */
export interface SnapshotRewrite {
  snapshot: string;
  /** Paths inside the snapshot of the entries left out (a directory stands for all below it). */
  removed: string[];
  /** The new snapshot's id; null on a dry run. */
  rewrittenAs: string | null;
  /** True when the original was removed (--forget). */
  forgotten?: boolean;
}

export interface RewriteSnapshotsResult {
  dryRun: boolean;
  /** Snapshots examined. */
  checked: number;
  /** Those the patterns changed. */
  rewritten: SnapshotRewrite[];
}

/** What `tag` changes: --add and --remove together, or --set alone ([] removes every tag). */
export interface TagChange {
  add?: string[];
  remove?: string[];
  set?: string[];
}

/** One snapshot whose tags `tag` changed (or would change). */
export interface SnapshotTagging {
  snapshot: string;
  tags: string[];
  newTags: string[];
  /** The id of the snapshot stored with the new tags (the old one is removed); null on a dry run. */
  taggedAs: string | null;
}

export interface TagSnapshotsResult {
  dryRun: boolean;
  changed: SnapshotTagging[];
  /** Chosen snapshots whose tags were already as asked. */
  unchanged: number;
}

export interface RepairResult {
  packsRead: number;
  blobs: number;
  indexFilesWritten: number;
  indexFilesRemoved: number;
  damagedPacks: string[];
}
