import type { BlobId } from '../core/ids.js';
import type { Repository } from '../repository/repository.js';
import { displayName, type TreeNode } from '../snapshot/tree.js';

export interface WalkVisit {
  path: string; // absolute path inside the snapshot
  node: TreeNode;
}

/**
 * Depth-first walk of a snapshot tree. `skipTree` lets callers prune subtrees they
 * have already seen (check, prune); visit order is the tree order.
 */
export async function walkTree(
  repo: Repository,
  root: BlobId,
  visit: (v: WalkVisit) => void | Promise<void>,
  opts: { skipTree?: (id: BlobId) => boolean; base?: string } = {},
): Promise<void> {
  const tree = await repo.loadTree(root);
  for (const node of tree.nodes) {
    const path = `${opts.base ?? ''}/${displayName(node)}`;
    await visit({ path, node });
    if (node.type === 'dir' && node.subtree && !opts.skipTree?.(node.subtree)) {
      await walkTree(repo, node.subtree, visit, { ...opts, base: path });
    }
  }
}
