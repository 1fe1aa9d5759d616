/** What the files source records for one directory entry. Mirrors the tree node format. */
export type NodeType = 'file' | 'dir' | 'symlink' | 'chardev' | 'blockdev' | 'fifo' | 'socket';

export interface Xattr {
  name: string;
  value: Buffer;
}

/**
 * An xattr that could not be read (EACCES, EIO, ...). Diagnostic only: the archiver may
 * warn about it; it is never written into a tree. `name` is absent when listing failed.
 */
export interface XattrError {
  name?: string;
  code: string;
  message: string;
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
  /** Set by readEntryMeta when some xattrs could not be read; see XattrError. */
  xattrErrors?: XattrError[];
}
