import { CairnError } from '../core/errors/index.js';
import type { PackId } from '../core/ids.js';
import type { PruneOptions, PruneResult } from '../engine/types.js';
import { BlobSaver } from '../repository/blob-saver.js';
import { condemnedBy, scanPacks, syncIndex, type GcMark } from '../repository/index-sync.js';
import { listLiveLocks, removeStaleLocks, RepoLock } from '../repository/lock.js';
import { packName, type Repository } from '../repository/repository.js';
import { rewriteIndexWithout } from '../repository/rewrite-index.js';
import { computeReachable, walDataRoots } from './reachable.js';

export const DEFAULT_GC_DELAY_MS = 60 * 60_000;
/** Temp files of interrupted saves are removed once this old: no save takes an hour. */
const TEMP_FILE_AGE_MS = 60 * 60_000;

/**
 * Two-phase garbage collection (docs/repository-format.md): mark unused packs (after
 * repacking the live blobs of mostly-unused ones), and sweep marks that are old
 * enough and that no live backup could still depend on. Backups never wait for
 * prune; prune never deletes what a backup that started before a mark may reference.
 */
export async function runPrune(repo: Repository, opts: PruneOptions = {}): Promise<PruneResult> {
  const gcDelay = opts.gcDelayMs ?? DEFAULT_GC_DELAY_MS;
  const maxUnused = opts.maxUnused ?? 0.3;
  const dryRun = !!opts.dryRun;
  const lock = dryRun ? null : await RepoLock.acquire(repo, 'maintenance');
  const result: PruneResult = { marked: { packs: 0, bytes: 0 }, swept: { packs: 0, bytes: 0 }, repacked: { packs: 0, blobs: 0 }, deferred: 0, dryRun };
  try {
    // The marks as syncIndex loaded them: no other prune runs meanwhile (the lock), and
    // scanning for unindexed packs does not touch them.
    const marks = await syncIndex(repo);
    if (!dryRun) await scanPacks(repo);
    const condemned = condemnedBy(marks);

    // ---- phase one: mark
    const { snaps, wal } = await snapshotsWithTheirIndex(repo);
    const used = await computeReachable(repo, snaps.map((s) => s.body.tree), walDataRoots(wal));
    const unused: PackId[] = [];
    const repack: PackId[] = [];
    for (const pack of repo.index.iteratePacks()) {
      if (condemned.has(pack.id)) continue;
      const blobs = repo.index.blobsInPack(pack.id);
      const live = blobs.filter((b) => used.has(b.type, b.id));
      if (live.length === 0) unused.push(pack.id);
      else {
        // The share of the blobs' bytes that is dead. Not of the pack's size: its header
        // and trailer are no waste, and a pack of a few small blobs then looked mostly
        // unused, was repacked into one just like it, and every prune marked it again.
        const liveBytes = live.reduce((n, b) => n + b.length, 0);
        const allBytes = blobs.reduce((n, b) => n + b.length, 0);
        if (1 - liveBytes / allBytes > maxUnused) repack.push(pack.id);
      }
    }
    const newlyMarked = [...unused, ...repack];
    result.marked = { packs: newlyMarked.length, bytes: newlyMarked.reduce((n, p) => n + (repo.index.getPack(p)?.size ?? 0), 0) };
    if (!dryRun && newlyMarked.length > 0) {
      if (repack.length > 0) {
        // Condemn first, so the saver does not "dedup" a live blob against the pack it is leaving.
        repo.index.setCondemned([...condemned, ...repack]);
        const saver = new BlobSaver(repo);
        for (const p of repack) {
          for (const b of repo.index.blobsInPack(p)) {
            if (!used.has(b.type, b.id) || saver.has(b.type, b.id)) continue;
            await saver.save(b.type, await repo.loadBlob(b.type, b.id), b.id);
            result.repacked.blobs++;
          }
          result.repacked.packs++;
        }
        await saver.finish();
      }
      const mark: GcMark = { created: repo.deps.clock.now().toISOString(), packs: newlyMarked, snapshots: snaps.map((s) => s.id) };
      const id = await repo.saveSealed('gc', mark);
      marks.set(id, mark);
      for (const p of newlyMarked) condemned.add(p);
      repo.index.setCondemned(condemned);
    } else if (dryRun) {
      result.repacked.packs = repack.length;
    }

    // ---- housekeeping: locks of dead processes, temp files of killed saves
    if (!dryRun) {
      await removeStaleLocks(repo);
      await repo.backend.cleanup?.(Math.max(gcDelay, TEMP_FILE_AGE_MS));
    }

    // ---- phase two: sweep
    if (!dryRun) {
      const now = repo.deps.clock.now().getTime();
      const eligible = [...marks].filter(([, m]) => now - Date.parse(m.created) >= gcDelay);
      result.deferred = marks.size - eligible.length;
      if (eligible.length > 0) {
        const writers = (await listLiveLocks(repo)).filter((l) => l.body.kind === 'writer');
        const sweepable = eligible.filter(([markId]) => {
          // A writer that had not loaded this mark when it started may be deduplicating
          // against the mark's packs; one that had treats them as absent (LockBody.marksSeen).
          const blocked = writers.some((w) => !(w.body.marksSeen ?? []).includes(markId));
          if (blocked) result.deferred++;
          return !blocked;
        });
        if (sweepable.length > 0) await sweep(repo, sweepable, condemned, result);
      }
    }
    return result;
  } finally {
    await lock?.release().catch(() => undefined);
  }
}

