import type { PackId } from '../core/ids.js';
import { encodeIndexFile } from './index-file.js';
import type { Repository } from './repository.js';

const PACKS_PER_INDEX_FILE = 1000;

/**
 * Replaces every index file with new ones naming each pack the cache holds except
 * `without`, then removes the old files. New files are written first (the first one
 * lists the old ones as superseded), so a crash leaves duplicates, never a gap. The
 * packs in `without` stay in the cache: the caller removes them, after their files.
 */
export async function rewriteIndexWithout(repo: Repository, without: ReadonlySet<PackId>): Promise<{ written: number; removed: number }> {
  const oldIndexFiles = [...repo.index.indexFiles()];
  const keep = repo.index.packIds().filter((p) => !without.has(p));
  const newIndexIds: string[] = [];
  for (let i = 0; i < keep.length; i += PACKS_PER_INDEX_FILE) {
    const slice = keep.slice(i, i + PACKS_PER_INDEX_FILE);
    const body = encodeIndexFile(
      slice.map((id) => ({ pack: repo.index.getPack(id)!, blobs: repo.index.blobsInPack(id) })),
      i === 0 ? oldIndexFiles : [],
    );
    const id = await repo.saveSealed('index', body);
    repo.index.markIndexed(slice, id);
    newIndexIds.push(id);
  }
  let removed = 0;
  for (const id of oldIndexFiles) {
    if (newIndexIds.includes(id)) continue;
    await repo.backend.remove(`index/${id}`);
    repo.index.dropIndexFile(id);
    removed++;
  }
  return { written: newIndexIds.length, removed };
}
