import type { BlobId } from '../core/ids.js';
import type { Repository } from '../repository/repository.js';
import { nodeNameBytes, type Tree, type TreeNode } from '../snapshot/tree.js';

/**
 * The parent snapshot's trees, as a backup compares its entries with them. A tree that
 * cannot be read just means no reuse below it, never a failed backup.
 */
export class ParentTrees {
  constructor(
    private readonly repo: Repository,
    /** The parent snapshot's root tree; null without a parent. */
    private readonly root: BlobId | null,
  ) {}

  /** The parent's node for an absolute path (a source path), if it had one. */
  async nodeFor(absPath: string): Promise<TreeNode | undefined> {
    let treeId: BlobId | undefined = this.root ?? undefined;
    let node: TreeNode | undefined;
    for (const comp of absPath.split('/').filter(Boolean)) {
      if (!treeId) return undefined;
      const tree = await this.load(treeId);
      if (!tree) return undefined;
      node = tree.nodes.find((n) => nodeNameBytes(n).equals(Buffer.from(comp)));
      treeId = node?.subtree;
    }
    return node;
  }

  /** A tree's nodes by name (see takeNode); null when there is none or it cannot be read. */
  async children(tree: BlobId | undefined): Promise<Map<string, TreeNode> | null> {
    const t = tree ? await this.load(tree) : null;
    return t ? new Map(t.nodes.map((n) => [key(nodeNameBytes(n)), n])) : null;
  }

  private async load(id: BlobId): Promise<Tree | null> {
    try {
      return await this.repo.loadTree(id);
    } catch {
      return null;
    }
  }
}

/**
 * The node of `name` taken out of a `children` map: each name comes once, and a
 * directory of 200k files otherwise holds all of its parent's decoded nodes (~700 bytes
 * each) until it is finished.
 */
export function takeNode(children: Map<string, TreeNode> | null, name: Buffer): TreeNode | undefined {
  if (!children) return undefined;
  const k = key(name);
  const node = children.get(k);
  if (node) children.delete(k);
  return node;
}

const key = (name: Buffer): string => name.toString('latin1');
