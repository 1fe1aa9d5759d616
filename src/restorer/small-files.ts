import type { BlobId, PackId } from '../core/ids.js';
import type { BlobLocation } from '../index/blob-index.js';
import type { WorkerPool } from '../pipeline/worker-pool.js';
import {
  restoreFiles,
  type RestoreBatch,
  type RestoreBatchResult,
  type RestoreFileItem,
  type RestoreFileResult,
} from '../pipeline/restore-task.js';
import type { BlobSource } from './blob-source.js';

/** A batch goes out when it holds this many files... */
const MAX_BATCH_FILES = 64;
/** ...or this many plaintext bytes (small files are at most 1 MiB each). */
const MAX_BATCH_BYTES = 2 * 2 ** 20;
/** Bytes between two wanted blobs of a pack that are read rather than cut into two reads. */
const MAX_GAP = 256 * 1024;
/** Longest single read of a pack range. */
const MAX_RANGE = 32 * 2 ** 20;
/** A batch that is not full goes out after this long anyway (the walk may be slow, e.g. trees from S3). */
const FLUSH_AFTER_MS = 20;

export interface SmallFile {
  path: Buffer;
  size: number;
  locs: BlobLocation[];
  meta: RestoreFileItem['meta'];
}

export interface PlannedRange {
  pack: PackId;
  offset: number;
  length: number;
  /** The wanted blobs in this range, in pack order, each once. */
  locs: BlobLocation[];
}

/**
 * Which pack ranges to read for a set of files: every distinct blob once, the blobs of
 * one pack sorted by offset and merged into one read when the gap between them is
 * small (files were packed in walk order, so a batch of neighbours is usually one or
 * two reads). `fileBlobs[f]` lists file f's content as indexes into the blob table:
 * the ranges' `locs` in order.
 */
export function planRanges(files: { locs: BlobLocation[] }[], maxRange = MAX_RANGE): { ranges: PlannedRange[]; fileBlobs: number[][] } {
  const unique = new Map<BlobId, BlobLocation>();
  for (const f of files) for (const l of f.locs) if (!unique.has(l.id)) unique.set(l.id, l);
  const sorted = [...unique.values()].sort((a, b) => (a.pack < b.pack ? -1 : a.pack > b.pack ? 1 : a.offset - b.offset));
  const ranges: PlannedRange[] = [];
  const index = new Map<BlobId, number>();
  for (const l of sorted) {
    const r = ranges[ranges.length - 1];
    const end = r ? r.offset + r.length : 0;
    if (r && r.pack === l.pack && l.offset >= end && l.offset - end <= MAX_GAP && l.offset + l.length - r.offset <= maxRange) {
      r.length = l.offset + l.length - r.offset;
      r.locs.push(l);
    } else {
      ranges.push({ pack: l.pack, offset: l.offset, length: l.length, locs: [l] });
    }
    index.set(l.id, index.size);
  }
  return { ranges, fileBlobs: files.map((f) => f.locs.map((l) => index.get(l.id)!)) };
}

interface Pending {
  file: SmallFile;
  resolve: (r: RestoreFileResult) => void;
  reject: (e: unknown) => void;
}

/**
 * Pack-oriented restore of small files: files are gathered into batches; for each
 * batch every pack range holding its blobs is read once, and one worker creates,
 * writes and finishes all its files, opening each blob once (restore-task.ts). Without
 * a pool the same task runs on this thread.
 */
export class SmallFileBatcher {
  private batch: Pending[] = [];
  private batchBytes = 0;
  private timer: NodeJS.Timeout | null = null;
  private inFlight = 0;
  private readonly maxInFlight: number;
  private waiters: (() => void)[] = [];
  /** Counters for tests and profiling: pack reads issued and blobs opened. */
  readonly counters = { batches: 0, ranges: 0, opened: 0 };

  constructor(
    private readonly blobs: BlobSource,
    private readonly pool: WorkerPool | null,
    private readonly owner: boolean,
  ) {
    // Two per worker: one being written while the next one's ranges are read.
    this.maxInFlight = Math.max(2, 2 * (pool?.size ?? 1));
  }

  /** Restores the file as part of a batch; resolves with its result once the batch is done. */
  add(file: SmallFile): Promise<RestoreFileResult> {
    return new Promise((resolve, reject) => {
      this.batch.push({ file, resolve, reject });
      this.batchBytes += file.size;
      if (this.batch.length >= MAX_BATCH_FILES || this.batchBytes >= MAX_BATCH_BYTES) this.flush();
      else this.timer ??= setTimeout(() => this.flush(), FLUSH_AFTER_MS);
    });
  }

  /** Resolves once fewer batches than the limit are in flight (back-pressure for the walk). */
  async ready(): Promise<void> {
    while (this.inFlight >= this.maxInFlight) await new Promise<void>((r) => this.waiters.push(r));
  }

  /** Sends the batch being gathered now, however small. */
  flush(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    const batch = this.batch;
    if (batch.length === 0) return;
    this.batch = [];
    this.batchBytes = 0;
    this.inFlight++;
    this.counters.batches++;
    void this.run(batch)
      .then(
        (r) => batch.forEach((p, i) => p.resolve(r.files[i]!)),
        (err) => batch.forEach((p) => p.reject(err)),
      )
      .finally(() => {
        this.inFlight--;
        this.waiters.shift()?.();
      });
  }

  /** Fails the files gathered and not yet sent (the restore stops: cancelled or failed). */
  cancel(err: unknown): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    const batch = this.batch;
    this.batch = [];
    this.batchBytes = 0;
    for (const p of batch) p.reject(err);
  }

  private async run(batch: Pending[]): Promise<RestoreBatchResult> {
    const { ranges: planned, fileBlobs } = planRanges(batch.map((p) => p.file));
    this.counters.ranges += planned.length;
    const ranges = await Promise.all(planned.map((r) => this.blobs.readSealed(r)));
    const packOf = new Map(ranges.map((range, i) => [range, planned[i]!.pack]));
    const msg: RestoreBatch = {
      ranges,
      files: batch.map((p, i) => ({ path: new Uint8Array(p.file.path), size: p.file.size, blobs: fileBlobs[i]!, meta: p.file.meta })),
      owner: this.owner,
    };
    const result = this.pool
      ? await this.pool.restoreFiles(msg)
      : restoreFiles(msg, { open: (range, entry) => this.blobs.openHere(packOf.get(range)!, range, entry) });
    this.counters.opened += result.opened;
    return result;
  }
}
