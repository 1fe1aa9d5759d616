import { readdirSync } from 'node:fs';
import { getSystemErrorName } from 'node:util';
import { native, type NativeDirScan } from '../util/native-addon.js';
import { entryMeta, readEntryMetaSync, type ReadEntryMetaOptions } from './read-entry-meta.js';
import type { IdNames } from './id-names.js';
import type { EntryMeta } from './types.js';
import { joinPath } from './join-path.js';
import { MinHeap } from '../util/min-heap.js';

/**
 * One directory as the walk sees it: its entries sorted by the raw bytes of their names
 * (Buffer.compare, the tree format's order), each with its metadata or the error of
 * reading it. Entries are asked for in order, each once.
 */
export interface DirListing {
  readonly length: number;
  name(i: number): Buffer;
  /**
   * Entry i's metadata (lstat, symlink target, xattrs unless turned off); `path` is its
   * full path. Throws a node:fs-style error (with `code`) when the entry could not be
   * read: ENOENT when it vanished after the listing.
   */
  meta(i: number, path: Buffer): EntryMeta;
  /**
   * The listing as read, byte for byte: every entry's name, lstat numbers (times
   * included), errno and symlink target; the access times are the last part. Equal
   * bytes mean an equal listing; a DirMemo keys directories by them. Absent when the
   * lister has no such form (SyncDirLister).
   */
  raw?(): Buffer[];
}

/**
 * Lists directories for one walk. The contract, for every implementation:
 *  - list(path) resolves to the directory's listing, or rejects with a node:fs-style
 *    error when the directory cannot be opened or read;
 *  - it never follows a symlink: entries are described with lstat;
 *  - the walk calls list() for directories in the order it enters them, and each once.
 * Implementations may read ahead: the metadata is then as of the listing, a moment
 * before the walk yields it (the archiver checks a file again after reading it).
 */
export interface DirLister {
  list(path: Buffer): Promise<DirListing>;
  /** The walk is over (finished or stopped): stop any reading ahead. */
  close?(): void;
}

/** Lists names with readdir (injectable) and reads each entry's lstat when the walk gets to it. */
export class SyncDirLister implements DirLister {
  constructor(
    private readonly owners: IdNames,
    private readonly opts: ReadEntryMetaOptions,
    private readonly readdir: (path: Buffer) => Promise<Buffer[]> = async (path) => readdirSync(path, { encoding: 'buffer' }),
  ) {}

  async list(path: Buffer): Promise<DirListing> {
    const names = (await this.readdir(path)).sort(Buffer.compare);
    // Blocking lstat: ~3 µs each, where the thread pool's round trip costs ~40 µs.
    return {
      length: names.length,
      name: (i) => names[i]!,
      meta: (_i, full) => readEntryMetaSync(full, this.owners, this.opts),
    };
  }
}

export interface ScanAheadOptions {
  /** Whether the walk will enter this subdirectory (not excluded, on the same file system, by its st_dev): only those are read ahead. */
  descend?: (path: Buffer, dev: bigint) => boolean;
  /** Entries read ahead and not yet walked, at most (default 20,000: ~3 MB as scanned). */
  maxLead?: number;
  /**
   * Batches of directories scanned at once (default 4, libuv's threads). On a cold cache
   * a scan mostly waits for the disk, which serves several reads at once: with an
   * unchanged backup's trees taken from the directory memo the walk is its critical
   * path, and 4 or 8 in flight measured ~0.1 s faster than 2 on the benchmark set
   * (1.2-1.5 s). Each busy pool thread's malloc arena stays resident, though: on 100k
   * directories of one file a warm unchanged backup peaked at 241 MiB with 2, 255-258
   * with 4 and 277-280 with 8.
   */
  concurrency?: number;
  /** Directories per batch, at most (default 16). */
  batch?: number;
  /** The scan itself: the addon's scanDirs unless given (tests count its calls). */
  scanDirs?: (paths: Buffer[]) => Promise<NativeDirScan>;
}

