import { basename } from 'node:path';
import { CairnError } from '../core/errors/index.js';
import type { BlobId } from '../core/ids.js';
import { createCutFinder } from '../chunker/create-cut-finder.js';
import type { EntryMeta } from '../fs/types.js';
import { walkEvents } from '../fs/walker.js';
import type { WalkStream } from './walk-ahead.js';
import { walkOptionsFor, type WalkFilters } from './select-files.js';
import { readXattrs } from '../fs/read-entry-meta.js';
import type { BlobSaver } from '../repository/blob-saver.js';
import type { Repository } from '../repository/repository.js';
import { encodeTreeFromNodes, type TreeNode } from '../snapshot/tree.js';
import type { Progress, SnapshotSummary, SourceWarning } from '../engine/types.js';
import { nodeFromMeta, sameInodeAndCtime, unchangedSince, xattrNodes } from './node-from-meta.js';
import { readFileOnMain } from './file-reader.js';
import { ParentTrees, takeNode } from './parent-trees.js';
import { VirtualDir } from './virtual-dir.js';
import type { FileResult } from '../pipeline/file-task.js';
import type { Totals } from './scan-totals.js';
import type { LazyPool } from '../pipeline/lazy-pool.js';
import { WorkSet } from '../util/work-set.js';
import { DirMemo, type DirMemoEntry, type DirMemoRecorder } from './dir-memo.js';
import { AbortGate } from '../util/abort-gate.js';

export interface ArchiveOptions {
  /** Absolute, normalised paths, none inside another. */
  paths: string[];
  /** Root tree of the parent snapshot; files unchanged since it are not read. */
  parentTree: BlobId | null;
  /** `full` reads everything even with a parent. */
  reuseUnchanged: boolean;
  /**
   * Every blob the parent names is known to be stored (see parentIsStored): reuse it
   * on metadata alone. Otherwise each reused blob and tree is looked up in the index,
   * and one that is missing is read and stored again.
   */
  parentStored?: boolean;
  /** Which entries the walk yields: excludes, one file system, size limit, markers. */
  filters?: WalkFilters;
  onProgress?: (p: Progress) => void;
  /** Filled in concurrently by scanTotals; reported once complete. */
  totals?: Totals;
  /** Workers that read and store files; without it files are read on the main thread. */
  pool?: LazyPool | null;
  onWarning?: (w: SourceWarning) => void;
  signal?: AbortSignal;
  /**
   * The one path is a staging directory whose contents become the snapshot's root
   * (a database base backup), so paths inside the snapshot are relative to it.
   */
  asRoot?: boolean;
  /** The walk read ahead for the first path (see WalkAhead); asked for once. */
  takeWalk?: () => Promise<{ path: string; walk: WalkStream } | undefined>;
  /** Record access times (off by default: see nodeFromMeta). */
  atime?: boolean;
  /** The parent snapshot's directories by listing: one listed as before is not built again. */
  memo?: DirMemo | null;
  /** Receives this backup's directories, for the next backup's memo. */
  record?: DirMemoRecorder;
}

export interface ArchiveResult {
  tree: BlobId;
  summary: Omit<SnapshotSummary, 'dataBlobs' | 'treeBlobs' | 'packs' | 'bytesAdded' | 'bytesAddedPacked' | 'durationMs'>;
  warnings: SourceWarning[];
  partial: boolean;
}

interface Frame {
  path: Buffer;
  name: Buffer;
  meta: EntryMeta;
  /**
   * Children in walk order, which is tree order; files and subdirectories are finished
   * concurrently. A finished child is kept encoded (its JSON), null when it was skipped.
   */
  nodes: (Promise<string | null> | string | null)[];
  /** The last child's name, to prove the walk's order is the tree's. */
  lastName: Buffer | null;
  /** The parent snapshot's nodes of the children, by name; for a memo hit, loaded when a child first needs one. */
  parent: Map<string, TreeNode> | null;
  parentNode: TreeNode | undefined;
  /** The subdirectories' tree ids, in walk order. */
  subtrees: Promise<BlobId>[];
  /** The listing's memo key; absent when the lister has no raw listing. */
  listingKey?: Buffer;
  /**
   * The parent snapshot's directory with this same listing (DirMemo): its entries other
   * than subdirectories are neither read nor built, and its tree is taken as it was.
   */
  hit?: DirMemoEntry;
  /** Cleared when an entry was skipped or changed while read: the tree then is not what the listing alone gives, and is not recorded. */
  clean: boolean;
}

