import pLimit from 'p-limit';
import { isNotFound } from '../backend/types.js';
import { CairnError } from '../core/errors/index.js';
import type { Progress, RepairResult } from '../engine/types.js';
import { encodeIndexFile, type IndexedPack } from '../repository/index-file.js';
import { listPacks, readPackEntries } from '../repository/index-sync.js';
import { RepoLock } from '../repository/lock.js';
import type { Repository } from '../repository/repository.js';

const PACKS_PER_INDEX_FILE = 1000;

/**
 * `repair index`: rebuilds every index file from the packs alone (header + trailer
 * of each), then removes the old index files. New files are written before old ones
 * are removed, so a crash leaves duplicates, never a gap.
 */
export async function repairIndex(repo: Repository, opts: { onProgress?: (p: Progress) => void } = {}): Promise<RepairResult> {
  const lock = await RepoLock.acquire(repo, 'maintenance');
  try {
    const listed = [...(await listPacks(repo))];
    const packs: IndexedPack[] = [];
    const damaged: string[] = [];
    const limit = pLimit(8);
    let done = 0;
    await Promise.all(
      listed.map(([id, size]) =>
        limit(async () => {
          try {
            packs.push(await readPackEntries(repo, id, size));
          } catch (err) {
            if (isNotFound(err)) return;
            if (err instanceof CairnError && err.code === 'PACK_CORRUPT') damaged.push(id);
            else throw err;
          }
          opts.onProgress?.({ phase: 'repair', files: ++done, totalFiles: listed.length, bytes: 0 });
        }),
      ),
    );
    packs.sort((a, b) => a.pack.id.localeCompare(b.pack.id));
    const old = await repo.listIds('index');
    const written: string[] = [];
    for (let i = 0; i < packs.length; i += PACKS_PER_INDEX_FILE) {
      const slice = packs.slice(i, i + PACKS_PER_INDEX_FILE);
      written.push(await repo.saveSealed('index', encodeIndexFile(slice, i === 0 ? old : [])));
    }
    let removed = 0;
    for (const id of old) {
      if (written.includes(id)) continue;
      await repo.backend.remove(`index/${id}`);
      removed++;
    }
    // The cache starts over from the new index files. A pack it knew that is not among
    // them (gone, or unreadable) leaves it as any pack does, a loss unless condemned, so
    // that backing the files up again heals; the rest are forgotten and read back in.
    const rebuilt = new Set(packs.map((p) => p.pack.id));
    for (const id of repo.index.packIds()) if (!rebuilt.has(id)) repo.index.removePack(id);
    repo.index.clearPacks();
    repo.index.tx(() => {
      for (let i = 0; i < packs.length; i += PACKS_PER_INDEX_FILE) {
        const indexId = written[i / PACKS_PER_INDEX_FILE]!;
        for (const p of packs.slice(i, i + PACKS_PER_INDEX_FILE)) repo.index.addPack(p.pack, p.blobs, indexId);
        repo.index.addIndexFile(indexId);
      }
    });
    return {
      packsRead: packs.length,
      blobs: packs.reduce((n, p) => n + p.blobs.length, 0),
      indexFilesWritten: written.length,
      indexFilesRemoved: removed,
      damagedPacks: damaged,
    };
  } finally {
    await lock.release().catch(() => undefined);
  }
}
