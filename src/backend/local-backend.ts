import { randomBytes } from 'node:crypto';
import { constants, type Dir, type Dirent } from 'node:fs';
import { mkdir, open, opendir, readdir, rename, stat, unlink, type FileHandle } from 'node:fs/promises';
import { dirname, join, resolve, sep } from 'node:path';
import { CairnError, fromSystemErrorOrIo } from '../core/errors/index.js';
import { assertBackendName, assertBackendPrefix, TEMP_PREFIX } from './assert-backend-name.js';
import { checkRange, truncatedError } from './check-range.js';
import { alignUp, canReadDirect } from '../util/aligned-buffer.js';
import { BackendNotFoundError, type Backend, type ByteRange, type FileInfo, type SaveOptions } from './types.js';

export interface LocalBackendOptions {
  /** Time source for cleanTemp(); tests inject a fixed one. */
  now?: () => number;
}

/** Errno codes that mean "this name is not a stored file" rather than "the disk failed". */
const ABSENT = new Set(['ENOENT', 'ENOTDIR', 'EISDIR']);

/** How many stat() calls list() keeps in flight per directory. */
const STAT_BATCH = 64;
/** Sibling directories listed at once (libuv's pool has 16 threads under bin/cairn). */
const LIST_DIRS_AT_ONCE = 16;
/** Open pack files kept for ranged reads. */
const MAX_PACK_HANDLES = 32;

/**
 * A Backend on a local (or locally mounted) file system. Names map to paths under
 * `root`, `data/ab/<id>` to `<root>/data/ab/<id>`; directories are created on first use.
 *
 * Durability: save() writes `<dir>/.tmp-<random>`, fsyncs it, renames it over the
 * target and fsyncs the directory, so after save() resolves the file survives a crash
 * and at no moment can a reader see a prefix. A killed process may leave `.tmp-*`
 * files behind; list() skips them and cleanTemp() removes old ones.
 */
export class LocalBackend implements Backend {
  readonly location: string;
  private readonly root: string;
  private readonly now: () => number;

  constructor(root: string, options: LocalBackendOptions = {}) {
    this.root = resolve(root);
    this.location = this.root;
    this.now = options.now ?? Date.now;
  }

  async save(name: string, data: Uint8Array, _options?: SaveOptions): Promise<void> {
    assertBackendName(name);
    // rename() replaces atomically, so overwrite and idempotent re-save are the same path.
    const target = this.pathOf(name);
    const dir = dirname(target);
    const temp = join(dir, TEMP_PREFIX + randomBytes(12).toString('hex'));
    let fh: FileHandle | undefined;
    try {
      fh = await this.createTemp(temp, dir);
      await writeAll(fh, data);
      await fh.sync();
      await fh.close();
      fh = undefined;
      await rename(temp, target);
    } catch (err) {
      // A full disk or a failed write must not leave junk behind.
      await fh?.close().catch(() => {});
      await unlink(temp).catch(() => {});
      throw toBackendError(err, `${name} in ${this.location}`);
    }
    try {
      await fsyncDir(dir);
    } catch (err) {
      throw toBackendError(err, `directory of ${name} in ${this.location}`);
    }
  }

  async load(name: string, range?: ByteRange, into?: Uint8Array): Promise<Buffer> {
    assertBackendName(name);
    if (range && name.startsWith('data/')) return this.loadPackRange(name, range, into);
    let fh: FileHandle | undefined;
    try {
      fh = await open(this.pathOf(name), constants.O_RDONLY);
      const s = await fh.stat();
      if (!s.isFile()) throw new BackendNotFoundError(name);
      if (!range) {
        if (into && name.startsWith('data/') && !this.noDirect && canReadDirect(into, s.size)) {
          const read = await this.readDirect(name, s.size, into);
          if (read) return read;
        }
        // A whole file is read as one range: readFile() reads in 512 KiB steps, an
        // event-loop turn each, which a busy main thread (check) then delays.
        return await readRange(fh, name, { offset: 0, length: s.size }, into);
      }
      checkRange(name, range, s.size);
      return await readRange(fh, name, range, into);
    } catch (err) {
      throw this.mapError(err, name);
    } finally {
      await fh?.close().catch(() => {});
    }
  }

  /** Set once this file system refused O_DIRECT (tmpfs, some FUSE): reads go through the page cache. */
  private noDirect = false;