/**
 * Files read at once: enough to hide per-file open/stat latency, few enough to bound
 * memory. With 32, each worker ran out of files before the main thread sent the next
 * batch, and waking it cost the main thread ~130 us (three busy threads on two cores);
 * 64 measured ~4% faster on 50k small files, the same on the bench set (time and peak).
 */
const MAX_OUTSTANDING_FILES = 64;

/**
 * Walks the source paths and turns them into trees: file content through the
 * chunker into data blobs, each directory into a tree blob, bottom-up. Files whose
 * metadata matches the parent snapshot reuse its blob list without being read.
 */
export class Archiver {
  private readonly warnings: SourceWarning[] = [];
  private partial = false;
  private readonly stats = {
    filesNew: 0,
    filesChanged: 0,
    filesUnchanged: 0,
    dirsNew: 0,
    dirsChanged: 0,
    dirsUnchanged: 0,
    bytesRead: 0,
    errors: 0,
  };
  private files = 0;
  /** Bytes of files done, read or not (unchanged files count too, so percent reaches 100). */
  private processed = 0;
  /** dev:inode of hard-linked files already read in this backup → their content. */
  private readonly hardLinks = new Map<string, { size: number; mtime: string; content: BlobId[] }>();

  constructor(
    private readonly repo: Repository,
    private readonly saver: BlobSaver,
    private readonly opts: ArchiveOptions,
  ) {
    this.cancel = new AbortGate(opts.signal, () => new CairnError('CANCELLED', 'backup cancelled; nothing was committed'));
    this.parents = new ParentTrees(repo, opts.parentTree);
  }

  private readonly parents: ParentTrees;

  /** Waits for workers that end at once on cancel: the pool is terminated by the caller. */
  private readonly cancel: AbortGate;

  async run(): Promise<ArchiveResult> {
    try {
      return await this.archive();
    } catch (err) {
      // Let file tasks still in flight settle before the caller tears down the saver.
      await this.outstanding.drained();
      throw err;
    } finally {
      this.cancel.close();
    }
  }

  private async archive(): Promise<ArchiveResult> {
    // Every unchanged file's blobs are looked up in the index cache: have its file in the
    // page cache first (one sequential read, concurrent with the walk; never fails).
    void this.repo.index.warm();
    if (this.opts.paths.length === 1 && (this.opts.paths[0] === '/' || this.opts.asRoot)) {
      const node = await this.archivePath(this.opts.paths[0]!);
      if (!node?.subtree) throw new CairnError('SOURCE_NOT_FOUND', `${this.opts.paths[0]} is not a readable directory`);
      return { tree: node!.subtree!, summary: { ...this.stats }, warnings: this.warnings, partial: this.partial };
    }
    const top = new VirtualDir();
    for (const p of this.opts.paths) {
      const node = await this.archivePath(p);
      if (node) top.place(p.split('/').filter(Boolean), node);
    }
    const root = await top.toTree('', async (bytes) => (await this.saver.save('tree', bytes)).id, this.opts.atime === true);
    return {
      tree: root,
      summary: { ...this.stats },
      warnings: this.warnings,
      partial: this.partial,
    };
  }

  private warn(path: Buffer | string, code: SourceWarning['code'], message: string): void {
    const w = { path: typeof path === 'string' ? path : path.toString(), code, message };
    this.warnings.push(w);
    if (code === 'UNREADABLE') {
      this.partial = true;
      this.stats.errors++;
    }
    this.opts.onWarning?.(w);
  }

  /** A memo hit's map of parent nodes is its old tree's, loaded the first time a child needs one. */
  private async loadParentMap(frame: Frame): Promise<void> {
    if (frame.hit && !frame.parent) frame.parent = await this.parents.children(frame.hit.tree);
  }

  /** An entry of a directory taken from the memo: not read, not built, only counted. */
  private countUnchanged(meta: EntryMeta, path: Buffer): void {
    if (meta.type !== 'file') return;
    this.files++;
    this.stats.filesUnchanged++;
    this.processed += meta.size;
    if (this.files % 256 === 0) this.progress(path);
  }

  private progress(path: Buffer): void {
    const t = this.opts.totals;
    this.opts.onProgress?.({
      phase: 'backup',
      files: this.files,
      bytes: this.processed,
      ...(t?.done ? { totalFiles: t.files, totalBytes: t.bytes } : {}),
      currentPath: path.toString(),
    });
  }

