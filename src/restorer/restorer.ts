import { lstat, mkdir, open, link, symlink, unlink, rm } from 'node:fs/promises';
import { CairnError, isDamage } from '../core/errors/index.js';
import { isEntryRefusal, targetError, targetRootError } from './target-error.js';
import type { BlobId } from '../core/ids.js';
import { applyEntryMeta } from '../fs/apply-entry-meta.js';
import { createSpecial } from '../fs/create-special.js';
import type { Repository } from '../repository/repository.js';
import type { TreeNode } from '../snapshot/tree.js';
import { selectedTree, type TreeSelection } from './selected-tree.js';
import type { Progress, SnapshotInfo } from '../engine/types.js';
import { BlobSource } from './blob-source.js';
import { BigFileWriter } from './big-file.js';
import { workerError } from './worker-error.js';
import { SmallFileBatcher } from './small-files.js';
import { lstatSync, mkdirSync, rmSync } from 'node:fs';
import type { WorkerPool } from '../pipeline/worker-pool.js';
import { applicableMeta, nodeMeta } from './node-meta.js';
import { WorkSet } from '../util/work-set.js';

/** Files restored at once. */
const MAX_OUTSTANDING_FILES = 16;

export interface RestoreRunOptions {
  target: string;
  pool?: WorkerPool | null;
  /** What to take from the snapshot (--include, --exclude); all of it when absent. */
  selection?: TreeSelection;
  onProgress?: (p: Progress) => void;
  /** Walk the selected trees first to know the totals for percent and ETA. */
  estimateTotals?: boolean;
  signal?: AbortSignal;
}

export interface RestoreStats {
  files: number;
  dirs: number;
  bytes: number;
  warnings: string[];
}

/** What a restore could not bring back because the repository's data for it is damaged or gone. */
export interface DamagedEntry {
  /** Path inside the snapshot. */
  path: string;
  /** A file, or a directory whose listing could not be read (its contents are missing). */
  type: 'file' | 'dir';
  code: string;
  message: string;
}

/**
 * Restores a snapshot's tree under `target`, mirroring absolute paths as restic does
 * (/srv/data/x → TARGET/srv/data/x). Files are written with positioned writes; all-
 * zero chunks are skipped, leaving holes, and the file is truncated to its size, so
 * sparse files come back sparse. Metadata is applied after content, and a directory's
 * after its children, so restored mtimes are the snapshot's.
 */
export class Restorer {
  private readonly blobs: BlobSource;
  /** dev:inode of hard-linked files → the path of the first name restored (once created). */
  private readonly links = new Map<string, Promise<Buffer>>();
  private readonly owner = process.getuid?.() === 0;
  readonly stats: RestoreStats = { files: 0, dirs: 0, bytes: 0, warnings: [] };
  /**
   * Files and directories lost to damaged or missing data. A restore does not stop at
   * the first: it brings back everything else (as restic does), leaves no partly
   * written file, and then fails naming them all.
   */
  readonly damaged: DamagedEntry[] = [];
  /**
   * Entries the target refused (a name its file system cannot hold, an entry it will
   * not let Cairn replace): stepped over like damaged ones, and named at the end.
   */
  readonly refused: DamagedEntry[] = [];
  private readonly selection: TreeSelection;

  private readonly small: SmallFileBatcher;
  private readonly big: BigFileWriter;

  constructor(
    private readonly repo: Repository,
    private readonly opts: RestoreRunOptions,
  ) {
    this.blobs = new BlobSource(repo);
    this.small = new SmallFileBatcher(this.blobs, opts.pool ?? null, this.owner);
    this.big = new BigFileWriter(this.blobs, opts.pool ?? null, opts.signal);
    this.selection = opts.selection ?? {};
  }

