import { mkdir, open, link, symlink, unlink, lstat, rm } from 'node:fs/promises';
import { CairnError, fromSystemError } from '../core/errors/index.js';
import type { BlobId } from '../core/ids.js';
import { applyEntryMeta } from '../fs/apply-entry-meta.js';
import { createSpecial } from '../fs/create-special.js';
import { isAllZero } from '../fs/sparse.js';
import type { Repository } from '../repository/repository.js';
import type { TreeNode } from '../snapshot/tree.js';
import { normaliseIncludes, selectedTree } from './selected-tree.js';
import type { Progress, SnapshotInfo } from '../engine/types.js';
import { BlobSource } from './blob-source.js';
import { nodeMeta } from './node-meta.js';

export interface RestoreRunOptions {
  target: string;
  include?: string[];
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

/**
 * Restores a snapshot's tree under `target`, mirroring absolute paths as restic does
 * (/srv/data/x → TARGET/srv/data/x). Files are written with positioned writes; all-
 * zero chunks are skipped, leaving holes, and the file is truncated to its size, so
 * sparse files come back sparse. Metadata is applied after content, and a directory's
 * after its children, so restored mtimes are the snapshot's.
 */
export class Restorer {
  private readonly blobs: BlobSource;
  private readonly links = new Map<string, Buffer>();
  private readonly owner = process.getuid?.() === 0;
  readonly stats: RestoreStats = { files: 0, dirs: 0, bytes: 0, warnings: [] };
  private readonly includes: string[] | undefined;

  constructor(
    private readonly repo: Repository,
    private readonly opts: RestoreRunOptions,
  ) {
    this.blobs = new BlobSource(repo);
    this.includes = normaliseIncludes(opts.include);
  }

  async run(snapshot: SnapshotInfo): Promise<RestoreStats> {
    const target = Buffer.from(this.opts.target);
    try {
      await mkdir(target, { recursive: true });
    } catch (err) {
      throw fromSystemError(err, this.opts.target);
    }
    if (this.opts.estimateTotals) this.totals = await this.sumSelected(snapshot.tree, target);
    await this.restoreTree(snapshot.tree, target);
    if (this.includes && this.stats.files + this.stats.dirs === 0) {
      throw new CairnError('PATH_NOT_FOUND', `nothing in snapshot ${snapshot.shortId} matches ${this.includes.join(', ')}`, {
        hint: 'paths are absolute inside the snapshot, e.g. /srv/data/file; see `cairn ls`',
      });
    }
    return this.stats;
  }

  private totals: { files: number; bytes: number } | undefined;

  private async sumSelected(tree: BlobId, target: Buffer): Promise<{ files: number; bytes: number }> {
    const t = { files: 0, bytes: 0 };
    for await (const ev of selectedTree(this.repo, tree, this.includes, target)) {
      if (ev.kind === 'entry' && ev.node.type === 'file') {
        t.files++;
        t.bytes += ev.node.size ?? 0;
      }
    }
    return t;
  }

  private async restoreTree(treeId: BlobId, target: Buffer): Promise<void> {
    for await (const ev of selectedTree(this.repo, treeId, this.includes, target)) {
      if (this.opts.signal?.aborted) throw new CairnError('CANCELLED', 'restore cancelled; the target holds a partial restore');
      try {
        if (ev.kind === 'enter') await this.ensureDir(ev.path);
        else if (ev.kind === 'leave') {
          this.stats.dirs++;
          await this.applyMeta(ev.path, ev.node);
        } else await this.restoreEntry(ev.node, ev.snapPath, ev.path);
      } catch (err) {
        throw fromSystemError(err, ev.path.toString());
      }
    }
  }

  private async restoreEntry(node: TreeNode, snapPath: string, path: Buffer): Promise<void> {
    await removeExisting(path);
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

  private async ensureDir(path: Buffer): Promise<void> {
    try {
      await mkdir(path, { mode: 0o700 });
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      const st = await lstat(path);
      if (!st.isDirectory()) {
        await rm(path, { force: true });
        await mkdir(path, { mode: 0o700 });
      }
    }
  }

  private async restoreFile(node: TreeNode, snapPath: string, path: Buffer): Promise<void> {
    const linkKey = (node.nlink ?? 1) > 1 && node.inode ? `${node.dev}:${node.inode}` : null;
    const first = linkKey ? this.links.get(linkKey) : undefined;
    if (first) {
      await link(first, path);
      this.stats.files++;
      return;
    }
    const fh = await open(path, 'w', 0o600);
    let pos = 0;
    try {
      for (const id of node.content ?? []) {
        const data = await this.blobs.get(id);
        if (!isAllZero(data)) await writeAll(fh, data, pos);
        pos += data.length;
        this.stats.bytes += data.length;
      }
      await fh.truncate(node.size ?? pos);
    } finally {
      await fh.close();
    }
    if (pos !== (node.size ?? pos)) {
      this.stats.warnings.push(`${snapPath}: content is ${pos} bytes but the snapshot recorded ${node.size}`);
    }
    await this.applyMeta(path, node);
    if (linkKey) this.links.set(linkKey, path);
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

async function writeAll(fh: import('node:fs/promises').FileHandle, data: Buffer, position: number): Promise<void> {
  let off = 0;
  while (off < data.length) {
    const { bytesWritten } = await fh.write(data, off, data.length - off, position + off);
    off += bytesWritten;
  }
}

async function removeExisting(path: Buffer): Promise<void> {
  try {
    await unlink(path);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') return;
    if (code === 'EISDIR' || code === 'EPERM') {
      await rm(path, { recursive: true, force: true });
      return;
    }
    throw err;
  }
}