const NUMS = 6;
const IDS = 3;
const TIMES = 6;
const NS = 1_000_000_000n;
const SYSCALLS = ['', 'open', 'fdopendir', 'readdir'];

/** One directory of a scanDirs batch: its entries are [start, end) of the batch's arrays. */
interface DirScan {
  scan: NativeDirScan;
  start: number;
  end: number;
  /** Errno when the directory could not be listed (0 when it was). */
  error: number;
  syscall: string;
}

interface AheadScan {
  promise: Promise<DirScan>;
  /** Settled, and (unless the walk had taken it) counted in the lead with its subdirectories queued. */
  done: boolean;
}

/**
 * Lists with the addon's scanDirs: directories' names and every entry's lstat in one
 * call on the thread pool, so the main thread decodes numbers instead of paying a path
 * lookup and a stat object per entry. It scans ahead of the walk, depth first as the
 * walk goes, in batches of directories (one call costs the main thread ~15-20 µs here):
 * the kernel's work, which waits for the disk on a cold cache, runs beside the walk.
 */
export class ScanDirLister implements DirLister {
  private readonly scanDirs: (paths: Buffer[]) => Promise<NativeDirScan>;
  private readonly maxLead: number;
  private readonly concurrency: number;
  private readonly batch: number;
  /** Scans started ahead, by path (latin1: raw bytes as a string key). */
  private readonly ahead = new Map<string, AheadScan>();
  /**
   * Directories found and not yet scanned, the one the walk reaches first on top. Found
   * in the order their parents' scans settled, which is not the walk's: with a stack, a
   * wide first level (100 directories of 1,000 subdirectories each) had the scan read
   * ahead the last parent's children while the walk needed the first's.
   */
  private readonly todo = new MinHeap<Buffer>(Buffer.compare);
  /** Keys of `todo` still to scan: the walk may ask for one first, and it is then skipped. */
  private readonly wanted = new Set<string>();
  private running = 0;
  /** Entries scanned ahead and not yet handed to the walk. */
  private lead = 0;
  private closed = false;

  constructor(
    private readonly owners: IdNames,
    private readonly opts: ReadEntryMetaOptions,
    private readonly aheadOpts: ScanAheadOptions = {},
  ) {
    const scanDirs = native?.scanDirs;
    if (aheadOpts.scanDirs) this.scanDirs = aheadOpts.scanDirs;
    else if (scanDirs) this.scanDirs = (paths) => scanDirs.call(native, paths);
    else throw new Error('the native addon has no scanDirs');
    this.maxLead = aheadOpts.maxLead ?? 20_000;
    this.concurrency = aheadOpts.concurrency ?? 4;
    this.batch = aheadOpts.batch ?? 16;
  }

  /** True when the addon can scan directories. */
  static available(): boolean {
    return typeof native?.scanDirs === 'function';
  }

  async list(path: Buffer): Promise<DirListing> {
    const key = path.toString('latin1');
    const started = this.ahead.get(key);
    let r: DirScan;
    if (started) {
      this.ahead.delete(key);
      // Settled already: its entries were counted in the lead and its subdirectories queued.
      const settled = started.done;
      r = await started.promise;
      if (settled) this.lead -= r.end - r.start;
      else this.found(path, r);
    } else {
      // Not read ahead (the lead was full): read it now with the directories the walk
      // reaches next, lead or not, so that the walk waits once per batch, not per directory.
      this.wanted.delete(key);
      const [mine] = this.startBatch([path, ...this.next(this.batch - 1)]);
      this.ahead.delete(key); // taken: its settling leaves it to this call
      r = await mine!.promise;
      this.found(path, r);
    }
    this.pump();
    if (r.error !== 0) throw scanError(r.error, r.syscall, path);
    return this.listing(r);
  }

  /** Stops scanning ahead; scans in flight finish and are dropped. */
  close(): void {
    this.closed = true;
    this.todo.clear();
    this.wanted.clear();
    this.ahead.clear();
  }

