import pLimit from 'p-limit';
import { CairnError } from '../core/errors/index.js';
import type { BlobLocation } from '../index/blob-index.js';
import type { WorkerPool } from '../pipeline/worker-pool.js';
import { writeBlobs, type BlobWrites, type BlobWritesResult } from '../pipeline/restore-task.js';
import type { Repository } from '../repository/repository.js';
import type { BlobSource } from './blob-source.js';
import { entryOf, planRanges } from './small-files.js';
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
    private readonly repo: Repository,
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
    await Promise.all(
      ranges.map((r) =>
        this.limit(async () => {
          if (this.signal?.aborted) throw new CairnError('CANCELLED', 'restore cancelled; the target holds a partial restore');
          const pack = this.blobs.packRecord(r.pack);
          const bytes = await this.blobs.readPackRange(r.pack, r.offset, r.length);
          const w: BlobWrites = {
            path: pathBytes,
            range: { encKeyId: pack.encKeyId, salt: new Uint8Array(pack.salt), entries: r.locs.map(entryOf), bytes, base: r.offset },
            at: r.locs.map((l) => at.get(l.id)!),
          };
          const result = this.pool ? await this.pool.writeBlobs(w) : this.writeHere(w, r.locs);
          if (result.error) throw workerError(result.error);
        }),
      ),
    );
    return pos;
  }

  /** Without workers: the same task on this thread. */
  private writeHere(w: BlobWrites, locs: BlobLocation[]): BlobWritesResult {
    const byEntry = new Map(w.range.entries.map((e, k) => [e, locs[k]!]));
    return writeBlobs(w, (range, entry) => {
      const loc = byEntry.get(entry)!;
      const sealed = Buffer.from(range.bytes.buffer, range.bytes.byteOffset + loc.offset - range.base, loc.length);
      return this.repo.openBlobAt(loc, this.blobs.packRecord(loc.pack), sealed);
    });
  }
}
