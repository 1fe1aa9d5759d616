import pLimit from 'p-limit';
import { CairnError } from '../../core/errors/index.js';
import type { BlobId } from '../../core/ids.js';
import type { Repository } from '../../repository/repository.js';
import { displayName, nodeNameBytes, type TreeNode } from '../../snapshot/tree.js';
import type { Progress } from '../../engine/types.js';
import type { S3Location } from '../../backend/s3-location.js';
import { decodeSegment } from './s3-names.js';
import { headersFromXattrs, xattrValue, type ObjectHeaders } from './s3-object-meta.js';
import { WorkSet } from '../../util/work-set.js';

/** What a restore needs of the target bucket (S3Bucket; tests use an in-memory one). */
export interface BucketWriter {
  readonly loc: Pick<S3Location, 'concurrency' | 'partSize'>;
  put(key: string, body: Buffer, h: ObjectHeaders): Promise<void>;
  putMultipart(key: string, parts: AsyncIterable<Buffer>, h: ObjectHeaders): Promise<void>;
}

export interface BucketRestoreOptions {
  include?: string[];
  onProgress?: (p: Progress) => void;
  signal?: AbortSignal;
}

type Selection = 'all' | 'descend' | 'none';

/** --include semantics of the directory restorer (restorer/selected-tree.ts), which sources may not import. */
function select(snapPath: string, includes: string[] | undefined): Selection {
  if (!includes || includes.length === 0) return 'all';
  let descend = false;
  for (const inc of includes) {
    if (snapPath === inc || snapPath.startsWith(inc + '/') || inc === '/') return 'all';
    if (inc.startsWith(snapPath + '/')) descend = true;
  }
  return descend ? 'descend' : 'none';
}

interface Item {
  key: string;
  node: TreeNode;
  snapPath: string;
  marker: boolean;
}

/**
 * Writes a snapshot's files as objects under the target's prefix: key = prefix + the
 * path in the snapshot (escaped names decoded back, s3-names.ts), with the recorded
 * content type, encoding, cache control, disposition and user metadata. Folder
 * markers (directories that carry an ETag xattr) are written back as empty "dir/"
 * objects. Existing objects at the same keys are overwritten; nothing is ever deleted.
 */
export async function restoreToBucket(
  repo: Repository,
  tree: BlobId,
  /** `root`: the target prefix ('' or "prefix/"). */
  bucket: BucketWriter & { readonly root: string },
  opts: BucketRestoreOptions,
): Promise<{ objects: number; bytes: number; warnings: string[] }> {
  const includes = opts.include?.length ? opts.include.map((p) => '/' + p.split('/').filter(Boolean).join('/')) : undefined;
  const warnings: string[] = [];
  const small = pLimit(bucket.loc.concurrency);
  // Big objects hold a part in memory each: fewer at once.
  const big = pLimit(2);
  const stats = { objects: 0, bytes: 0 };
  const outstanding = new WorkSet();
  let failure: unknown = null;

  const upload = async (it: Item): Promise<void> => {
    const h = headersFromXattrs(it.node.xattrs);
    if (it.marker) {
      await bucket.put(bucket.root + it.key, Buffer.alloc(0), h);
    } else {
      const ids = it.node.content ?? [];
      const size = it.node.size ?? 0;
      if (size <= bucket.loc.partSize) {
        const parts: Buffer[] = [];
        for (const id of ids) parts.push(await repo.loadBlob('data', id));
        await bucket.put(bucket.root + it.key, Buffer.concat(parts), h);
      } else {
        await bucket.putMultipart(bucket.root + it.key, partsOf(repo, ids, bucket.loc.partSize, opts.signal), h);
      }
      stats.bytes += size;
    }
    stats.objects++;
    opts.onProgress?.({ phase: 'restore', files: stats.objects, bytes: stats.bytes, currentPath: it.snapPath });
  };

  for await (const it of walk(repo, tree, [], '', includes, warnings)) {
    if (opts.signal?.aborted) throw new CairnError('CANCELLED', 'restore cancelled; objects already written stay in the target bucket');
    if (failure) break;
    await outstanding.room(bucket.loc.concurrency * 4);
    const limit = !it.marker && (it.node.size ?? 0) > bucket.loc.partSize ? big : small;
    const p = limit(() => (failure ? Promise.resolve() : upload(it))).catch((err) => {
      failure ??= err;
    });
    outstanding.add(p);
  }
  await outstanding.drained();
  if (failure) throw failure;
  if (includes && stats.objects === 0) {
    throw new CairnError('PATH_NOT_FOUND', `nothing in the snapshot matches ${includes.join(', ')}`, { hint: 'paths are absolute inside the snapshot, e.g. /photos/2024; see `cairn ls`' });
  }
  return { ...stats, warnings };
}

async function* walk(repo: Repository, treeId: BlobId, segs: string[], snapDir: string, includes: string[] | undefined, warnings: string[]): AsyncGenerator<Item> {
  const tree = await repo.loadTree(treeId);
  for (const node of tree.nodes) {
    const snapPath = `${snapDir}/${displayName(node)}`;
    const sel = select(snapPath, includes);
    if (sel === 'none') continue;
    const seg = decodeSegment(nodeNameBytes(node));
    if (seg === null) {
      warnings.push(`${snapPath}: the name is not an S3 key segment; skipped`);
      continue;
    }
    const path = [...segs, seg];
    if (node.type === 'dir') {
      if (sel === 'all' && xattrValue(node, 'user.s3.etag') !== undefined) yield { key: path.join('/') + '/', node, snapPath, marker: true };
      if (node.subtree) yield* walk(repo, node.subtree, path, snapPath, includes, warnings);
    } else if (sel === 'all') {
      if (node.type === 'file') yield { key: path.join('/'), node, snapPath, marker: false };
      else warnings.push(`${snapPath}: a ${node.type} is not an object; skipped`);
    }
  }
}

/** The object's bytes in parts of exactly `partSize` (the last shorter), from its blobs in order. */
async function* partsOf(repo: Repository, ids: BlobId[], partSize: number, signal: AbortSignal | undefined): AsyncGenerator<Buffer> {
  let pending: Buffer[] = [];
  let n = 0;
  for (const id of ids) {
    if (signal?.aborted) throw new CairnError('CANCELLED', 'restore cancelled; objects already written stay in the target bucket');
    let blob = await repo.loadBlob('data', id);
    while (n + blob.length >= partSize) {
      const take = partSize - n;
      pending.push(blob.subarray(0, take));
      yield Buffer.concat(pending);
      pending = [];
      n = 0;
      blob = blob.subarray(take);
    }
    if (blob.length > 0) {
      pending.push(blob);
      n += blob.length;
    }
  }
  if (n > 0) yield Buffer.concat(pending);
}