  /**
   * Reads a whole pack with O_DIRECT into `into` (aligned, see canReadDirect): the kernel
   * copies from the device straight into it. Through the page cache the same 716 MB of
   * packs cost 0.5 s of system time, with O_DIRECT 0.08 s, and a check of a big
   * repository no longer pushes the host's working set out of the cache. Null when the
   * file system refuses (then never tried again); the caller reads it the usual way.
   */
  private async readDirect(name: string, size: number, into: Uint8Array): Promise<Buffer | null> {
    let fh: FileHandle | undefined;
    try {
      fh = await open(this.pathOf(name), constants.O_RDONLY | constants.O_DIRECT);
      const want = alignUp(size);
      let filled = 0;
      while (filled < size) {
        // Offsets and lengths stay aligned: only the read that reaches the end returns less.
        const { bytesRead } = await fh.read(into, filled, want - filled, filled);
        if (bytesRead === 0) throw truncatedError(name, { offset: 0, length: size }, filled);
        filled += bytesRead;
      }
      return Buffer.from(into.buffer, into.byteOffset, size);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EINVAL') throw err;
      this.noDirect = true;
      return null;
    } finally {
      await fh?.close().catch(() => {});
    }
  }

  async *list(prefix: string): AsyncIterable<FileInfo> {
    assertBackendPrefix(prefix);
    // Start at the deepest directory the prefix names completely: 'data/ab' walks data/.
    const slash = prefix.lastIndexOf('/');
    const startRel = slash < 0 ? '' : prefix.slice(0, slash);
    yield* this.walk(startRel, prefix);
  }

  async stat(name: string): Promise<FileInfo> {
    assertBackendName(name);
    try {
      const s = await stat(this.pathOf(name));
      if (!s.isFile()) throw new BackendNotFoundError(name);
      return { name, size: s.size };
    } catch (err) {
      throw this.mapError(err, name);
    }
  }

  /**
   * Ranged reads of packs keep the file open (a few dozen at most): restore and
   * incremental scans read many small ranges of the same packs, and open + fstat +
   * close per read cost more than the read. Packs are immutable, so a cached handle
   * never sees stale data; remove() and close() drop it.
   */
  private readonly packHandles = new Map<string, Promise<{ fh: FileHandle; size: number }>>();

  private packHandle(name: string): Promise<{ fh: FileHandle; size: number }> {
    let p = this.packHandles.get(name);
    if (p) {
      this.packHandles.delete(name); // re-insert: most recently used last
      this.packHandles.set(name, p);
      return p;
    }
    p = (async () => {
      const fh = await open(this.pathOf(name), constants.O_RDONLY);
      const s = await fh.stat();
      if (!s.isFile()) {
        await fh.close();
        throw new BackendNotFoundError(name);
      }
      return { fh, size: s.size };
    })();
    p.catch(() => this.packHandles.delete(name));
    this.packHandles.set(name, p);
    while (this.packHandles.size > MAX_PACK_HANDLES) {
      const [oldest, h] = this.packHandles.entries().next().value as [string, Promise<{ fh: FileHandle }>];
      this.packHandles.delete(oldest);
      // In-flight reads on it finish first: close after they settle.
      void h.then(({ fh }) => setTimeout(() => void fh.close().catch(() => {}), 1000).unref()).catch(() => {});
    }
    return p;
  }

  private async loadPackRange(name: string, range: ByteRange, into?: Uint8Array): Promise<Buffer> {
    try {
      const { fh, size } = await this.packHandle(name);
      checkRange(name, range, size);
      return await readRange(fh, name, range, into);
    } catch (err) {
      throw this.mapError(err, name);
    }
  }

  private dropPackHandle(name: string): void {
    const h = this.packHandles.get(name);
    if (!h) return;
    this.packHandles.delete(name);
    void h.then(({ fh }) => fh.close()).catch(() => {});
  }

  async remove(name: string): Promise<void> {
    this.dropPackHandle(name);
    assertBackendName(name);
    const path = this.pathOf(name);
    try {
      await unlink(path);
    } catch (err) {
      if (ABSENT.has((err as NodeJS.ErrnoException).code ?? '')) return;
      throw toBackendError(err, `${name} in ${this.location}`);
    }
    // Without this a crash could resurrect a removed lock or index file.
    await fsyncDir(dirname(path)).catch((err) => {
      throw toBackendError(err, `directory of ${name} in ${this.location}`);
    });
  }

