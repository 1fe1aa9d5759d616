import { CairnError } from '../core/errors/index.js';
import type { SnapshotId } from '../core/ids.js';
import type { CopyOptions, CopyResult, SnapshotInfo } from '../engine/types.js';
import { BlobSaver } from '../repository/blob-saver.js';
import { scanPacks, syncIndex } from '../repository/index-sync.js';
import { RepoLock } from '../repository/lock.js';
import type { Repository } from '../repository/repository.js';
import { filterSnapshots, resolveSnapshotRef } from '../snapshot/select.js';
import { snapshotInfo, type SnapshotBody } from '../snapshot/snapshot.js';
import { BlobRewriter } from './blob-rewriter.js';
import { CopyMap } from './copy-map.js';
import { copyPacksFor, copySnapshotFile, throwIfAborted } from './pack-copier.js';
import { sharesMasterKey } from './shares-master-key.js';
import { copyWal } from './wal-copy.js';

export type CopyParams = Omit<CopyOptions, 'from' | 'to'>;

const DRY_RUN_ID = '0'.repeat(64) as SnapshotId;

/**
 * Copies snapshots from `src` to `dst` (both opened), oldest first, each one complete
 * (data, index file, then the snapshot file) before the next begins. The method follows
 * from the keys: 'packs' when dst shares src's master key (a mirror), else 'blobs'.
 *
 * A source snapshot is skipped when dst already holds it: the same snapshot id (a pack
 * copy keeps the file byte for byte) or a snapshot whose `original` is the source's
 * original. The destination takes a writer lock, like a backup, so its prune never sweeps
 * what this copy is about to reference. A run killed at any point leaves no snapshot
 * without its data; running it again finishes the job, reusing what was stored.
 */