/**
 * The snapshots and WAL catalog records present now, with the index synced after listing them. A backup writes
 * its index file before its snapshot, so every snapshot listed has its index file in
 * place by the time of the sync; a backup on another host that committed since this
 * prune's first sync would otherwise have trees this cache cannot find (BLOB_MISSING).
 * Only new index files are read; the gc marks reloaded are the ones this prune knows,
 * since it holds the maintenance lock.
 */
async function snapshotsWithTheirIndex(repo: Repository): Promise<{
  snaps: Awaited<ReturnType<Repository['listSnapshots']>>;
  wal: Awaited<ReturnType<Repository['listWalRecords']>>;
}> {
  // WAL catalog records are written after the index file naming their packs, as snapshots are.
  const snaps = await repo.listSnapshots();
  const wal = await repo.listWalRecords();
  await syncIndex(repo);
  return { snaps, wal };
}

async function sweep(repo: Repository, marks: [string, GcMark][], condemned: Set<string>, result: PruneResult): Promise<void> {
  // Reachability again, from the snapshots present now: a backup that started before
  // the mark and finished since then may reference blobs in marked packs.
  const { snaps, wal } = await snapshotsWithTheirIndex(repo);
  const used = await computeReachable(repo, snaps.map((s) => s.body.tree), walDataRoots(wal));
  const toDelete = new Set<PackId>();
  for (const [, m] of marks) {
    for (const p of m.packs as PackId[]) {
      if (!repo.index.hasPack(p)) continue; // already gone
      const rescued = repo.index.blobsInPack(p).some((b) => {
        if (!used.has(b.type, b.id)) return false;
        const elsewhere = repo.index.find(b.type, b.id);
        return !elsewhere || elsewhere.pack === p;
      });
      if (!rescued) toDelete.add(p);
    }
  }
  const sizes = new Map([...toDelete].map((p) => [p, repo.index.getPack(p)?.size ?? 0]));
  // 1. New index files without the swept packs, superseding all current ones; 2. old
  // index files go; 3. then the packs; 4. then the marks.
  await rewriteIndexWithout(repo, toDelete);
  for (const p of toDelete) {
    const size = sizes.get(p) ?? 0;
    await repo.backend.remove(packName(p));
    repo.index.removePack(p);
    result.swept.packs++;
    result.swept.bytes += size;
  }
  for (const [id, m] of marks) {
    await repo.backend.remove(`gc/${id}`);
    for (const p of m.packs) condemned.delete(p);
  }
  repo.index.setCondemned(condemned);
  if (result.swept.packs === 0 && toDelete.size > 0) throw new CairnError('INTERNAL', 'sweep deleted nothing it planned to');
}
