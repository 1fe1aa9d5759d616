import { closeSync, constants, fstatSync, openSync, readSync } from 'node:fs';
import { CairnError, fromSystemError } from '../core/errors/index.js';
import { readEntryMeta } from './read-entry-meta.js';
import { idNames } from './id-names.js';
import { ScanDirLister, SyncDirLister, type DirListing, type DirLister } from './dir-lister.js';
import { joinPath } from './join-path.js';
import type { EntryMeta } from './types.js';

/**
 * What walk() yields, depth-first, children of a directory sorted by the raw bytes of
 * their names (Buffer.compare, the tree format's order):
 *
 *   enter(dir)  ...its children...  leave(dir)      for every directory, root included
 *   entry(x)                                        for every other entry
 *
 * Every enter is matched by exactly one leave, so the archiver can keep a stack of open
 * directories, add children to the top one, and write a directory's tree at its leave.
 * `leave` repeats `meta` and the flags of its `enter` so the pop needs no lookup.
 */
export type WalkEntry = WalkDirEvent | WalkFileEvent;

export interface WalkFileEvent {
  kind: 'entry';
  /** Full path: the root as given joined with the raw names below it. */
  path: Buffer;
  /** Last component of `path`; for the root its basename ("/" has an empty name). */
  name: Buffer;
  meta: EntryMeta;
  /** 0 for the root, 1 for its children, ... */
  depth: number;
}

export interface WalkDirEvent {
  kind: 'enter' | 'leave';
  path: Buffer;
  name: Buffer;
  meta: EntryMeta;
  depth: number;
  /** Set when the directory could not be listed: it was reported to onError and has
   *  no children here, but is still recorded (with its own metadata). */
  error?: unknown;
  /** Set when oneFileSystem kept the walk out of this mount point: recorded, empty. */
  otherFileSystem?: boolean;
  /**
   * The directory's listing as read (DirListing.raw), before excludes: names and every
   * entry's lstat. Absent when it was not listed or the lister has no raw form. A
   * function: made only when asked for, as events may wait in a read-ahead (a few
   * small buffers per directory held there were ~60 MB at 100k directories).
   */
  rawListing?: () => Buffer[];
}

export interface WalkOptions {
  /** True to skip an entry (and, for a directory, all below it). Not asked for the root. */
  exclude?: (path: Buffer, isDir: boolean) => boolean;
  /** Do not descend into directories on another device than the root (like restic -x). */
  oneFileSystem?: boolean;
  /** An entry that vanished or could not be read (lstat/readlink failed: it is skipped),
   *  or a directory that could not be listed (recorded empty with `error`). Without a
   *  handler such errors are thrown and end the walk. */
  onError?: (path: Buffer, err: unknown) => void;
  /** Read xattrs (default true); see readEntryMeta. */
  xattrs?: boolean;
  /** Regular files larger than this many bytes are left out (restic's --exclude-larger-than). */
  excludeLargerThan?: number;
  /**
   * A directory holding one of these files (starting with `header`, when given) keeps
   * only that file: the rest of its contents is left out, the directory and the marker
   * are kept (restic's --exclude-if-present and --exclude-caches). Not asked for the root.
   */
  excludeIfPresent?: readonly IfPresent[];
  /** Lists a directory; injectable so tests can make one unreadable even as root. */
  readdir?: (path: Buffer) => Promise<Buffer[]>;
}

/** A marker file for WalkOptions.excludeIfPresent. */
export interface IfPresent {
  name: Buffer;
  header?: Buffer;
}

/** Entries walked between two turns of the event loop, so uploads and worker messages keep flowing. */
const ENTRIES_PER_TURN = 1024;

interface Frame {
  event: WalkDirEvent;
  listing: DirListing | null;
  next: number;
}

const SLASH = 0x2f;

/**
 * Walks `root` (never following symlinks). A root that cannot be lstat'ed is an error
 * (SOURCE_NOT_FOUND when missing); a root that is not a directory yields one entry.
 * Directories are listed with the addon's scanDirs, read ahead of the walk on the thread
 * pool (ScanDirLister), or without the addon, or with `opts.readdir`, with readdir and a
 * blocking lstat per entry (SyncDirLister).
 */
