import { closeSync, constants, fstatSync, openSync, readSync } from 'node:fs';
import type { BlobId } from '../core/ids.js';
import type { CutFinder } from '../chunker/types.js';

/** What the worker reports for one file. */
export interface FileResult {
  ids: BlobId[];
  /** Bytes actually read: the content's length. */
  read: number;
  /** Size, mtime or ctime differed after reading from what the walk saw. */
  changed: boolean;
  newBlobs: number;
  newBytes: number;
  /** An errno-style failure: the file is left out of the snapshot. */
  error?: { code: string; message: string };
}

export interface FileTaskDeps {
  finder: () => CutFinder;
  /** Keyed hash of a chunk. */
  id: (chunk: Uint8Array) => BlobId;
  /** True when the blob must be stored by this caller (not indexed, not claimed by anyone). */
  claimNew: (id: BlobId) => boolean;
  store: (id: BlobId, chunk: Uint8Array) => void;
  /** Reusable read buffer, at least max chunk size + one read. */
  buffer: Buffer;
}

function openNoAtime(path: Buffer): number {
  const base = constants.O_RDONLY | constants.O_NOFOLLOW;
  try {
    return openSync(path, base | constants.O_NOATIME);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EPERM') return openSync(path, base);
    throw err;
  }
}

/**
 * Reads one file with synchronous I/O (this runs on a worker thread, where blocking is
 * the point), cuts it into chunks in a reused buffer, hashes each chunk and stores the
 * new ones. Chunks are views into the buffer: nothing is allocated per chunk except
 * what compression and encryption produce.
 */
export function backupFile(path: Buffer, seen: { size: number; mtimeNs: bigint; ctimeNs: bigint }, d: FileTaskDeps): FileResult {
  const result: FileResult = { ids: [], read: 0, changed: false, newBlobs: 0, newBytes: 0 };
  let fd: number;
  try {
    fd = openNoAtime(path);
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    return { ...result, error: { code: e.code ?? 'EIO', message: e.message } };
  }
  const buf = d.buffer;
  const finder = d.finder();
  let base = 0; // stream offset of buf[0]
  let start = 0; // start of the pending chunk in buf
  let end = 0; // end of valid data in buf
  const emit = (cut: number): void => {
    const chunk = buf.subarray(start, cut - base);
    const id = d.id(chunk);
    result.ids.push(id);
    if (d.claimNew(id)) {
      d.store(id, chunk);
      result.newBlobs++;
      result.newBytes += chunk.length;
    }
    start = cut - base;
  };
  try {
    for (;;) {
      if (end === buf.length) {
        // Slide the unfinished chunk to the front to make room.
        buf.copyWithin(0, start, end);
        base += start;
        end -= start;
        start = 0;
      }
      const n = readSync(fd, buf, end, buf.length - end, null);
      if (n === 0) break;
      const cuts = finder.update(buf.subarray(end, end + n));
      end += n;
      result.read += n;
      for (const cut of cuts) emit(cut);
    }
    for (const cut of finder.finish()) emit(cut);
    const after = fstatSync(fd, { bigint: true });
    result.changed =
      result.read !== seen.size || after.size !== BigInt(seen.size) || after.mtimeNs !== seen.mtimeNs || after.ctimeNs !== seen.ctimeNs;
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    if (!e.code) throw err;
    return { ...result, ids: [], error: { code: e.code, message: e.message } };
  } finally {
    closeSync(fd);
  }
  return result;
}
