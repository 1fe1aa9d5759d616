import { CairnError } from '../core/errors/index.js';
import type { BlobId } from '../core/ids.js';
import { readEntryMeta } from '../fs/read-entry-meta.js';
import type { EntryMeta } from '../fs/types.js';
import { compareNodes, encodeTree, type TreeNode } from '../snapshot/tree.js';
import { nodeFromMeta } from './node-from-meta.js';

/** The directories leading to the source paths, merged: /srv/a and /srv/b share /srv. */
export class VirtualDir {
  readonly dirs = new Map<string, VirtualDir>();
  readonly leaves = new Map<string, TreeNode>();

  place(components: string[], node: TreeNode): void {
    if (components.length === 1) {
      this.leaves.set(components[0]!, node);
      return;
    }
    const [head, ...rest] = components;
    let d = this.dirs.get(head!);
    if (!d) this.dirs.set(head!, (d = new VirtualDir()));
    d.place(rest, node);
  }

  /**
   * Wraps the archived paths into their parent directories up to "/" (this directory
   * being `absPath`, "" for the root): each directory's node from its metadata now,
   * its tree stored with `saveTree`.
   */
  async toTree(absPath: string, saveTree: (bytes: Buffer) => Promise<BlobId>, atime: boolean): Promise<BlobId> {
    const nodes: TreeNode[] = [...this.leaves.values()];
    for (const [name, child] of this.dirs) {
      const childPath = `${absPath}/${name}`;
      const subtree = await child.toTree(childPath, saveTree, atime);
      let meta: EntryMeta;
      try {
        meta = await readEntryMeta(Buffer.from(childPath), { xattrs: true });
      } catch (err) {
        throw new CairnError('SOURCE_NOT_FOUND', `cannot read parent directory ${childPath}: ${(err as Error).message}`);
      }
      const node = nodeFromMeta(Buffer.from(name), meta, atime);
      node.subtree = subtree;
      nodes.push(node);
    }
    nodes.sort(compareNodes);
    return saveTree(encodeTree({ nodes }));
  }
}
