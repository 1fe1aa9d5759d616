import type { EntryMeta, Xattr } from '../fs/types.js';
import { encodeName, type TreeNode } from '../snapshot/tree.js';

/**
 * Builds the tree node for an entry; content/subtree are filled in by the caller. The
 * access time only with `atime`: reading a file moves it (relatime: once a day), so
 * recording it changed the trees of every directory whose files were read since the
 * last backup, for a time restores seldom need (borg and kopia do not record it either).
 */
export function nodeFromMeta(name: Buffer, meta: EntryMeta, atime = false): TreeNode {
  // Built by assignment, not object spread: spreading optional parts made V8 give every
  // node a dictionary shape, ~60 µs a node (seconds per 40k entries).
  const n = encodeName(name);
  const node = {} as TreeNode;
  if (n.name !== undefined) node.name = n.name;
  else node.nameRaw = n.nameRaw!;
  node.type = meta.type;
  node.mode = meta.mode;
  node.uid = meta.uid;
  node.gid = meta.gid;
  if (meta.user !== undefined) node.user = meta.user;
  if (meta.group !== undefined) node.group = meta.group;
  node.mtime = meta.mtimeNs.toString();
  if (atime) node.atime = meta.atimeNs.toString();
  node.ctime = meta.ctimeNs.toString();
  node.dev = meta.dev.toString();
  node.inode = meta.inode.toString();
  node.nlink = meta.nlink;
  if (meta.type === 'file') node.size = meta.size;
  if (meta.rdev !== undefined && (meta.type === 'chardev' || meta.type === 'blockdev')) node.rdev = meta.rdev.toString();
  if (meta.linkTarget) {
    const t = encodeName(meta.linkTarget);
    if (t.name !== undefined) node.target = t.name;
    else node.targetRaw = t.nameRaw!;
  }
  if (meta.xattrs && meta.xattrs.length > 0) node.xattrs = xattrNodes(meta.xattrs);
  return node;
}

/** xattrs as the tree stores them: sorted by name, values in base64. */
export function xattrNodes(xattrs: Xattr[]): NonNullable<TreeNode['xattrs']> {
  return [...xattrs]
    .sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))
    .map((x) => ({ name: x.name, value: x.value.toString('base64') }));
}

/**
 * The entry is the same inode as the parent snapshot's node and its ctime has not moved:
 * its xattrs, mode and owner are unchanged too (changing any of them updates ctime).
 */
export function sameInodeAndCtime(parent: TreeNode | undefined, node: TreeNode): boolean {
  return parent !== undefined && parent.type === node.type && parent.inode === node.inode && parent.ctime === node.ctime && parent.dev === node.dev;
}

/** Same file as in the parent snapshot, judged by metadata alone (restic's rule plus inode). */
export function unchangedSince(parent: TreeNode | undefined, meta: EntryMeta): boolean {
  return (
    parent !== undefined &&
    parent.type === 'file' &&
    parent.size === meta.size &&
    parent.mtime === meta.mtimeNs.toString() &&
    parent.ctime === meta.ctimeNs.toString() &&
    parent.inode === meta.inode.toString() &&
    Array.isArray(parent.content)
  );
}