  /** Archives one source path; returns its node (a dir with subtree, or a file...). */
  private async archivePath(absPath: string): Promise<TreeNode | null> {
    const stack: Frame[] = [];
    let result: TreeNode | null = null;
    const rootParent = await this.parents.nodeFor(absPath);
    for await (const ev of await this.walkOf(absPath)) {
      this.checkCancelled();
      const top = stack[stack.length - 1];
      if (ev.kind === 'error') {
        this.onWalkError(ev.path, ev.error);
        if (top) top.clean = false;
      } else if (ev.kind === 'enter') {
        const name = stack.length === 0 ? Buffer.from(basename(absPath) || '/') : lastComponent(ev.path);
        const listingKey =
          ev.rawListing && (this.memo || this.opts.record) ? DirMemo.listingKey(this.repo.hasher, ev.path, ev.rawListing(), this.opts.atime === true) : undefined;
        const hit = listingKey !== undefined ? this.memo?.get(listingKey) : undefined;
        // A hit inside a hit needs no parent node: its node is the one in the old tree.
        let parentNode = rootParent;
        if (top && !(hit && top.hit)) {
          await this.loadParentMap(top);
          parentNode = takeNode(top.parent, name);
        }
        const frame: Frame = { path: ev.path, name, meta: ev.meta, nodes: [], lastName: null, parent: null, parentNode, subtrees: [], clean: true };
        if (listingKey !== undefined) frame.listingKey = listingKey;
        if (hit) frame.hit = hit;
        else frame.parent = parentNode?.type === 'dir' ? await this.parents.children(parentNode.subtree) : null;
        stack.push(frame);
      } else if (ev.kind === 'leave') {
        const frame = stack.pop()!;
        const up = stack[stack.length - 1];
        const done = this.track(this.finishDir(frame, !up?.hit));
        if (!up) result = (await done).node!;
        else {
          up.subtrees.push(this.track(done.then((d) => d.id)));
          if (!up.hit) this.addChild(up, frame.name, done.then((d) => d.node!), false);
        }
      } else if (top?.hit) {
        this.countUnchanged(ev.meta, ev.path);
      } else {
        const name = stack.length === 0 ? Buffer.from(basename(absPath)) : lastComponent(ev.path);
        const parentNode = top ? takeNode(top.parent, name) : rootParent;
        // Files are read concurrently (many small files must not serialise on per-file
        // latency); the walk waits only when too many are outstanding.
        await this.outstanding.room(MAX_OUTSTANDING_FILES);
        const node = this.entryNode(ev.path, name, ev.meta, parentNode, top);
        if (!top) result = await this.track(node, true);
        else this.addChild(top, name, node, true);
      }
    }
    return result;
  }

  private readonly outstanding = new WorkSet();

  /**
   * The memo, when its trees may be reused: not for a full backup (it reads everything),
   * nor when the parent's blobs are not known to be stored (a memo hit looks nothing up).
   */
  private get memo(): DirMemo | null {
    const m = this.opts.memo;
    return m && this.opts.reuseUnchanged && this.opts.parentTree && this.opts.parentStored ? m : null;
  }

  /** The walk of one source path: the one read ahead for it, if any, else a new one. */
  private async walkOf(absPath: string): Promise<WalkStream> {
    if (this.opts.takeWalk && !this.walkTaken) {
      this.walkTaken = true; // it is for the first path only
      const ahead = await this.opts.takeWalk();
      if (ahead?.path === absPath) return ahead.walk;
    }
    return walkEvents(Buffer.from(absPath), walkOptionsFor(this.opts.filters ?? { oneFileSystem: false }));
  }

  private walkTaken = false;

  /**
   * Marks a promise as handled at once (it is awaited later, when its directory is
   * finished, and a rejection must not count as unhandled meanwhile) and, for files,
   * counts it as outstanding work.
   */
  private track<T>(p: Promise<T>, outstanding = false): Promise<T> {
    const settled = p.then(
      () => undefined,
      () => undefined,
    );
    if (outstanding) this.outstanding.add(settled);
    return p;
  }

  /**
   * Adds a child to its directory, to be kept encoded once finished. The walk yields a
   * directory's entries in the tree format's order (the DirLister contract), so they
   * are not sorted again; a walk that broke that contract would write a tree that
   * lookups cannot search, so it fails the backup instead.
   */
  private addChild(frame: Frame, name: Buffer, node: Promise<TreeNode | null>, outstanding: boolean): void {
    const i = frame.nodes.length;
    frame.nodes.push(this.track(node.then((n) => (frame.nodes[i] = n && JSON.stringify(n))), outstanding));
    if (frame.lastName && Buffer.compare(frame.lastName, name) >= 0) {
      throw new CairnError('INTERNAL', `the walk of ${frame.path.toString()} gave ${JSON.stringify(name.toString())} after ${JSON.stringify(frame.lastName.toString())}: not in byte order`);
    }
    frame.lastName = name;
  }

