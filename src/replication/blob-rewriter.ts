import type { BlobId } from '../core/ids.js';
import type { BlobSaver } from '../repository/blob-saver.js';
import type { Repository } from '../repository/repository.js';
import { encodeTree, type TreeNode } from '../snapshot/tree.js';
import type { CopyMap } from './copy-map.js';
import { throwIfAborted } from './pack-copier.js';

/**
 * The 'blobs' copy method, for repositories with different keys: rewrites a source tree
 * into the destination bottom-up. Each data blob is loaded from the source (decrypted
 * and checked against its id there), given its destination id by the destination's
 * hasher and stored through the destination's BlobSaver unless present; each tree is
 * re-encoded with the new ids. Chunk boundaries stay the source's.
 *
 * The CopyMap remembers source → destination ids, so on a repeated copy a known chunk
 * is not read again, and an unchanged subtree is not read from the source at all. A
 * mapped id is trusted only once the destination shows it: a data blob must be in its
 * index; a tree must be in its index *and* everything below it too (checked by walking
 * the destination's own trees), because a prune there may have swept data of a tree it
 * kept.
 */
/** Source chunk reads in flight (at most this many chunks held in memory, ~1 MiB each on average). */
const PREFETCH = 8;

export class BlobRewriter {
  /** Source tree → destination tree, for this run (a tree shared by snapshots is done once). */
  private readonly trees = new Map<string, BlobId>();
  /** Destination trees known complete: walked, or written in this run. */
  private readonly complete = new Set<string>();
  readonly stats = { dataBlobsRead: 0, bytesRead: 0, treesRead: 0 };

  constructor(
    private readonly src: Repository,
    private readonly dst: Repository,
    private readonly saver: BlobSaver,
    private readonly map: CopyMap,
    private readonly signal?: AbortSignal,
  ) {}

  async tree(srcId: BlobId): Promise<BlobId> {
    const done = this.trees.get(srcId);
    if (done) return done;
    const mapped = this.map.get('tree', srcId);
    if (mapped && (await this.isComplete(mapped))) {
      this.trees.set(srcId, mapped);
      return mapped;
    }
    throwIfAborted(this.signal);
    const tree = await this.src.loadTree(srcId);
    this.stats.treesRead++;
    // All chunks of the directory's files in one run, so reads overlap across small files.
    const chunks = await this.data(tree.nodes.flatMap((node) => node.content ?? []));
    let at = 0;
    const nodes: TreeNode[] = [];
    for (const node of tree.nodes) {
      const n: TreeNode = { ...node };
      if (node.content) {
        n.content = chunks.slice(at, at + node.content.length);
        at += node.content.length;
      }
      if (node.subtree) n.subtree = await this.tree(node.subtree);
      nodes.push(n);
    }
    const { id } = await this.saver.save('tree', encodeTree({ nodes }));
    this.map.set('tree', srcId, id);
    this.trees.set(srcId, id);
    this.complete.add(id);
    return id;
  }

  /**
   * Destination ids for a run of source chunks. Chunks the destination lacks are read
   * from the source up to PREFETCH ahead — on object storage each read is a round trip,
   * and one at a time would leave the link idle — and stored in order.
   */
  async data(srcIds: BlobId[]): Promise<BlobId[]> {
    const out: BlobId[] = new Array<BlobId>(srcIds.length);
    const need: number[] = [];
    srcIds.forEach((srcId, i) => {
      const mapped = this.map.get('data', srcId);
      if (mapped && this.saver.has('data', mapped)) out[i] = mapped;
      else need.push(i);
    });
    const loads = new Map<number, Promise<Buffer>>();
    let next = 0;
    const startLoads = (): void => {
      while (loads.size < PREFETCH && next < need.length) {
        const i = need[next++]!;
        const p = this.src.loadBlob('data', srcIds[i]!);
        p.catch(() => undefined); // awaited below, in order; a later failure must not go unhandled meanwhile
        loads.set(i, p);
      }
    };
    for (const i of need) {
      throwIfAborted(this.signal);
      startLoads();
      const srcId = srcIds[i]!;
      // A chunk repeated in the run was stored at its first occurrence.
      const mapped = this.map.get('data', srcId);
      const plain = await loads.get(i)!;
      loads.delete(i);
      if (mapped && this.saver.has('data', mapped)) {
        out[i] = mapped;
        continue;
      }
      this.stats.dataBlobsRead++;
      this.stats.bytesRead += plain.length;
      const { id } = await this.saver.save('data', plain);
      this.map.set('data', srcId, id);
      out[i] = id;
    }
    return out;
  }

  /** True when the destination holds this tree and every blob below it. */
  private async isComplete(dstTree: BlobId): Promise<boolean> {
    if (this.complete.has(dstTree)) return true;
    if (!this.dst.index.find('tree', dstTree)) return false;
    const tree = await this.dst.loadTree(dstTree);
    for (const node of tree.nodes) {
      for (const id of node.content ?? []) if (!this.saver.has('data', id)) return false;
      if (node.subtree && !(await this.isComplete(node.subtree))) return false;
    }
    this.complete.add(dstTree);
    return true;
  }
}