  async close(): Promise<void> {
    const handles = [...this.packHandles.values()];
    this.packHandles.clear();
    await Promise.all(handles.map((h) => h.then(({ fh }) => fh.close()).catch(() => {})));
  }

  /**
   * Removes `.tmp-*` files older than maxAgeMs, left by processes killed mid-save.
   * The age limit matters: another process may be saving into the same repository right
   * now, and its temp files are young. Returns how many files were removed.
   */
  async cleanup(olderThanMs: number): Promise<number> {
    return this.cleanTemp(olderThanMs);
  }

  async cleanTemp(maxAgeMs: number): Promise<number> {
    const cutoff = this.now() - maxAgeMs;
    let removed = 0;
    const visit = async (dir: string): Promise<void> => {
      for (const entry of await readDirOrEmpty(dir)) {
        const path = join(dir, entry.name);
        if (entry.isDirectory()) {
          await visit(path);
        } else if (entry.name.startsWith(TEMP_PREFIX)) {
          const s = await stat(path).catch(() => undefined);
          if (s && s.mtimeMs <= cutoff) {
            await unlink(path).then(
              () => removed++,
              () => {},
            );
          }
        }
      }
    };
    try {
      await visit(this.root);
    } catch (err) {
      throw toBackendError(err, `temporary files in ${this.location}`);
    }
    return removed;
  }

  private pathOf(name: string): string {
    return join(this.root, ...name.split('/'));
  }

  /** Opens the temp file exclusively, creating missing directories (data/ab/) on first use. */
  private async createTemp(temp: string, dir: string): Promise<FileHandle> {
    const flags = constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL;
    try {
      return await open(temp, flags, 0o644);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    }
    const first = await mkdirWithCause(dir);
    // Each new directory's entry lives in its parent, so sync the parents too. A
    // concurrent save may have created some of them (and not synced them yet), so sync
    // every level up to the root rather than trusting `first`. This runs only on the
    // first save into a directory.
    for (let d = dir; d !== this.root; d = dirname(d)) await fsyncDir(dirname(d));
    if (first !== undefined && (first === this.root || this.root.startsWith(first + sep))) {
      // The root itself was new; never touch parents we did not create (may be unreadable).
      for (let d = this.root; ; d = dirname(d)) {
        await fsyncDir(dirname(d));
        if (d === first) break;
      }
    }
    return await open(temp, flags, 0o644);
  }

  /** Depth-first walk that streams entries and stats files in batches as it goes. */
  private async *walk(rel: string, prefix: string): AsyncGenerator<FileInfo> {
    const where = `listing ${rel || '/'} in ${this.location}`;
    let handle: Dir;
    try {
      handle = await opendir(rel === '' ? this.root : this.pathOf(rel), { bufferSize: 256 });
    } catch (err) {
      if (ABSENT.has((err as NodeJS.ErrnoException).code ?? '')) return; // nothing saved here yet
      throw toBackendError(err, where);
    }
    const dirs: string[] = [];
    let batch: string[] = [];
    try {
      for await (const entry of handle) {
        if (entry.name.startsWith(TEMP_PREFIX)) continue;
        const childRel = rel === '' ? entry.name : `${rel}/${entry.name}`;
        if (entry.isDirectory()) {
          // Descend only where names can still match: 'data/ab' needs data/ but not index/.
          if (childRel.startsWith(prefix) || prefix.startsWith(childRel + '/')) dirs.push(childRel);
        } else if (childRel.startsWith(prefix) && (entry.isFile() || entry.isSymbolicLink())) {
          batch.push(childRel);
          if (batch.length >= STAT_BATCH) {
            yield* await this.statBatch(batch);
            batch = [];
          }
        }
      }
      yield* await this.statBatch(batch);
    } catch (err) {
      throw toBackendError(err, where);
    }
    yield* this.walkEach(dirs, prefix);
  }