  private onWalkError(path: Buffer, err: unknown): void {
    const code = (err as NodeJS.ErrnoException)?.code;
    if (code === 'ENOENT') this.warn(path, 'VANISHED', 'vanished during the backup');
    else this.warn(path, 'UNREADABLE', `cannot read: ${(err as Error)?.message ?? String(err)}`);
  }

  private checkCancelled(): void {
    if (this.opts.signal?.aborted) throw new CairnError('CANCELLED', 'backup cancelled; nothing was committed');
  }

  /**
   * Writes a directory's tree (unless stored already) and records it in the memo.
   * Returns its id, and its node when the directory above needs one: a memo hit above
   * takes its nodes from its old tree.
   */
  private async finishDir(frame: Frame, wantNode: boolean): Promise<{ id: BlobId; node?: TreeNode }> {
    const subtrees = await Promise.all(frame.subtrees);
    let id: BlobId;
    if (frame.hit) {
      id = sameIds(subtrees, frame.hit.subtrees) ? frame.hit.tree : await this.rebuild(frame, subtrees);
      if (id === frame.hit.tree) this.stats.dirsUnchanged++;
      else this.stats.dirsChanged++;
      this.progress(frame.path);
    } else {
      const nodes = (await Promise.all(frame.nodes)).filter((n): n is string => n !== null);
      frame.nodes.length = 0;
      const bytes = encodeTreeFromNodes(nodes);
      id = this.repo.hasher.id(bytes);
      // Same tree as in the parent snapshot: stored already, when the parent is known to be.
      if (!(frame.parentNode?.subtree === id && this.opts.parentStored)) await this.saver.save('tree', bytes, id);
      if (!frame.parentNode) this.stats.dirsNew++;
      else if (frame.parentNode.subtree === id) this.stats.dirsUnchanged++;
      else this.stats.dirsChanged++;
    }
    if (frame.listingKey !== undefined && frame.clean) this.opts.record?.set(frame.listingKey, { tree: id, subtrees });
    if (!wantNode) return { id };
    const node = this.withXattrs(nodeFromMeta(frame.name, frame.meta, this.opts.atime), frame.path, frame.parentNode);
    node.subtree = id;
    return { id, node };
  }

  /**
   * A memo hit whose subdirectories changed: the old tree's nodes (the same listing gives
   * the same nodes) with the new subtrees. Its subdirectories are the old tree's, in order.
   */
  private async rebuild(frame: Frame, subtrees: BlobId[]): Promise<BlobId> {
    const old = await this.repo.loadTree(frame.hit!.tree);
    const nodes: string[] = [];
    let k = 0;
    for (const n of old.nodes) {
      // A copy: the decoded tree may be cached, and is the parent snapshot's.
      if (n.type === 'dir') nodes.push(JSON.stringify({ ...n, subtree: subtrees[k++] }));
      else nodes.push(JSON.stringify(n));
    }
    if (k !== subtrees.length) {
      throw new CairnError('INTERNAL', `${frame.path.toString()}: the memo's tree has ${k} subdirectories, the walk found ${subtrees.length}`);
    }
    const bytes = encodeTreeFromNodes(nodes);
    const id = this.repo.hasher.id(bytes);
    await this.saver.save('tree', bytes, id);
    return id;
  }

  /**
   * Fills in the entry's xattrs. The walk does not read them: an entry that is the
   * parent snapshot's inode with the same ctime has the parent's xattrs (setting or
   * removing one updates ctime), so only new and changed entries pay the listxattr and
   * getxattr calls — a third of an unchanged backup's walk otherwise.
   */
  private withXattrs(node: TreeNode, path: Buffer, parentNode: TreeNode | undefined): TreeNode {
    if (sameInodeAndCtime(parentNode, node)) {
      if (parentNode!.xattrs) node.xattrs = parentNode!.xattrs;
      return node;
    }
    const { xattrs } = readXattrs(path);
    if (xattrs.length > 0) node.xattrs = xattrNodes(xattrs);
    return node;
  }