  async run(snapshot: SnapshotInfo): Promise<RestoreStats> {
    const target = Buffer.from(this.opts.target);
    // Every blob is looked up once: have the index file in the page cache first.
    const warmed = this.repo.index.warm();
    try {
      await mkdir(target, { recursive: true });
    } catch (err) {
      throw targetRootError(err, this.opts.target);
    }
    await warmed;
    if (this.opts.estimateTotals) this.totals = await this.sumSelected(snapshot.tree, target);
    await this.restoreTree(snapshot.tree, target);
    const details = { damaged: this.damaged, refused: this.refused, files: this.stats.files, dirs: this.stats.dirs };
    const rest = `everything else was restored (${this.stats.files} files, ${this.stats.dirs} directories)`;
    if (this.damaged.length > 0) {
      const n = this.damaged.length;
      const first = this.damaged[0]!;
      const also = this.refused.length > 0 ? `; the target refused ${this.refused.length} more` : '';
      throw new CairnError(
        first.code as 'PACK_CORRUPT' | 'BLOB_MISSING',
        `restore incomplete: the data of ${n} ${n === 1 ? 'entry' : 'entries'} of snapshot ${snapshot.shortId} is damaged or missing in the repository (${first.path}${n > 1 ? ` and ${n - 1} more` : ''})${also}; ${rest}`,
        {
          hint: "'cairn check --read-data' names the damaged packs; 'cairn repair packs' takes them out, and an older snapshot may still hold these files",
          details,
        },
      );
    }
    if (this.refused.length > 0) {
      const n = this.refused.length;
      const first = this.refused[0]!;
      throw new CairnError(first.code as 'IO_ERROR' | 'PERMISSION_DENIED', `restore incomplete: the target refused ${n} ${n === 1 ? 'entry' : 'entries'} (${first.path}: ${first.message}${n > 1 ? `, and ${n - 1} more` : ''}); ${rest}`, {
        hint: 'restore those into another directory or file system, or with --include; the warnings name each one',
        details,
      });
    }
    const includes = this.selection.includes;
    if (includes && this.matched === 0) {
      throw new CairnError('PATH_NOT_FOUND', `nothing in snapshot ${snapshot.shortId} matches ${includes.join(', ')}${this.selection.exclude ? ' (less what --exclude leaves out)' : ''}`, {
        hint: 'paths are absolute inside the snapshot, e.g. /srv/data/file; see `cairn ls`',
      });
    }
    return this.stats;
  }

  /** A subdirectory whose listing is damaged: restored empty, and named. */
  private readonly onDamagedTree = (snapDir: string, err: CairnError): void => {
    this.damaged.push({ path: snapDir, type: 'dir', code: err.code, message: `its listing could not be read, so nothing in it was restored: ${err.message}` });
  };

  /**
   * Restores one entry. One whose data is damaged is named, and the partly written
   * file removed, so that every file the restore leaves is whole. One the target
   * refuses is named and left as the file system has it (what is there may be the
   * user's, which the refusal kept Cairn from replacing). Other errors of the target
   * (a full disk, a failing device) end the restore.
   */
  private async restoreOrName(node: TreeNode, snapPath: string, path: Buffer): Promise<void> {
    try {
      await this.guard(path, () => this.restoreEntry(node, snapPath, path));
      return;
    } catch (err) {
      if (isEntryRefusal(err)) {
        this.refused.push({ path: snapPath, type: 'file', code: err.code, message: err.message });
        return;
      }
      if (!isDamage(err)) throw err;
      this.damaged.push({ path: snapPath, type: 'file', code: err.code, message: err.message });
    }
    try {
      await unlink(path);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw targetError(e, path.toString());
    }
  }

  private totals: { files: number; bytes: number } | undefined;

  /**
   * Entries --include selected (not the directories above them, which are created on
   * the way): none means the include names nothing, even when its parent exists.
   */
  private matched = 0;

  private async sumSelected(tree: BlobId, target: Buffer): Promise<{ files: number; bytes: number }> {
    const t = { files: 0, bytes: 0 };
    for await (const ev of selectedTree(this.repo, tree, this.selection, target, () => undefined)) {
      if (ev.kind === 'entry' && ev.node.type === 'file') {
        t.files++;
        t.bytes += ev.node.size ?? 0;
      }
    }
    return t;
  }

