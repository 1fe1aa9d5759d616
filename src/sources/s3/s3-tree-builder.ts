import pLimit, { type LimitFunction } from 'p-limit';
import { CairnError } from '../../core/errors/index.js';
import type { BlobId } from '../../core/ids.js';
import { createCutFinder } from '../../chunker/create-cut-finder.js';
import { chunkStream } from '../../chunker/chunk-stream.js';
import type { BlobSaver } from '../../repository/blob-saver.js';
import type { Repository } from '../../repository/repository.js';
import { retryCall, type RetryOptions } from '../../backend/with-retry.js';
import { isTransientError } from '../../backend/is-transient-error.js';
import { compareNodes, encodeName, encodeTree, nodeNameBytes, type TreeNode } from '../../snapshot/tree.js';
import type { Progress, SourceWarning } from '../../engine/types.js';
import type { TreeBuildResult } from '../types.js';
import { isNotFound } from '../../backend/types.js';
import type { S3Location } from '../../backend/s3-location.js';
import type { GotObject } from './s3-bucket.js';
import { clashName, encodeSegment, placeKey } from './s3-names.js';
import { nsOf, objectNode, objectXattrs, unchangedObject, withStorageClass, type ListedObject } from './s3-object-meta.js';
import { WorkSet } from '../../util/work-set.js';

export interface BuildOptions {
  parentTree: BlobId | null;
  reuseUnchanged: boolean;
  /** Every blob the parent names is known to be stored: reuse without a lookup each (see ArchiveOptions). */
  parentStored?: boolean;
  retry?: RetryOptions;
  onProgress?: (p: Progress) => void;
  onWarning?: (w: SourceWarning) => void;
  signal?: AbortSignal;
}

/** What the builder needs of a bucket (S3Bucket; tests use an in-memory one). */
export interface BucketReader {
  readonly loc: Pick<S3Location, 'bucket' | 'concurrency' | 'display'>;
  /** The key prefix listed ('' or "prefix/"). */
  readonly root: string;
  list(): AsyncIterable<ListedObject>;
  get(key: string): Promise<GotObject>;
}

interface Frame {
  seg: string;
  /** Subdirectories already finished: a listing that comes back to one is refused. */
  closed: Set<string>;
  name: Buffer;
  nodes: Promise<TreeNode | null>[];
  parent: Map<string, TreeNode> | null;
  parentNode: TreeNode | undefined;
  marker: Promise<{ xattrs: TreeNode['xattrs']; mtime: string } | null> | null;
}

const k = (b: Buffer): string => b.toString('latin1');

/**
 * Turns a bucket listing into snapshot trees while it streams: ListObjectsV2 returns
 * keys in UTF-8 byte order, so every "directory" (key prefix ending in '/') is one
 * contiguous run and a stack of open directories suffices — memory grows with the
 * depth and the widest directory, never with the bucket. An object whose size, ETag
 * and LastModified match the parent snapshot's node reuses that node (content and
 * metadata) without any request; any other is read with one GetObject, its body cut
 * by the repository's chunker and saved through the BlobSaver as it arrives, at most
 * `concurrency` at once.
 */
export class S3TreeBuilder {
  private readonly warnings: SourceWarning[] = [];
  private partial = false;
  readonly stats = { filesNew: 0, filesChanged: 0, filesUnchanged: 0, dirsNew: 0, dirsChanged: 0, dirsUnchanged: 0, bytesRead: 0, errors: 0 };
  objects = 0;
  objectsRead = 0;
  private done = 0;
  private bytesDone = 0;
  private totalBytes = 0;
  private readonly limit: LimitFunction;
  private readonly outstanding = new WorkSet();
  private readonly maxOutstanding: number;

  constructor(
    private readonly repo: Repository,
    private readonly saver: BlobSaver,
    private readonly bucket: BucketReader,
    private readonly opts: BuildOptions,
  ) {
    this.limit = pLimit(bucket.loc.concurrency);
    this.maxOutstanding = Math.max(32, bucket.loc.concurrency * 4);
  }

  async run(): Promise<TreeBuildResult> {
    try {
      return await this.build();
    } catch (err) {
      this.limit.clearQueue();
      await this.outstanding.drained();
      throw err;
    }
  }

