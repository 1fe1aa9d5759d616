import type { BlobId } from '../core/ids.js';
import type { Repository } from '../repository/repository.js';
import { walkTree } from '../verify/tree-walk.js';

/**
 * Marks every blob reachable from the given snapshots in a temporary SQLite table
 * (`used`), so the set lives on disk, not in RAM, however large the repository.
 * `dataRoots` are data blobs referenced outside any tree: the segments of the WAL
 * catalog records (without them prune would delete every WAL segment).
 */
export async function computeReachable(repo: Repository, roots: BlobId[], dataRoots: Iterable<BlobId> = []): Promise<ReachableSet> {
  const db = repo.index.database;
  db.exec(`CREATE TEMP TABLE IF NOT EXISTS used (id TEXT NOT NULL, type INTEGER NOT NULL, PRIMARY KEY (id, type)) WITHOUT ROWID;
           DELETE FROM used;`);
  const insert = db.prepare('INSERT OR IGNORE INTO used (id, type) VALUES (?, ?)');
  const has = db.prepare('SELECT 1 FROM used WHERE id = ? AND type = ?');
  const addTree = (id: BlobId): boolean => insert.run(id, 1).changes === 1;
  for (const id of dataRoots) insert.run(id, 0);
  for (const root of roots) {
    if (!addTree(root)) continue;
    await walkTree(
      repo,
      root,
      ({ node }) => {
        if (node.type === 'file') for (const id of node.content ?? []) insert.run(id, 0);
      },
      { skipTree: (id) => !addTree(id) },
    );
  }
  return {
    has: (type, id) => has.get(id, type === 'data' ? 0 : 1) !== undefined,
  };
}

export interface ReachableSet {
  has(type: 'data' | 'tree', id: BlobId): boolean;
}

/** The data blobs of every segment named by WAL catalog records. */
export function walDataRoots(records: { body: { segments: { content: BlobId[] }[] } }[]): BlobId[] {
  return records.flatMap((r) => r.body.segments.flatMap((s) => s.content));
}