  /** `dir` is the entry's directory (none for a file given as a source path): an entry skipped or changed while read makes it unclean. */
  private async entryNode(path: Buffer, name: Buffer, meta: EntryMeta, parentNode: TreeNode | undefined, dir: Frame | undefined): Promise<TreeNode | null> {
    const node = nodeFromMeta(name, meta, this.opts.atime);
    if (meta.type !== 'file') return this.withXattrs(node, path, parentNode);
    this.files++;
    const content = await this.fileContent(path, meta, parentNode);
    if (!content || content.meta) if (dir) dir.clean = false;
    if (!content) return null;
    // A worker that read the file saw on the open file whether it has xattrs: then the
    // path is looked up only for files that have some. (Before content: the node's
    // keys keep the order its JSON, and so the tree's id, depends on.)
    if (content.hasXattrs !== false) this.withXattrs(node, path, parentNode);
    node.content = content.ids;
    if (content.meta) node.size = content.meta.size; // changed while read: the length of what was read
    this.processed += node.size ?? 0;
    this.progress(path);
    return node;
  }

  private async fileContent(
    path: Buffer,
    meta: EntryMeta,
    parentNode: TreeNode | undefined,
  ): Promise<{ ids: BlobId[]; meta?: EntryMeta; hasXattrs?: boolean } | null> {
    if (this.opts.reuseUnchanged && unchangedSince(parentNode, meta) && this.stillStored(parentNode!.content!)) {
      this.stats.filesUnchanged++;
      return { ids: parentNode!.content! };
    }
    const linkKey = meta.nlink > 1 ? `${meta.dev}:${meta.inode}` : null;
    const seen = linkKey ? this.hardLinks.get(linkKey) : undefined;
    if (seen && seen.size === meta.size && seen.mtime === meta.mtimeNs.toString()) {
      this.countFile(parentNode);
      return { ids: seen.content };
    }
    const r = this.opts.pool
      ? await this.fileOnWorker(path, meta)
      : await readFileOnMain(
          path,
          meta,
          createCutFinder(this.repo.config.chunker, this.repo.gear),
          async (chunk) => (await this.saver.save('data', chunk)).id,
          () => this.checkCancelled(),
        );
    this.stats.bytesRead += r.read;
    if (r.error) {
      this.onOpenError(path, Object.assign(new Error(r.error.message), { code: r.error.code }));
      return null;
    }
    this.countFile(parentNode);
    const xattrs = r.hasXattrs === undefined ? {} : { hasXattrs: r.hasXattrs };
    if (r.changed) {
      this.warn(path, 'CHANGED', 'changed while being read; the snapshot holds the bytes read');
      // The size is what was read (the content's real length). The times stay those seen
      // before reading, so the next incremental backup sees a difference and reads it again.
      return { ids: r.ids, meta: { ...meta, size: r.read }, ...xattrs };
    }
    if (linkKey) this.hardLinks.set(linkKey, { size: meta.size, mtime: meta.mtimeNs.toString(), content: r.ids });
    return { ids: r.ids, ...xattrs };
  }

  /** A file read by a worker; its new blobs went into the worker's packs and are counted here. */
  private async fileOnWorker(path: Buffer, meta: EntryMeta): Promise<FileResult> {
    await this.saver.waitForUploads();
    const r = await this.cancel.wrap(this.opts.pool!.backupFile(path, meta));
    this.checkCancelled();
    this.saver.countStored(r.newBlobs, r.newBytes);
    return r;
  }

  /**
   * The parent's blobs may be reused only if they are stored and not in packs a prune
   * has marked for deletion. When the parent is known to be stored (the usual case),
   * the per-blob lookups are skipped.
   */
  private stillStored(ids: BlobId[]): boolean {
    if (this.opts.parentStored) return true;
    return ids.every((id) => this.saver.has('data', id));
  }

  private countFile(parentNode: TreeNode | undefined): void {
    if (parentNode?.type === 'file') this.stats.filesChanged++;
    else this.stats.filesNew++;
  }

  private onOpenError(path: Buffer, err: unknown): void {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') this.warn(path, 'VANISHED', 'vanished before it could be read; not in the snapshot');
    else if (code === 'ELOOP') this.warn(path, 'CHANGED', 'was replaced by a symlink during the backup; skipped');
    else this.warn(path, 'UNREADABLE', `cannot read (${code || 'error'}): ${(err as Error).message}; not in the snapshot`);
  }
}

function sameIds(a: BlobId[], b: BlobId[]): boolean {
  return a.length === b.length && a.every((id, i) => id === b[i]);
}

function lastComponent(path: Buffer): Buffer {
  const i = path.lastIndexOf(0x2f);
  return i < 0 ? path : path.subarray(i + 1);
}