  private async build(): Promise<TreeBuildResult> {
    const root: Frame = { seg: '', closed: new Set(), name: Buffer.alloc(0), nodes: [], parent: await this.children(this.opts.parentTree), parentNode: undefined, marker: null };
    const stack: Frame[] = [root];
    for await (const o of this.bucket.list()) {
      this.checkCancelled();
      this.objects++;
      this.totalBytes += o.size;
      const place = placeKey(o.key.slice(this.bucket.root.length), o.size);
      let common = 0;
      while (common < place.dirs.length && common + 1 < stack.length && stack[common + 1]!.seg === place.dirs[common]) common++;
      while (stack.length > common + 1) {
        const f = stack.pop()!;
        stack[stack.length - 1]!.closed.add(f.seg);
        stack[stack.length - 1]!.nodes.push(this.track(this.finishDir(f)));
      }
      for (let i = common; i < place.dirs.length; i++) {
        const top = stack[stack.length - 1]!;
        if (top.closed.has(place.dirs[i]!)) {
          // S3 lists in UTF-8 byte order, so the keys of one prefix come together; a store
          // that interleaves them cannot be streamed into trees.
          throw new CairnError('IO_ERROR', `the store listed ${JSON.stringify(o.key)} after leaving its prefix "${place.dirs.slice(0, i + 1).join('/')}/"`, {
            hint: 'the keys of a prefix must be listed together (S3 lists in key order); this store does not',
          });
        }
        const name = encodeSegment(place.dirs[i]!);
        const pn = top.parent?.get(k(name));
        const parentNode = pn?.type === 'dir' ? pn : undefined;
        stack.push({ seg: place.dirs[i]!, closed: new Set(), name, nodes: [], parent: await this.children(parentNode?.subtree ?? null), parentNode, marker: null });
      }
      const top = stack[stack.length - 1]!;
      await this.outstanding.room(this.maxOutstanding);
      if (place.leaf === null) {
        top.marker = this.track(this.markerMeta(o, top.parentNode), true);
        continue;
      }
      const name = encodeSegment(place.leaf);
      // The parent's file may carry the clash escape (it had a directory of the same name).
      const a = top.parent?.get(k(name));
      const b = top.parent?.get(k(clashName(name)));
      const pn = a?.type === 'file' ? a : b?.type === 'file' ? b : undefined;
      top.nodes.push(this.track(this.fileNode(o, name, pn), true));
    }
    while (stack.length > 1) {
      const f = stack.pop()!;
      stack[stack.length - 1]!.nodes.push(this.track(this.finishDir(f)));
    }
    const { id } = await this.finishTree(root);
    return {
      tree: id,
      summary: { ...this.stats },
      warnings: this.warnings,
      partial: this.partial,
      meta: { objects: this.objects, objectsRead: this.objectsRead, bytes: this.totalBytes },
    };
  }

  private async children(treeId: BlobId | null): Promise<Map<string, TreeNode> | null> {
    if (!treeId) return null;
    try {
      const tree = await this.repo.loadTree(treeId);
      return new Map(tree.nodes.map((n) => [k(nodeNameBytes(n)), n]));
    } catch {
      return null; // an unreadable parent tree only means no reuse
    }
  }

  private track<T>(p: Promise<T>, outstanding = false): Promise<T> {
    const settled = p.then(
      () => undefined,
      () => undefined,
    );
    if (outstanding) this.outstanding.add(settled);
    return p;
  }

  private checkCancelled(): void {
    if (this.opts.signal?.aborted) throw new CairnError('CANCELLED', 'backup cancelled; nothing was committed');
  }

  private warn(path: string, code: SourceWarning['code'], message: string): void {
    const w = { path, code, message };
    this.warnings.push(w);
    if (code === 'UNREADABLE') {
      this.partial = true;
      this.stats.errors++;
    }
    this.opts.onWarning?.(w);
  }

  private progress(o: ListedObject): void {
    this.done++;
    this.bytesDone += o.size;
    this.opts.onProgress?.({ phase: 'backup', files: this.done, bytes: this.bytesDone, currentPath: `s3://${this.bucket.loc.bucket}/${o.key}` });
  }

  private stillStored(ids: BlobId[]): boolean {
    return this.opts.parentStored === true || ids.every((id) => this.saver.has('data', id));
  }

  private async fileNode(o: ListedObject, name: Buffer, pn: TreeNode | undefined): Promise<TreeNode | null> {
    if (this.opts.reuseUnchanged && unchangedObject(pn, o, 'file') && this.stillStored(pn!.content!)) {
      this.stats.filesUnchanged++;
      const { name: _n, nameRaw: _r, ...rest } = pn!;
      const node: TreeNode = { ...encodeName(name), ...rest, xattrs: withStorageClass(pn!.xattrs, o.storageClass)! };
      this.progress(o);
      return node;
    }
    const read = await this.limit(() => this.read(o));
    this.progress(o);
    if (!read) return null;
    if (pn) this.stats.filesChanged++;
    else this.stats.filesNew++;
    const node = objectNode(encodeName(name), 'file', read.mtime);
    node.size = read.size;
    node.content = read.ids;
    node.xattrs = read.xattrs;
    return node;
  }

  private async markerMeta(o: ListedObject, pn: TreeNode | undefined): Promise<{ xattrs: TreeNode['xattrs']; mtime: string } | null> {
    if (this.opts.reuseUnchanged && unchangedObject(pn, o, 'dir')) {
      this.progress(o);
      return { xattrs: withStorageClass(pn!.xattrs, o.storageClass), mtime: pn!.mtime };
    }
    const read = await this.limit(() => this.read(o));
    this.progress(o);
    if (!read) return null;
    if (read.size !== 0) this.warn(o.key, 'CHANGED', 'folder marker got content while being read; recorded as an empty directory');
    return { xattrs: read.xattrs, mtime: read.mtime };
  }

