import pLimit from 'p-limit';
import { CairnError } from '../core/errors/index.js';
import type { BlobLocation } from '../index/blob-index.js';
import type { WorkerPool } from '../pipeline/worker-pool.js';
import { writeBlobs, type BlobWrites } from '../pipeline/restore-task.js';
import type { BlobSource } from './blob-source.js';
import { planRanges } from './small-files.js';
import { workerError } from './worker-error.js';

/** Longest pack range read for a big file at once: bounds the bytes in flight per write. */
const MAX_RANGE = 4 * 2 ** 20;

/**
 * Writes the content of files too big for the small-file batches: the file's distinct
 * blobs are read in pack ranges of up to 4 MiB, and each range goes to a worker that
 * opens its blobs into a reused buffer and writes each one at every offset the file
 * has it (restore-task.ts writeBlobs). Plaintext never comes back to this thread, and a
 * chunk repeated within the file is read and decrypted once. A limit across all files
 * bounds the ranges in flight.
 */
export class BigFileWriter {
  /** Ranges being read or written, across all big files (~4 MiB each). */
  private readonly limit = pLimit(8);

  constructor(
    private readonly blobs: BlobSource,
    private readonly pool: WorkerPool | null,
    private readonly signal?: AbortSignal,
  ) {}

  /**
   * Writes `locs` (the file's content, in order) into the existing file at `path`,
   * leaving all-zero chunks as holes. Returns the content's length. The caller
   * truncates the file to its size and applies metadata.
   */
  async write(path: Buffer, locs: BlobLocation[]): Promise<number> {
    const at = new Map<string, number[]>();
    let pos = 0;
    for (const l of locs) {
      let list = at.get(l.id);
      if (!list) at.set(l.id, (list = []));
      list.push(pos);
      pos += l.rawLength;
    }
    const { ranges } = planRanges([{ locs }], MAX_RANGE);
    const pathBytes = new Uint8Array(path);
    // Settles only when no range of the file is being written any more: the caller
    // removes a file whose data is damaged, and a worker still writing would then fail
    // on a missing file. Ranges not started when one fails are skipped.
    let failed: { err: unknown } | null = null;
    await Promise.all(
      ranges.map((r) =>
        this.limit(async () => {
          if (failed) return;
          try {
            if (this.signal?.aborted) throw new CairnError('CANCELLED', 'restore cancelled; the target holds a partial restore');
            const w: BlobWrites = { path: pathBytes, range: await this.blobs.readSealed(r), at: r.locs.map((l) => at.get(l.id)!) };
            // Without workers, the same task on this thread.
            const result = this.pool ? await this.pool.writeBlobs(w) : writeBlobs(w, (range, entry) => this.blobs.openHere(r.pack, range, entry));
            if (result.error) throw workerError(result.error);
          } catch (err) {
            failed ??= { err };
          }
        }),
      ),
    );
    if (failed) throw (failed as { err: unknown }).err;
    return pos;
  }
}
