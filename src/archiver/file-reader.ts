import { open, type FileHandle } from 'node:fs/promises';
import { constants } from 'node:fs';
import { CairnError } from '../core/errors/index.js';
import type { BlobId } from '../core/ids.js';
import type { CutFinder } from '../chunker/types.js';
import { chunkStream } from '../chunker/chunk-stream.js';
import type { FileResult } from '../pipeline/file-task.js';

export const READ_SIZE = 1024 * 1024;

/**
 * Opens a file for backup without updating its atime where the kernel allows it
 * (O_NOATIME needs ownership or CAP_FOWNER; fall back silently), without following a
 * symlink swapped in since the walk saw a regular file, and without waiting for a
 * writer of a fifo swapped in (O_NONBLOCK; regular files ignore it).
 */
export async function openForBackup(path: Buffer): Promise<FileHandle> {
  const base = constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK;
  try {
    return await open(path, base | constants.O_NOATIME);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EPERM') return open(path, base);
    throw err;
  }
}

/**
 * Yields the file's bytes in fresh buffers (the chunker may keep views of them), each
 * sized for what is left of the `expected` bytes (the size the walk saw) plus one, up to
 * READ_SIZE: a 1 MiB buffer for every read of every small file made the main thread
 * spend a quarter of a `--threads 0` backup of 20k small files collecting them. A file
 * that grew meanwhile is still read to its end.
 */
export async function* readPieces(fh: FileHandle, onBytes: (n: number) => void, expected = Infinity): AsyncGenerator<Buffer> {
  let read = 0;
  for (;;) {
    // Up to the expected end and one byte more (so a file read whole needs one read and
    // the probe for its end); at the end, that one-byte probe; past it, full reads.
    const size = read < expected ? Math.min(READ_SIZE, expected - read + 1) : read === expected ? 1 : READ_SIZE;
    const buf = Buffer.allocUnsafe(size);
    const { bytesRead } = await fh.read(buf, 0, size, null);
    if (bytesRead === 0) return;
    read += bytesRead;
    onBytes(bytesRead);
    yield bytesRead === size ? buf : buf.subarray(0, bytesRead);
  }
}

/**
 * Reads, chunks and stores one file on the main thread (no worker pool): the twin of
 * the workers' backupFile, with the same result. `store` saves a chunk and gives its id;
 * `checkCancelled` throws between chunks once the backup is cancelled (a CairnError,
 * which is thrown on, where a file's own failure becomes `error`, its code '' when the
 * failure had none).
 */
export async function readFileOnMain(
  path: Buffer,
  seen: { size: number; mtimeNs: bigint; ctimeNs: bigint },
  finder: CutFinder,
  store: (chunk: Buffer) => Promise<BlobId>,
  checkCancelled: () => void,
): Promise<FileResult> {
  const result: FileResult = { ids: [], read: 0, changed: false, newBlobs: 0, newBytes: 0 };
  const failed = (err: unknown): FileResult => {
    const e = err as NodeJS.ErrnoException;
    return { ...result, ids: [], error: { code: e.code ?? '', message: e.message } };
  };
  let fh: FileHandle;
  try {
    fh = await openForBackup(path);
  } catch (err) {
    return failed(err);
  }
  try {
    for await (const chunk of chunkStream(readPieces(fh, (n) => (result.read += n), seen.size), finder)) {
      checkCancelled();
      result.ids.push(await store(chunk));
    }
    const after = await fh.stat({ bigint: true });
    result.changed =
      result.read !== seen.size || after.size !== BigInt(seen.size) || after.mtimeNs !== seen.mtimeNs || after.ctimeNs !== seen.ctimeNs;
    return result;
  } catch (err) {
    if (err instanceof CairnError) throw err;
    return failed(err);
  } finally {
    await fh.close().catch(() => undefined);
  }
}
