import type { BlobId } from '../core/ids.js';
import type { WalCopyReport } from '../engine/types.js';
import { BlobSaver } from '../repository/blob-saver.js';
import type { RepoLock } from '../repository/lock.js';
import type { Repository } from '../repository/repository.js';
import { bestWalSegments, type WalRecordBody, type WalSegmentEntry } from '../snapshot/wal-record.js';
import { BlobRewriter } from './blob-rewriter.js';
import type { CopyMap } from './copy-map.js';
import { copyPacksForBlobs, copyWalRecordFile, missingDataBlobs, throwIfAborted } from './pack-copier.js';

export interface WalCopyParams {
  method: 'packs' | 'blobs';
  /** Source names whose records are copied, or every record. */
  sources: ReadonlySet<string> | 'all';
  /** The destination's writer lock (null: dry run). */
  lock: RepoLock | null;
  /** The blobs method's source → destination id map. */
  map: CopyMap | null;
  dryRun: boolean;
  signal?: AbortSignal | undefined;
  /** Bytes written to the destination, as they are written (progress). */
  onBytes?: (n: number) => void;
}

export interface WalCopyStats {
  report: WalCopyReport;
  blobsCopied: number;
  packsCopied: number;
  bytesCopied: number;
}

/**
 * Records per batch: their data is made durable and indexed, then their record files are
 * written, before the next batch starts, so a long first copy commits as it goes.
 */
const RECORDS_PER_BATCH = 64;

/**
 * Copies the WAL catalog records of database sources (docs/repository-format.md, "WAL
 * catalog records") that the destination lacks, oldest first, in batches.
 *
 * - 'packs' (shared master key): the source packs holding segment blobs the destination's
 *   index lacks are copied byte for byte (copyPacksForBlobs, as for snapshots), one index
 *   file names them, then each record file is copied verbatim under its own name.
 * - 'blobs' (other keys): each segment's chunks are re-encrypted through the destination's
 *   BlobSaver (the CopyMap makes a repeated copy skip known chunks without reading them),
 *   the saver's index file is written, then one new record per source record, with the
 *   destination's blob ids and `original` = the source record's id.
 *
 * A record is skipped when the destination has it (same id, or a copy with that original),
 * and not copied when every segment it names has a better version (a complete one, or a
 * later partial) in another record of its source: readers never use it. A record file is
 * written only after every blob it names is durable and indexed in the destination, so a
 * copy killed at any point never leaves a record naming missing data.
 */
export async function copyWal(src: Repository, dst: Repository, p: WalCopyParams): Promise<WalCopyStats> {
  const all = await src.listWalRecords();
  const records = all.filter((r) => p.sources === 'all' || p.sources.has(r.body.source.name));
  const report: WalCopyReport = {
    sources: [...new Set(p.sources === 'all' ? records.map((r) => r.body.source.name) : p.sources)].sort(),
    recordsCopied: 0,
    recordsSkipped: 0,
    recordsSuperseded: 0,
    segmentsCopied: 0,
  };
  const stats: WalCopyStats = { report, blobsCopied: 0, packsCopied: 0, bytesCopied: 0 };
  if (records.length === 0) return stats;

  const useful = new Set([...bestWalSegments(records).values()].map((b) => b.recordId));
  const inDst = new Set<string>();
  for (const r of await dst.listWalRecords()) {
    inDst.add(r.id);
    if (r.body.original) inDst.add(r.body.original);
  }
  const todo: { id: string; body: WalRecordBody }[] = [];
  for (const r of records) {
    if (inDst.has(r.id) || inDst.has(r.body.original ?? r.id)) report.recordsSkipped++;
    else if (!useful.has(r.id)) report.recordsSuperseded++;
    else todo.push(r);
  }

  for (let i = 0; i < todo.length; i += RECORDS_PER_BATCH) {
    const batch = todo.slice(i, i + RECORDS_PER_BATCH);
    throwIfAborted(p.signal);
    if (p.method === 'packs') await copyBatchAsPacks(src, dst, batch, p, stats);
    else await copyBatchAsBlobs(src, dst, batch, p, stats);
    report.recordsCopied += batch.length;
    report.segmentsCopied += batch.reduce((n, r) => n + r.body.segments.length, 0);
  }
  return stats;
}

async function copyBatchAsPacks(
  src: Repository,
  dst: Repository,
  batch: { id: string; body: WalRecordBody }[],
  p: WalCopyParams,
  stats: WalCopyStats,
): Promise<void> {
  const blobs = batch.flatMap((r) => r.body.segments.flatMap((s) => s.content));
  const copied = await copyPacksForBlobs(src, dst, missingDataBlobs(dst, blobs), {
    dryRun: p.dryRun,
    ...(p.signal ? { signal: p.signal } : {}),
    ...(p.onBytes ? { onBytes: p.onBytes } : {}),
  });
  stats.blobsCopied += copied.blobsCopied;
  stats.packsCopied += copied.packsCopied;
  stats.bytesCopied += copied.bytesCopied;
  // Every blob of the batch is durable and indexed in dst now: the record files may follow.
  for (const r of batch) {
    throwIfAborted(p.signal);
    if (p.lock) await p.lock.commit(async () => (await copyWalRecordFile(src, dst, r.id), r.id), (id) => dst.removeWalRecord(id));
  }
}

async function copyBatchAsBlobs(
  src: Repository,
  dst: Repository,
  batch: { id: string; body: WalRecordBody }[],
  p: WalCopyParams,
  stats: WalCopyStats,
): Promise<void> {
  const saver = new BlobSaver(dst, {
    dryRun: p.dryRun,
    onPack: (id) => p.onBytes?.(dst.index.getPack(id)?.size ?? 0),
  });
  const rewriter = new BlobRewriter(src, dst, saver, p.map!, p.signal);
  const bodies: WalRecordBody[] = [];
  try {
    for (const r of batch) {
      const segments: WalSegmentEntry[] = [];
      for (const s of r.body.segments) {
        const content: BlobId[] = await rewriter.data(s.content);
        segments.push({ ...s, content });
      }
      bodies.push({ ...r.body, segments, original: r.body.original ?? r.id });
    }
    await saver.finish(); // packs durable, index file written
  } catch (err) {
    await saver.abandon();
    throw err;
  }
  stats.blobsCopied += saver.stats.blobsAdded;
  stats.packsCopied += saver.stats.packs;
  stats.bytesCopied += saver.stats.bytesAddedPacked;
  for (const body of bodies) {
    throwIfAborted(p.signal);
    if (p.lock) await p.lock.commit(() => dst.saveWalRecord(body), (id) => dst.removeWalRecord(id));
  }
}
