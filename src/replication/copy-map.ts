import type { BlobId, BlobType } from '../core/ids.js';
import type { Repository } from '../repository/repository.js';

/**
 * (source repository id, blob type, source blob id) → destination blob id, kept in the
 * destination's local index cache (SQLite, on disk, never all in RAM). It lets a repeated
 * `copy` between repositories with different keys skip unchanged subtrees and known
 * chunks without reading them from the source.
 *
 * It is a cache of facts that never go stale (a blob's id under the destination's key is
 * a pure function of its bytes), but the destination blob itself may be gone (prune):
 * callers must confirm every mapped id in the destination's index before trusting it.
 * Losing the table (cache rebuilt) only makes the next copy read more.
 */
export class CopyMap {
  private readonly getStmt;
  private readonly setStmt;

  constructor(
    dst: Repository,
    private readonly srcRepoId: string,
  ) {
    const db = dst.index.database;
    db.exec(`CREATE TABLE IF NOT EXISTS copy_map (
      src_repo TEXT NOT NULL, type INTEGER NOT NULL, src_id TEXT NOT NULL, dst_id TEXT NOT NULL,
      PRIMARY KEY (src_repo, type, src_id)) WITHOUT ROWID`);
    this.getStmt = db.prepare('SELECT dst_id FROM copy_map WHERE src_repo = ? AND type = ? AND src_id = ?');
    this.setStmt = db.prepare('INSERT OR REPLACE INTO copy_map (src_repo, type, src_id, dst_id) VALUES (?, ?, ?, ?)');
  }

  get(type: BlobType, srcId: BlobId): BlobId | undefined {
    const row = this.getStmt.get(this.srcRepoId, type === 'data' ? 0 : 1, srcId) as { dst_id: string } | undefined;
    return row?.dst_id as BlobId | undefined;
  }

  set(type: BlobType, srcId: BlobId, dstId: BlobId): void {
    this.setStmt.run(this.srcRepoId, type === 'data' ? 0 : 1, srcId, dstId);
  }
}