  /** Queues the subdirectories of a scanned directory. */
  private found(dir: Buffer, r: DirScan): void {
    if (this.closed || r.error !== 0) return;
    const nums = r.scan.nums;
    for (let e = r.start; e < r.end; e++) {
      if (nums[e * NUMS] !== 0 || (nums[e * NUMS + 1]! & 0o170000) !== 0o040000) continue;
      const path = joinPath(dir, nameAt(r.scan, e));
      if (this.aheadOpts.descend && !this.aheadOpts.descend(path, r.scan.ids[e * IDS]!)) continue;
      this.todo.push(walkOrder(path)); // the path, in a form whose byte order is the walk's
      this.wanted.add(path.toString('latin1'));
    }
  }

  /** Up to n queued directories, the walk's next first (those it reached already are dropped). */
  private next(n: number): Buffer[] {
    const paths: Buffer[] = [];
    while (paths.length < n && this.todo.size > 0) {
      const path = pathOf(this.todo.pop()!);
      if (this.wanted.delete(path.toString('latin1'))) paths.push(path); // else the walk got there first
    }
    return paths;
  }

  private pump(): void {
    while (!this.closed && this.running < this.concurrency && this.lead < this.maxLead && this.todo.size > 0) {
      const paths = this.next(this.batch);
      if (paths.length > 0) this.startBatch(paths);
    }
  }

  /** Scans `paths` in one call; each directory's scan is in `ahead` until the walk takes it. */
  private startBatch(paths: Buffer[]): AheadScan[] {
    this.running++;
    const batch = this.scanDirs(paths);
    const entries = paths.map((path, d) => {
      const entry: AheadScan = { promise: batch.then((scan) => dirScan(scan, d)), done: false };
      // A failed batch (out of memory) fails each directory's list() when the walk gets there.
      entry.promise.catch(() => undefined);
      this.ahead.set(path.toString('latin1'), entry);
      return entry;
    });
    const settle = (scan: NativeDirScan | null): void => {
      this.running--;
      paths.forEach((path, d) => {
        const entry = entries[d]!;
        entry.done = true;
        // Taken by the walk meanwhile (it queues the subdirectories then), or closed.
        if (this.closed || this.ahead.get(path.toString('latin1')) !== entry || !scan) return;
        const r = dirScan(scan, d);
        this.lead += r.end - r.start;
        this.found(path, r);
      });
      this.pump();
    };
    batch.then(settle, () => settle(null));
    return entries;
  }

  private listing(r: DirScan): DirListing {
    return {
      length: r.end - r.start,
      name: (i) => nameAt(r.scan, r.start + i),
      meta: (i, path) => {
        const e = r.start + i;
        const err = r.scan.nums[e * NUMS]!;
        if (err !== 0) throw scanError(err, 'lstat', path);
        return this.decode(r.scan, e, path, this.opts);
      },
      raw: () => rawListing(r),
    };
  }

  private decode(r: NativeDirScan, e: number, path: Buffer, opts: ReadEntryMetaOptions): EntryMeta {
    const n = e * NUMS;
    const d = e * IDS;
    const t = e * TIMES;
    const mode = r.nums[n + 1]!;
    const linkTarget =
      (mode & 0o170000) === 0o120000 ? Buffer.from(r.links.subarray(e === 0 ? 0 : r.linkEnds[e - 1]!, r.linkEnds[e]!)) : undefined;
    return entryMeta(
      path,
      mode,
      r.nums[n + 2]!,
      r.nums[n + 3]!,
      r.times[t + 2]! * NS + r.times[t + 3]!,
      r.times[t]! * NS + r.times[t + 1]!,
      r.times[t + 4]! * NS + r.times[t + 5]!,
      r.ids[d]!,
      r.ids[d + 1]!,
      r.nums[n + 4]!,
      r.nums[n + 5]!,
      r.ids[d + 2]!,
      linkTarget,
      this.owners,
      opts,
    );
  }
}