  /**
   * The walks of sibling directories, LIST_DIRS_AT_ONCE at a time, each read whole and
   * yielded in order. One at a time, every subdirectory and every pack's stat waited for
   * the one before: listing the bench repository's data/ cold took 27–30 ms, 16–22 ms
   * this way, and a file system with a long round trip (NFS) gains more. A subdirectory
   * holds 1/256 of the packs, so reading one whole ahead costs little memory.
   */
  private async *walkEach(dirs: string[], prefix: string): AsyncGenerator<FileInfo> {
    const collect = async (d: string): Promise<FileInfo[]> => {
      const out: FileInfo[] = [];
      for await (const f of this.walk(d, prefix)) out.push(f);
      return out;
    };
    const ahead: Promise<FileInfo[]>[] = [];
    let next = 0;
    const fill = (): void => {
      while (next < dirs.length && ahead.length < LIST_DIRS_AT_ONCE) {
        const p = collect(dirs[next++]!);
        p.catch(() => undefined); // awaited in turn below; failing early is not unhandled
        ahead.push(p);
      }
    };
    fill();
    while (ahead.length > 0) {
      const infos = await ahead.shift()!;
      fill();
      yield* infos;
    }
  }

  private async statBatch(rels: string[]): Promise<FileInfo[]> {
    const infos = await Promise.all(rels.map((rel) => this.statForList(rel)));
    return infos.filter((info): info is FileInfo => info !== undefined);
  }

  /** A file removed between readdir and stat is simply no longer there. */
  private async statForList(rel: string): Promise<FileInfo | undefined> {
    try {
      const s = await stat(this.pathOf(rel));
      return s.isFile() ? { name: rel, size: s.size } : undefined;
    } catch (err) {
      if (ABSENT.has((err as NodeJS.ErrnoException).code ?? '')) return undefined;
      throw toBackendError(err, `${rel} in ${this.location}`);
    }
  }

  private mapError(err: unknown, name: string): unknown {
    if (err instanceof BackendNotFoundError || err instanceof CairnError) return err;
    if (ABSENT.has((err as NodeJS.ErrnoException).code ?? '')) return new BackendNotFoundError(name);
    return toBackendError(err, `${name} in ${this.location}`);
  }
}

async function writeAll(fh: FileHandle, data: Uint8Array): Promise<void> {
  let written = 0;
  while (written < data.length) {
    const { bytesWritten } = await fh.write(data, written, data.length - written, written);
    written += bytesWritten;
  }
}

async function fsyncDir(dir: string): Promise<void> {
  const fh = await open(dir, constants.O_RDONLY | constants.O_DIRECTORY);
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
}

/** A missing directory has no entries (nothing was saved there yet). */
async function readDirOrEmpty(dir: string): Promise<Dirent[]> {
  try {
    return await readdir(dir, { withFileTypes: true });
  } catch (err) {
    if (ABSENT.has((err as NodeJS.ErrnoException).code ?? '')) return [];
    throw err;
  }
}

/**
 * The contract promises CairnErrors, so errno codes that fromSystemError leaves alone
 * (EISDIR on rename, EMFILE, ...) become IO_ERROR. Errors without an errno code are bugs
 * and pass through with their stack.
 */
/**
 * mkdir -p that reports why it failed. Node's recursive mkdir says ENOENT whenever a
 * level could not be made, even when the file system is read-only or the parent is not
 * writable; making the levels one by one gets the real errno (EROFS, EACCES).
 */
async function mkdirWithCause(dir: string): Promise<string | undefined> {
  try {
    return await mkdir(dir, { recursive: true });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
  const missing: string[] = [];
  for (let d = dir; dirname(d) !== d; d = dirname(d)) {
    const exists = await stat(d).then(
      () => true,
      () => false,
    );
    if (exists) break;
    missing.unshift(d);
  }
  for (const d of missing) {
    // EEXIST: a concurrent save made this level first.
    await mkdir(d).catch((err: NodeJS.ErrnoException) => {
      if (err.code !== 'EEXIST') throw err;
    });
  }
  return missing[0];
}

function toBackendError(err: unknown, what: string): unknown {
  return fromSystemErrorOrIo(err, what, (e) => `${e.code} on ${what}`);
}

/**
 * Positional reads: a 20-byte blob from a 100 MiB pack reads 20 bytes. Reads into
 * `into` when the range fits in it (a view of it is returned), else into a new Buffer.
 */
async function readRange(fh: FileHandle, name: string, range: ByteRange, into?: Uint8Array): Promise<Buffer> {
  const buf = into && into.length >= range.length ? Buffer.from(into.buffer, into.byteOffset, range.length) : Buffer.allocUnsafe(range.length);
  let filled = 0;
  while (filled < range.length) {
    const { bytesRead } = await fh.read(buf, filled, range.length - filled, range.offset + filled);
    if (bytesRead === 0) throw truncatedError(name, range, range.offset + filled);
    filled += bytesRead;
  }
  return buf;
}
