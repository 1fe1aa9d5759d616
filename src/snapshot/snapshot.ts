import type { BlobId, SnapshotId } from '../core/ids.js';
import type { BackupMode, SnapshotInfo, SnapshotSummary } from '../engine/types.js';
import { CairnError } from '../core/errors/index.js';

/** The body of a snapshot file (docs/repository-format.md, Snapshots). */
export interface SnapshotBody {
  version: 1;
  time: string;
  host: string;
  user: string;
  uid: number;
  gid: number;
  source: { type: string; name: string };
  paths: string[];
  tags: string[];
  mode: BackupMode;
  parent: SnapshotId | null;
  tree: BlobId;
  program: string;
  summary?: SnapshotSummary;
  /** Set by `cairn copy` (blobs method): the id of the snapshot this one copies, so a repeated copy skips it. */
  original?: SnapshotId;
  /**
   * Facts a non-files source records for its restore (docs/repository-format.md,
   * "Source metadata"), e.g. a PostgreSQL base backup's system identifier, timeline and
   * WAL range. Plain JSON; readers ignore keys they do not know.
   */
  sourceMeta?: Record<string, unknown>;
}

export function parseSnapshotBody(body: unknown, id: string): SnapshotBody {
  const b = body as Partial<SnapshotBody> | null;
  if (!b || typeof b !== 'object' || typeof b.time !== 'string' || typeof b.tree !== 'string') {
    throw new CairnError('REPO_CORRUPT', `snapshot ${id.slice(0, 8)} is malformed`);
  }
  if (b.version !== 1) {
    throw new CairnError('REPO_VERSION', `snapshot ${id.slice(0, 8)} has unknown version ${String(b.version)}`);
  }
  return b as SnapshotBody;
}

export function snapshotInfo(id: SnapshotId, b: SnapshotBody): SnapshotInfo {
  return {
    id,
    shortId: id.slice(0, 8),
    time: b.time,
    host: b.host,
    user: b.user,
    source: b.source,
    paths: b.paths,
    tags: b.tags,
    mode: b.mode,
    parent: b.parent,
    tree: b.tree,
    ...(b.summary ? { summary: b.summary } : {}),
    ...(b.original ? { original: b.original } : {}),
    ...(b.sourceMeta ? { sourceMeta: b.sourceMeta } : {}),
  };
}