export async function runCopy(src: Repository, dst: Repository, opts: CopyParams = {}): Promise<CopyResult> {
  if (src.id === dst.id) {
    throw new CairnError('USAGE', `source and destination are the same repository (id ${src.id.slice(0, 8)})`, {
      hint: 'copy needs two different repositories; a directory copied byte for byte keeps the id and is not a separate repository',
    });
  }
  const dryRun = !!opts.dryRun;
  const method: CopyResult['method'] = sharesMasterKey(src.masterKey, dst.masterKey) ? 'packs' : 'blobs';
  const result: CopyResult = { method, copied: [], skipped: [], blobsCopied: 0, packsCopied: 0, bytesCopied: 0, dryRun };

  const srcSnaps = await src.listSnapshots();
  const bodies = new Map<string, SnapshotBody>(srcSnaps.map((s) => [s.id, s.body]));
  const infos = filterSnapshots(
    srcSnaps.map((s) => snapshotInfo(s.id, s.body)),
    opts.filter,
  );
  let selected = infos;
  if (opts.snapshots && opts.snapshots.length > 0) {
    const picked = new Map<string, SnapshotInfo>();
    for (const ref of opts.snapshots) {
      const s = resolveSnapshotRef(infos, ref);
      picked.set(s.id, s);
    }
    selected = [...picked.values()].sort((a, b) => a.time.localeCompare(b.time) || a.id.localeCompare(b.id));
  }

  const lock = dryRun ? null : await RepoLock.acquire(dst, 'writer');
  try {
    await syncIndex(src);
    await syncIndex(dst);
    await lock?.recordMarksSeen();
    // Packs a killed copy (or backup) stored in dst but never named in an index file: the
    // local cache knows them, so without this they would count as present and a snapshot
    // or WAL record could be committed naming blobs that only this cache can find.
    if (!dryRun) await scanPacks(dst);
    // Original id → destination snapshot id, for skipping and for mapping parents.
    const inDst = new Map<string, SnapshotId>();
    for (const s of await dst.listSnapshots()) {
      inDst.set(s.id, s.id);
      inDst.set(s.body.original ?? s.id, s.id);
    }
    const map = method === 'blobs' ? new CopyMap(dst, src.id) : null;
    let done = 0;
    const progress = (current?: string): void =>
      opts.onProgress?.({
        phase: 'copy',
        files: done,
        totalFiles: selected.length,
        bytes: result.bytesCopied,
        ...(current ? { currentPath: current } : {}),
      });

    for (const snap of selected) {
      throwIfAborted(opts.signal);
      const body = bodies.get(snap.id)!;
      const original = body.original ?? snap.id;
      if (inDst.has(snap.id) || inDst.has(original)) {
        result.skipped.push(snap);
        done++;
        continue;
      }
      progress(`snapshot ${snap.shortId}`);
      let copy: SnapshotInfo;
      if (method === 'packs') {
        const before = result.bytesCopied;
        const stats = await copyPacksFor(src, dst, body.tree, {
          dryRun,
          ...(opts.signal ? { signal: opts.signal } : {}),
          onBytes: (n) => {
            result.bytesCopied += n;
            progress(`snapshot ${snap.shortId}`);
          },
        });
        result.bytesCopied = before + stats.bytesCopied; // onBytes counted the packs as they went, for progress
        result.blobsCopied += stats.blobsCopied;
        result.packsCopied += stats.packsCopied;
        throwIfAborted(opts.signal);
        if (lock) await lock.commit(async () => (await copySnapshotFile(src, dst, snap.id), snap.id), (sid) => dst.removeSnapshot(sid));
        copy = snap;
      } else {
        const saver = new BlobSaver(dst, {
          dryRun,
          onPack: (id) => {
            result.bytesCopied += dst.index.getPack(id)?.size ?? 0;
            progress(`snapshot ${snap.shortId}`);
          },
        });
        const rewriter = new BlobRewriter(src, dst, saver, map!, opts.signal);
        let tree;
        try {
          tree = await rewriter.tree(body.tree);
          await saver.finish();
        } catch (err) {
          await saver.abandon();
          throw err;
        }
        if (dryRun) result.bytesCopied += saver.stats.bytesAddedPacked;
        result.blobsCopied += saver.stats.blobsAdded;
        result.packsCopied += saver.stats.packs;
        throwIfAborted(opts.signal);
        const parentOriginal = body.parent ? (bodies.get(body.parent)?.original ?? body.parent) : null;
        const newBody: SnapshotBody = {
          ...body,
          tree,
          parent: parentOriginal ? (inDst.get(parentOriginal) ?? null) : null,
          original: original as SnapshotId,
        };
        let id = DRY_RUN_ID;
        if (lock) id = await lock.commit(() => dst.saveSnapshot(newBody), (sid) => dst.removeSnapshot(sid));
        copy = snapshotInfo(id, newBody);
      }
      if (!dryRun) {
        inDst.set(copy.id, copy.id);
        inDst.set(original, copy.id);
      }
      result.copied.push({ source: snap, copy });
      done++;
      progress();
    }

    // WAL after the snapshots: the records of the database sources selected (see walSources).
    const sources = walSources(opts, srcSnaps, selected);
    if (sources) {
      throwIfAborted(opts.signal);
      progress('WAL');
      const before = result.bytesCopied;
      const wal = await copyWal(src, dst, {
        method,
        sources,
        lock,
        map,
        dryRun,
        signal: opts.signal,
        onBytes: (n) => {
          result.bytesCopied += n;
          progress('WAL');
        },
      });
      result.bytesCopied = before + wal.bytesCopied;
      result.blobsCopied += wal.blobsCopied;
      result.packsCopied += wal.packsCopied;
      result.wal = wal.report;
    }
    return result;
  } finally {
    await lock?.release().catch(() => undefined);
  }
}

/**
 * Whose WAL records a copy takes: none with `wal: false`; `filter.source` when given;
 * every source's when the copy is unrestricted (no snapshot named, no filter); otherwise
 * the postgres sources of the selected snapshots (their base backups are useless for
 * point-in-time recovery without it).
 */
function walSources(
  opts: CopyParams,
  all: { id: SnapshotId; body: SnapshotBody }[],
  selected: SnapshotInfo[],
): ReadonlySet<string> | 'all' | null {
  if (opts.wal === false) return null;
  if (opts.filter?.source) return new Set([opts.filter.source]);
  const restricted = (opts.snapshots?.length ?? 0) > 0 || (opts.filter && Object.values(opts.filter).some((v) => v !== undefined));
  if (!restricted) return 'all';
  const picked = new Set(selected.map((s) => s.id));
  return new Set(all.filter((s) => picked.has(s.id) && s.body.source.type === 'postgres').map((s) => s.body.source.name));
}