  /**
   * Files are restored concurrently (a few at a time, so small files do not serialise
   * on per-file latency); a directory's metadata is applied once all its entries are
   * done, so its mtime is the snapshot's.
   */
  private async restoreTree(treeId: BlobId, target: Buffer): Promise<void> {
    const pending: Promise<void>[][] = [[]];
    const outstanding = new WorkSet();
    /** Depth inside a directory the target refused: its whole subtree is stepped over. */
    let skipping = 0;
    try {
      for await (const ev of selectedTree(this.repo, treeId, this.selection, target, this.onDamagedTree)) {
        if (this.opts.signal?.aborted) throw new CairnError('CANCELLED', 'restore cancelled; the target holds a partial restore');
        if (skipping > 0) {
          if (ev.kind === 'enter') skipping++;
          else if (ev.kind === 'leave') skipping--;
          continue;
        }
        if (ev.selection === 'all') this.matched++;
        if (ev.kind === 'enter') {
          try {
            await this.guard(ev.path, async () => {
              if (await this.ensureDir(ev.path)) this.freshDirs.add(ev.path.toString('latin1'));
            });
          } catch (err) {
            if (!isEntryRefusal(err)) throw err;
            this.refused.push({ path: ev.snapPath, type: 'dir', code: err.code, message: `${err.message}; nothing in it was restored` });
            skipping = 1;
            continue;
          }
          pending.push([]);
        } else if (ev.kind === 'leave') {
          // The directory is finished when its entries are: the walk goes on meanwhile.
          const children = pending.pop()!;
          const { path, node, snapPath } = ev;
          const done = Promise.all(children).then(async () => {
            this.freshDirs.delete(path.toString('latin1'));
            this.stats.dirs++;
            try {
              await this.guard(path, () => this.applyMeta(path, node));
            } catch (err) {
              if (!isEntryRefusal(err)) throw err;
              this.refused.push({ path: snapPath, type: 'dir', code: err.code, message: err.message });
            }
          });
          done.catch(() => undefined); // awaited below, with the rest
          pending[pending.length - 1]!.push(done);
        } else if (ev.node.type === 'file' && (ev.node.size ?? 0) <= SMALL_FILE && (ev.node.nlink ?? 1) <= 1) {
          // Batched (small-files.ts): bounded by the batches in flight, not by files.
          await this.small.ready();
          const p = this.restoreOrName(ev.node, ev.snapPath, ev.path);
          p.catch(() => undefined); // awaited below, with the rest
          pending[pending.length - 1]!.push(p);
        } else {
          await outstanding.room(MAX_OUTSTANDING_FILES);
          const p = this.restoreOrName(ev.node, ev.snapPath, ev.path);
          outstanding.add(p); // also marks p's rejection handled: it is awaited below
          pending[pending.length - 1]!.push(p);
        }
      }
      this.small.flush();
      await Promise.all(pending.flat());
    } catch (err) {
      this.small.cancel(err);
      await Promise.allSettled(pending.flat());
      throw err;
    }
  }

  private async guard(path: Buffer, fn: () => Promise<void>): Promise<void> {
    try {
      await fn();
    } catch (err) {
      throw targetError(err, path.toString());
    }
  }

  /** Directories this restore created: nothing in them needs removing before it is written. */
  private readonly freshDirs = new Set<string>();

  private async restoreEntry(node: TreeNode, snapPath: string, path: Buffer): Promise<void> {
    const parent = path.subarray(0, path.lastIndexOf(0x2f)).toString('latin1');
    if (!this.freshDirs.has(parent)) await removeExisting(path);
    switch (node.type) {
      case 'file':
        await this.restoreFile(node, snapPath, path);
        break;
      case 'symlink': {
        const target = node.targetRaw !== undefined ? Buffer.from(node.targetRaw, 'base64') : Buffer.from(node.target ?? '');
        await symlink(target, path);
        await this.applyMeta(path, node);
        break;
      }
      default: {
        // fifos and devices; sockets (and devices when not root) come back as a warning.
        const made = await createSpecial(path, node.type, node.mode, node.rdev !== undefined ? BigInt(node.rdev) : 0n);
        if (made.created) await this.applyMeta(path, node);
        else this.stats.warnings.push(made.warning ?? `${snapPath}: ${node.type} not restored`);
      }
    }
  }