function dirScan(scan: NativeDirScan, d: number): DirScan {
  return {
    scan,
    start: d === 0 ? 0 : scan.dirEnds[d - 1]!,
    end: scan.dirEnds[d]!,
    error: scan.errors[d]!,
    syscall: SYSCALLS[scan.syscalls[d]!] ?? 'scandir',
  };
}

/**
 * A directory's part of the batch: names and link targets with their lengths (the
 * batch's offsets would depend on the batch), views (no copy) of the numbers and ids,
 * then mtimes with ctimes, and last the atimes (copied apart: a memo may leave them out).
 */
function rawListing(r: DirScan): Buffer[] {
  const { scan, start, end } = r;
  const view = (a: Float64Array | BigUint64Array | BigInt64Array, per: number) =>
    Buffer.from(a.buffer, a.byteOffset + start * per * a.BYTES_PER_ELEMENT, (end - start) * per * a.BYTES_PER_ELEMENT);
  const lengths = (ends: Uint32Array) => {
    const out = new Uint32Array(end - start);
    let prev = start === 0 ? 0 : ends[start - 1]!;
    for (let e = start; e < end; e++) {
      out[e - start] = ends[e]! - prev;
      prev = ends[e]!;
    }
    return Buffer.from(out.buffer);
  };
  const bytes = (all: Buffer, ends: Uint32Array) => all.subarray(start === 0 ? 0 : ends[start - 1]!, end === 0 ? 0 : ends[end - 1]!);
  // times[6e ..] = atime, mtime, ctime as seconds and nanoseconds: 12 32-bit words an
  // entry, copied as words (as BigInts they would be allocated one by one).
  const words = new Uint32Array(scan.times.buffer, scan.times.byteOffset + start * TIMES * 8, (end - start) * TIMES * 2);
  const atimes = new Uint32Array(4 * (end - start));
  const mc = new Uint32Array(8 * (end - start));
  for (let i = 0; i < end - start; i++) {
    for (let k = 0; k < 4; k++) atimes[4 * i + k] = words[12 * i + k]!;
    for (let k = 0; k < 8; k++) mc[8 * i + k] = words[12 * i + 4 + k]!;
  }
  const changeTimes = Buffer.from(mc.buffer);
  return [
    lengths(scan.nameEnds),
    bytes(scan.names, scan.nameEnds),
    view(scan.nums, NUMS),
    view(scan.ids, IDS),
    changeTimes,
    lengths(scan.linkEnds),
    bytes(scan.links, scan.linkEnds),
    Buffer.from(atimes.buffer),
  ];
}

/**
 * A path's place in the walk's order, as bytes: the walk goes depth first with each
 * directory's names in byte order, which is byte order of the paths with "/" as the
 * smallest byte (names never hold NUL).
 */
function walkOrder(path: Buffer): Buffer {
  const order = Buffer.from(path);
  for (let i = order.indexOf(0x2f); i !== -1; i = order.indexOf(0x2f, i + 1)) order[i] = 0;
  return order;
}

/** walkOrder's path back (in place: the queue drops it). */
function pathOf(order: Buffer): Buffer {
  for (let i = order.indexOf(0); i !== -1; i = order.indexOf(0, i + 1)) order[i] = 0x2f;
  return order;
}

function nameAt(r: NativeDirScan, e: number): Buffer {
  // A copy, not a view: a name kept in a tree node must not pin the whole batch.
  return Buffer.from(r.names.subarray(e === 0 ? 0 : r.nameEnds[e - 1]!, r.nameEnds[e]!));
}

/** An error shaped like node:fs's: code (ENOENT...), errno (negative), syscall, path. */
function scanError(errno: number, syscall: string, path: Buffer): Error {
  const code = safeErrorName(errno);
  return Object.assign(new Error(`${code}: ${syscall} '${path.toString()}'`), { code, errno: -errno, syscall, path: path.toString() });
}

function safeErrorName(errno: number): string {
  try {
    return getSystemErrorName(-errno);
  } catch {
    return 'UNKNOWN';
  }
}
