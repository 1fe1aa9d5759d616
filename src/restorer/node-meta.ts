import type { ApplicableMeta } from '../fs/apply-entry-meta.js';
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
    // Not recorded by default: the file gets its mtime as access time, as with borg.
    atimeNs: BigInt(node.atime ?? node.mtime),
    ctimeNs: BigInt(node.ctime),
    dev: BigInt(node.dev ?? 0),
    inode: BigInt(node.inode ?? 0),
    nlink: node.nlink ?? 1,
    size: node.size ?? 0,
    ...(node.xattrs ? { xattrs: node.xattrs.map((x) => ({ name: x.name, value: Buffer.from(x.value, 'base64') })) } : {}),
  };
}

/** Only what restore writes back (the worker's message for small files carries it, BigInts and all). */
export function applicableMeta(node: TreeNode): ApplicableMeta {
  const { type, mode, uid, gid, mtimeNs, atimeNs, xattrs } = nodeMeta(node);
  return { type, mode, uid, gid, mtimeNs, atimeNs, ...(xattrs ? { xattrs } : {}) };
}