export async function* walk(root: Buffer, opts: WalkOptions = {}): AsyncGenerator<WalkEntry> {
  const rootPath = trimTrailingSlashes(root);
  const readOpts = { xattrs: opts.xattrs !== false };
  const onError =
    opts.onError ??
    ((_path: Buffer, err: unknown) => {
      throw err;
    });

  let rootMeta: EntryMeta;
  try {
    rootMeta = await readEntryMeta(rootPath, readOpts);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') {
      throw new CairnError('SOURCE_NOT_FOUND', `backup source does not exist: ${rootPath.toString()}`, {
        cause: err,
      });
    }
    throw fromSystemError(err, rootPath.toString());
  }
  if (rootMeta.type !== 'dir') {
    yield { kind: 'entry', path: rootPath, name: baseName(rootPath), meta: rootMeta, depth: 0 };
    return;
  }

  const owners = await idNames();
  const otherFileSystem = (dev: bigint): boolean => opts.oneFileSystem === true && dev !== rootMeta.dev;
  const lister: DirLister =
    opts.readdir || !ScanDirLister.available()
      ? new SyncDirLister(owners, readOpts, opts.readdir)
      : new ScanDirLister(owners, readOpts, {
          // Read ahead only what the walk will enter.
          descend: (path, dev) => !otherFileSystem(dev) && !opts.exclude?.(path, true),
        });
  const stack: Frame[] = [];
  let sinceTurn = 0;
  // Opens a directory: lists it (unless it is another file system) and yields its enter.
  async function* open(path: Buffer, name: Buffer, meta: EntryMeta, depth: number): AsyncGenerator<WalkEntry> {
    const event: WalkDirEvent = { kind: 'enter', path, name, meta, depth };
    let listing: DirListing | null = null;
    if (otherFileSystem(meta.dev)) {
      event.otherFileSystem = true;
    } else {
      try {
        listing = await lister.list(path);
        if (listing.raw) event.rawListing = listing.raw;
        if (depth > 0 && opts.excludeIfPresent?.length) listing = markedOnly(listing, path, opts.excludeIfPresent);
      } catch (err) {
        onError(path, err);
        event.error = err;
      }
    }
    yield event;
    stack.push({ event, listing, next: 0 });
  }

  try {
    yield* open(rootPath, baseName(rootPath), rootMeta, 0);
    while (stack.length > 0) {
      const frame = stack[stack.length - 1]!;
      if (!frame.listing || frame.next >= frame.listing.length) {
        stack.pop();
        yield { ...frame.event, kind: 'leave' };
        continue;
      }
      const index = frame.next++;
      const name = frame.listing.name(index);
      const path = joinPath(frame.event.path, name);
      if (++sinceTurn === ENTRIES_PER_TURN) {
        sinceTurn = 0;
        await new Promise((r) => setImmediate(r));
      }
      let meta: EntryMeta;
      try {
        meta = frame.listing.meta(index, path);
      } catch (err) {
        onError(path, err);
        continue;
      }
      const isDir = meta.type === 'dir';
      if (opts.exclude?.(path, isDir)) continue;
      if (opts.excludeLargerThan !== undefined && meta.type === 'file' && meta.size > opts.excludeLargerThan) continue;
      const depth = frame.event.depth + 1;
      if (isDir) yield* open(path, name, meta, depth);
      else yield { kind: 'entry', path, name, meta, depth };
    }
  } finally {
    lister.close?.();
  }
}

/**
 * The listing of only the first marker present (with its header, when one is asked for),
 * or the listing itself when none is. A marker that cannot be read does not mark.
 */
function markedOnly(listing: DirListing, dir: Buffer, markers: readonly IfPresent[]): DirListing {
  for (let i = 0; i < listing.length; i++) {
    const name = listing.name(i);
    const marker = markers.find((m) => m.name.equals(name));
    if (!marker || (marker.header && !startsWith(joinPath(dir, name), marker.header))) continue;
    return { length: 1, name: () => listing.name(i), meta: (_i, path) => listing.meta(i, path) };
  }
  return listing;
}

/** Whether the regular file at `path` begins with `header` (false when it cannot be read). */
function startsWith(path: Buffer, header: Buffer): boolean {
  let fd: number | undefined;
  try {
    fd = openSync(path, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK);
    if (!fstatSync(fd).isFile()) return false;
    const buf = Buffer.alloc(header.length);
    let got = 0;
    while (got < buf.length) {
      const n = readSync(fd, buf, got, buf.length - got, got);
      if (n === 0) break;
      got += n;
    }
    return got === header.length && buf.equals(header);
  } catch {
    return false;
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
}

/** An entry the walk could not read or list, in the place where walk() reported it. */
export interface WalkErrorEvent {
  kind: 'error';
  path: Buffer;
  error: unknown;
}

/**
 * walk() with its errors as events in the stream instead of calls to `onError`, so that
 * the walk can be read ahead (see ReadAhead) and its errors still reach the consumer in
 * order: an error comes before the event that followed it in walk().
 */
export async function* walkEvents(root: Buffer, opts: Omit<WalkOptions, 'onError'> = {}): AsyncGenerator<WalkEntry | WalkErrorEvent> {
  const errors: WalkErrorEvent[] = [];
  const walking = walk(root, { ...opts, onError: (path, error) => void errors.push({ kind: 'error', path, error }) });
  for await (const ev of walking) {
    if (errors.length > 0) yield* errors.splice(0);
    yield ev;
  }
  yield* errors.splice(0);
}

function baseName(path: Buffer): Buffer {
  return path.subarray(path.lastIndexOf(SLASH) + 1);
}

/** "/a/b/" -> "/a/b", but "/" stays "/". */
function trimTrailingSlashes(path: Buffer): Buffer {
  let end = path.length;
  while (end > 1 && path[end - 1] === SLASH) end--;
  return path.subarray(0, end);
}