  /**
   * One GetObject, its body chunked and saved as it arrives. A transfer cut short is
   * retried from the start (chunks already saved deduplicate). S3 serves one version per
   * GET, so what is stored is always a whole object; if it is not the listed version
   * (another ETag) it is kept, with a CHANGED warning, under the ETag and time it has.
   */
  private async read(o: ListedObject): Promise<{ ids: BlobId[]; size: number; mtime: string; xattrs: TreeNode['xattrs'] } | null> {
    this.checkCancelled();
    try {
      return await retryCall(
        'load',
        o.key,
        async () => {
          const got = await this.bucket.get(o.key);
          const ids: BlobId[] = [];
          let size = 0;
          try {
            const counted = async function* (self: S3TreeBuilder): AsyncGenerator<Uint8Array> {
              for await (const piece of got.body) {
                size += piece.length;
                self.stats.bytesRead += piece.length;
                yield piece;
              }
            };
            for await (const chunk of chunkStream(counted(this), createCutFinder(this.repo.config.chunker, this.repo.gear))) {
              this.checkCancelled();
              ids.push((await this.saver.save('data', chunk)).id);
            }
          } finally {
            got.destroy();
          }
          if (size !== got.size) {
            throw new CairnError('BACKEND_UNAVAILABLE', `short read of ${o.key}: got ${size} of ${got.size} bytes`);
          }
          this.objectsRead++;
          const changed = got.etag !== o.etag;
          if (changed) this.warn(o.key, 'CHANGED', 'replaced between listing and reading; the snapshot holds the version read');
          const mtime = changed && got.lastModified ? nsOf(got.lastModified) : nsOf(o.lastModified);
          return { ids, size, mtime, xattrs: objectXattrs(got.etag, o.storageClass, got.headers) };
        },
        this.opts.retry,
      );
    } catch (err) {
      if (isNotFound(err)) {
        this.warn(o.key, 'VANISHED', 'deleted between listing and reading; not in the snapshot');
        return null;
      }
      if (err instanceof CairnError && (err.code === 'PERMISSION_DENIED' || err.code === 'IO_ERROR')) {
        this.warn(o.key, 'UNREADABLE', `cannot read: ${err.message}; not in the snapshot`);
        return null;
      }
      // get() maps an endpoint that stays down to SOURCE_UNREACHABLE itself (not retried
      // again here); what is left is a body transfer that kept failing.
      if ((err instanceof CairnError && err.code === 'BACKEND_UNAVAILABLE') || (!(err instanceof CairnError) && isTransientError(err))) {
        throw new CairnError('SOURCE_UNREACHABLE', `S3 source ${this.bucket.loc.display} failed while reading ${o.key}: ${(err as Error).message}`, { cause: err });
      }
      throw err;
    }
  }

  private async finishDir(f: Frame): Promise<TreeNode> {
    const { id, mtime, xattrs } = await this.finishTree(f);
    const node = objectNode(encodeName(f.name), 'dir', mtime);
    if (xattrs && xattrs.length > 0) node.xattrs = xattrs;
    node.subtree = id;
    if (!f.parentNode) this.stats.dirsNew++;
    else if (f.parentNode.subtree === id) this.stats.dirsUnchanged++;
    else this.stats.dirsChanged++;
    return node;
  }

  private async finishTree(f: Frame): Promise<{ id: BlobId; mtime: string; xattrs: TreeNode['xattrs'] | undefined }> {
    const nodes = (await Promise.all(f.nodes)).filter((n): n is TreeNode => n !== null);
    const marker = f.marker ? await f.marker : null;
    // "a" and "a/…" both exist: the directory keeps the name, the file is escaped.
    const dirs = new Set(nodes.filter((n) => n.type === 'dir').map((n) => k(nodeNameBytes(n))));
    for (const n of nodes) {
      if (n.type !== 'file' || !dirs.has(k(nodeNameBytes(n)))) continue;
      const renamed = encodeName(clashName(nodeNameBytes(n)));
      delete n.name;
      delete n.nameRaw;
      Object.assign(n, renamed);
    }
    nodes.sort(compareNodes);
    const bytes = encodeTree({ nodes });
    const id = this.repo.hasher.id(bytes);
    if (!(f.parentNode?.subtree === id && this.opts.parentStored)) await this.saver.save('tree', bytes, id);
    let mtime = marker?.mtime;
    if (mtime === undefined) {
      let max = 0n;
      for (const n of nodes) if (BigInt(n.mtime) > max) max = BigInt(n.mtime);
      mtime = max.toString();
    }
    return { id, mtime, xattrs: marker?.xattrs };
  }
}
