import { closeSync, constants, fstatSync, openSync, readSync } from 'node:fs';
import type { BlobId } from '../core/ids.js';
import type { CutFinder } from '../chunker/types.js';
import { native } from '../util/native-addon.js';

/** What the worker reports for one file. */
export interface FileResult {
  ids: BlobId[];
  /** Bytes actually read: the content's length. */
  read: number;
  /** Size, mtime or ctime differed after reading from what the walk saw. */
  changed: boolean;
  newBlobs: number;
  newBytes: number;
  /**
   * Whether the open file has xattrs (flistxattr), when the addon could tell; the main
   * thread reads names and values by path only for files that have some or when this is
   * absent.
   */
  hasXattrs?: boolean;
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
  /**
   * The addon's readFileStart and closeFd (native/src/readfile.c): open, read into the
   * buffer and, when the file ended there, fstat and close in one call. Without them,
   * node:fs.
   */
  addon?: FileAddon;
}

/** See NativeFs.readFileStart and closeFd in src/util/native-addon.ts. */
export interface FileAddon {
  readFileStart(path: Buffer, buf: Buffer, offset: number, out: BigInt64Array): number;
  closeFd(fd: number): void;
}

/** The addon's one-call file reads, null when this build (or CAIRN_NO_NATIVE) has none. */
export const nativeFileAddon: FileAddon | null =
  native?.readFileStart && native.closeFd ? { readFileStart: native.readFileStart.bind(native), closeFd: native.closeFd.bind(native) } : null;

function openNoAtime(path: Buffer): number {
  // O_NONBLOCK: a fifo swapped in since the walk would block the open until a writer
  // came (regular files ignore the flag).
  const base = constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK;
  try {
    return openSync(path, base | constants.O_NOATIME);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EPERM') return openSync(path, base);
    throw err;
  }
}

/** [fd or -1, size, mtime ns, ctime ns, xattrs 1 / 0 / -1], filled by readFileStart. */
const startOut = new BigInt64Array(5);

/**
 * Reads one file with synchronous I/O (this runs on a worker thread, where blocking is
 * the point), cuts it into chunks in a reused buffer, hashes each chunk and stores the
 * new ones. Chunks are views into the buffer: nothing is allocated per chunk except
 * what compression and encryption produce. A file that fits in the buffer costs one
 * call of the addon (`readFileStart`), not five of node:fs.
 */
export function backupFile(path: Buffer, seen: { size: number; mtimeNs: bigint; ctimeNs: bigint }, d: FileTaskDeps): FileResult {
  const result: FileResult = { ids: [], read: 0, changed: false, newBlobs: 0, newBytes: 0 };
  const buf = d.buffer;
  let fd: number;
  let first = 0;
  /** Size and times after the last read, once known. */
  let after: { size: bigint; mtimeNs: bigint; ctimeNs: bigint } | null = null;
  try {
    if (d.addon) {
      first = d.addon.readFileStart(path, buf, 0, startOut);
      fd = Number(startOut[0]);
      if (startOut[4]! >= 0n) result.hasXattrs = startOut[4] === 1n;
      if (fd < 0) after = { size: startOut[1]!, mtimeNs: startOut[2]!, ctimeNs: startOut[3]! };
    } else {
      fd = openNoAtime(path);
    }
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    if (!e.code) throw err;
    return { ...result, error: { code: e.code, message: e.message } };
  }
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
  const consume = (n: number): void => {
    const cuts = finder.update(buf.subarray(end, end + n));
    end += n;
    result.read += n;
    for (const cut of cuts) emit(cut);
  };
  try {
    if (first > 0) consume(first);
    while (fd >= 0) {
      if (end === buf.length) {
        // Slide the unfinished chunk to the front to make room.
        buf.copyWithin(0, start, end);
        base += start;
        end -= start;
        start = 0;
      }
      const n = readSync(fd, buf, end, buf.length - end, null);
      if (n === 0) break;
      consume(n);
    }
    for (const cut of finder.finish()) emit(cut);
    after ??= fstatSync(fd, { bigint: true });
    result.changed =
      result.read !== seen.size || after.size !== BigInt(seen.size) || after.mtimeNs !== seen.mtimeNs || after.ctimeNs !== seen.ctimeNs;
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    if (!e.code) throw err;
    return { ...result, ids: [], error: { code: e.code, message: e.message } };
  } finally {
    // A descriptor the addon opened is closed by it: Node warns when closeSync closes
    // one that node:fs did not open.
    if (fd >= 0) {
      if (d.addon) d.addon.closeFd(fd);
      else closeSync(fd);
    }
  }
  return result;
}