  /** Creates the directory; true when it did not exist before (so it is empty). */
  private async ensureDir(path: Buffer): Promise<boolean> {
    // Blocking calls: a mkdir takes microseconds, a round trip through the thread pool
    // more, and the walk waits for it either way.
    try {
      mkdirSync(path, { mode: 0o700 });
      return true;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      if (lstatSync(path).isDirectory()) return false;
      rmSync(path, { force: true });
      mkdirSync(path, { mode: 0o700 });
      return true;
    }
  }

  private async restoreFile(node: TreeNode, snapPath: string, path: Buffer): Promise<void> {
    const linkKey = (node.nlink ?? 1) > 1 && node.inode ? `${node.dev}:${node.inode}` : null;
    const first = linkKey ? this.links.get(linkKey) : undefined;
    if (first) {
      // The first name may still be being written, or waiting in the batch being
      // gathered: send that batch now, and link once the first name exists.
      this.small.flush();
      await link(await first, path);
      this.stats.files++;
      return;
    }
    let created: ((p: Buffer) => void) | undefined;
    let failed: ((e: unknown) => void) | undefined;
    if (linkKey) {
      const p = new Promise<Buffer>((res, rej) => ((created = res), (failed = rej)));
      p.catch(() => undefined);
      this.links.set(linkKey, p);
    }
    try {
      // Other names of the file are linked once it is whole, never to a partial one;
      // whatever fails (a blob the index lacks included) fails them too, so none waits forever.
      await this.writeFile(node, snapPath, path, () => created?.(path));
    } catch (err) {
      failed?.(err);
      throw err;
    }
  }

  /** Creates and writes one file; `whole` is called once its content is all written. */
  private async writeFile(node: TreeNode, snapPath: string, path: Buffer, whole: () => void): Promise<void> {
    const locs = this.blobs.locate(node.content ?? []);
    const total = locs.reduce((n, l) => n + l.rawLength, 0);
    if (total <= SMALL_FILE) {
      // Most files: restored in batches, each pack range read once for the whole batch,
      // the files created, written and finished by a worker with blocking calls.
      const done = await this.small.add({
        path,
        size: node.size ?? total,
        locs,
        meta: applicableMeta(node),
      });
      if (done.error) throw workerError(done.error);
      whole();
      for (const w of done.warnings) this.stats.warnings.push(w);
      this.stats.bytes += total;
      this.fileCounted(node, snapPath, total);
      return;
    }
    const fh = await open(path, 'w', 0o600);
    let pos: number;
    try {
      pos = await this.big.write(path, locs);
      this.stats.bytes += pos;
      await fh.truncate(node.size ?? pos);
    } finally {
      await fh.close();
    }
    whole();
    await this.fileDone(node, snapPath, path, pos);
  }

  private async fileDone(node: TreeNode, snapPath: string, path: Buffer, pos: number): Promise<void> {
    await this.applyMeta(path, node);
    this.fileCounted(node, snapPath, pos);
  }

  private fileCounted(node: TreeNode, snapPath: string, pos: number): void {
    if (pos !== (node.size ?? pos)) {
      this.stats.warnings.push(`${snapPath}: content is ${pos} bytes but the snapshot recorded ${node.size}`);
    }
    this.stats.files++;
    this.opts.onProgress?.({
      phase: 'restore',
      files: this.stats.files,
      bytes: this.stats.bytes,
      ...(this.totals ? { totalFiles: this.totals.files, totalBytes: this.totals.bytes } : {}),
      currentPath: snapPath,
    });
  }

  private async applyMeta(path: Buffer, node: TreeNode): Promise<void> {
    const warnings = await applyEntryMeta(path, nodeMeta(node), { owner: this.owner });
    for (const w of warnings) this.stats.warnings.push(w);
  }
}

/** Files up to this size are written with blocking calls in one go. */
const SMALL_FILE = 1024 * 1024;

async function removeExisting(path: Buffer): Promise<void> {
  try {
    await unlink(path);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') return;
    // A directory in the way (EISDIR on Linux, EPERM elsewhere) is replaced. A file
    // that refuses (EPERM: immutable, append-only) keeps that error: removing it as a
    // directory reported "ENOTDIR, scandir" instead.
    if (code === 'EISDIR' || (code === 'EPERM' && (await lstat(path).catch(() => null))?.isDirectory())) {
      await rm(path, { recursive: true, force: true });
      return;
    }
    throw err;
  }
}
