import type { EntryMeta } from '../fs/types.js';
import type { TreeNode } from '../snapshot/tree.js';

/** The metadata to re-apply on restore, from a tree node. */
export function nodeMeta(node: TreeNode): EntryMeta {
  return {
    type: node.type,
    mode: node.mode,
    uid: node.uid,
    gid: node.gid,
    mtimeNs: BigInt(node.mtime),
    atimeNs: BigInt(node.atime),
    ctimeNs: BigInt(node.ctime),
    dev: BigInt(node.dev ?? 0),
    inode: BigInt(node.inode ?? 0),
    nlink: node.nlink ?? 1,
    size: node.size ?? 0,
    ...(node.xattrs ? { xattrs: node.xattrs.map((x) => ({ name: x.name, value: Buffer.from(x.value, 'base64') })) } : {}),
  };
}
