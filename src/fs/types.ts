/** What the files source records for one directory entry. Mirrors the tree node format. */
export type NodeType = 'file' | 'dir' | 'symlink' | 'chardev' | 'blockdev' | 'fifo' | 'socket';

export interface Xattr {
  name: string;
  value: Buffer;
}

/** Metadata read with lstat (bigint) and, where readable, xattrs. Paths are raw bytes. */
export interface EntryMeta {
  type: NodeType;
  mode: number; // st_mode & 0o7777
  uid: number;
  gid: number;
  user?: string;
  group?: string;
  mtimeNs: bigint;
  atimeNs: bigint;
  ctimeNs: bigint;
  dev: bigint;
  inode: bigint;
  nlink: number;
  size: number;
  rdev?: bigint;
  linkTarget?: Buffer;
  xattrs?: Xattr[];
}
