import { closeSync, constants, ftruncateSync, openSync, writeSync } from 'node:fs';
import { CairnError } from '../core/errors/index.js';
import { applyEntryMetaSync, type ApplicableMeta } from '../fs/apply-entry-meta.js';
import { isAllZero } from '../fs/sparse.js';
import type { PackEntry } from '../format/pack-writer.js';

/** A range of one pack as read from it, holding the sealed blobs `entries` (pack offsets). */
export interface SealedRange {
  encKeyId: number;
  salt: Uint8Array;
  /** The blobs wanted from this range, in pack order; bytes between them are skipped. */
  entries: PackEntry[];
  bytes: Uint8Array;
  /** Pack offset of bytes[0]. */
  base: number;
}

export interface RestoreFileItem {
  path: Uint8Array;
  size: number;
  /** The file's content in order, as indexes into the batch's blob table (see restoreFiles). */
  blobs: number[];
  /** What is written back once the file is (a Buffer crosses to the worker as a Uint8Array). */
  meta: Omit<ApplicableMeta, 'xattrs'> & { xattrs?: { name: string; value: Uint8Array }[] };
}

/**
 * Many small files and the pack ranges that hold their blobs: each range was read once
 * for all of them, and the blob table numbers the entries of all ranges in order
 * (range 0's entries first), each blob once however many files use it.
 */
export interface RestoreBatch {
  ranges: SealedRange[];
  files: RestoreFileItem[];
  owner: boolean;
}

export interface RestoreFileResult {
  warnings: string[];
  /** An errno-style or Cairn error code; the file may be partly written. */
  error?: { code: string; message: string };
}

export interface RestoreBatchResult {
  files: RestoreFileResult[];
  /** Blobs decrypted and decompressed: each at most once per batch. */
  opened: number;
}

export interface RestoreTaskDeps {
  /** Decrypts, decompresses and checks one blob against its id (PACK_CORRUPT otherwise). */
  open(range: SealedRange, entry: PackEntry): Buffer;
}

/**
 * Blobs of one big file from one pack range: each entry is opened once and written at
 * every file offset in `at[k]` (a chunk repeated within the file, such as a run of
 * zeros, is decrypted once). The file exists already; its creator truncates it to size
 * and applies metadata once every range is written.
 */
export interface BlobWrites {
  path: Uint8Array;
  range: SealedRange;
  at: number[][];
}

export interface BlobWritesResult {
  /** An errno-style or Cairn error code; the file may be partly written. */
  error?: { code: string; message: string };
}

/**
 * Writes one BlobWrites with blocking calls. `open` may return a view of a reused
 * buffer (valid until its next call): each plaintext is written before the next blob
 * is opened. All-zero blobs are left as holes.
 */
export function writeBlobs(w: BlobWrites, open: RestoreTaskDeps['open']): BlobWritesResult {
  const path = Buffer.from(w.path.buffer, w.path.byteOffset, w.path.byteLength);
  let fd: number;
  try {
    fd = openSync(path, constants.O_WRONLY);
  } catch (err) {
    return { error: errorOf(err) };
  }
  try {
    w.range.entries.forEach((entry, k) => {
      const data = open(w.range, entry);
      if (isAllZero(data)) return;
      for (const pos of w.at[k] ?? []) writeAllSync(fd, data, pos);
    });
    return {};
  } catch (err) {
    return { error: errorOf(err) };
  } finally {
    closeSync(fd);
  }
}

/** Marks a plaintext dropped after its last use. */
const DONE = Buffer.alloc(0);

/**
 * Creates, writes and finishes every file of the batch with blocking calls (on a
 * worker: per-file system calls are what a restore of many small files spends its time
 * on). A blob is opened the first time a file needs it and kept for the rest of the
 * batch. All-zero blobs are left as holes. A file that fails (a corrupt blob, an errno)
 * gets its error in its result; the other files go on.
 */
export function restoreFiles(batch: RestoreBatch, deps: RestoreTaskDeps): RestoreBatchResult {
  const table: { range: SealedRange; entry: PackEntry }[] = [];
  for (const range of batch.ranges) for (const entry of range.entries) table.push({ range, entry });
  const plain: (Buffer | CairnError | undefined)[] = new Array(table.length);
  let opened = 0;
  const blob = (i: number): Buffer => {
    let p = plain[i];
    if (p === undefined) {
      const t = table[i];
      if (!t) throw new CairnError('INTERNAL', `restore batch names blob ${i} of ${table.length}`);
      opened++;
      try {
        p = deps.open(t.range, t.entry);
      } catch (err) {
        p = err instanceof CairnError ? err : new CairnError('PACK_CORRUPT', (err as Error).message);
      }
      plain[i] = p;
    }
    if (p instanceof CairnError) throw p;
    if (p === DONE) throw new CairnError('INTERNAL', `restore batch used blob ${i} after its last use`);
    return p;
  };
  // A plaintext is dropped after the last file that needs it: a batch holds few at once.
  const lastUse = new Array<number>(table.length).fill(-1);
  batch.files.forEach((f, k) => f.blobs.forEach((i) => (lastUse[i] = k)));
  const files = batch.files.map((f, k) => {
    const r = restoreOne(f, blob, batch.owner);
    for (const i of f.blobs) if (lastUse[i] === k && !(plain[i] instanceof CairnError)) plain[i] = DONE;
    return r;
  });
  return { files, opened };
}

function restoreOne(f: RestoreFileItem, blob: (i: number) => Buffer, owner: boolean): RestoreFileResult {
  const path = Buffer.from(f.path.buffer, f.path.byteOffset, f.path.byteLength);
  let fd: number;
  try {
    fd = openSync(path, 'w', 0o600);
  } catch (err) {
    return { warnings: [], error: errorOf(err) };
  }
  try {
    let pos = 0;
    let holes = false;
    for (const i of f.blobs) {
      const data = blob(i);
      if (isAllZero(data)) holes = true;
      else writeAllSync(fd, data, pos);
      pos += data.length;
    }
    if (holes || pos !== f.size) ftruncateSync(fd, f.size);
  } catch (err) {
    return { warnings: [], error: errorOf(err) };
  } finally {
    closeSync(fd);
  }
  const m = f.meta;
  try {
    const { xattrs, ...rest } = m;
    const meta: ApplicableMeta = rest;
    if (xattrs) meta.xattrs = xattrs.map((x) => ({ name: x.name, value: Buffer.from(x.value.buffer, x.value.byteOffset, x.value.byteLength) }));
    const warnings = applyEntryMetaSync(path, meta, { owner });
    return { warnings };
  } catch (err) {
    return { warnings: [], error: errorOf(err) };
  }
}

/** Writes all of `data` at `pos` (a positioned write may write less than asked). */
function writeAllSync(fd: number, data: Buffer, pos: number): void {
  for (let off = 0; off < data.length; ) off += writeSync(fd, data, off, data.length - off, pos + off);
}

function errorOf(err: unknown): { code: string; message: string } {
  const e = err as CairnError & NodeJS.ErrnoException;
  return { code: e.code ?? 'INTERNAL', message: e.message };
}
