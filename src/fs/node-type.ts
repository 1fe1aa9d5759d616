import { constants } from 'node:fs';
import type { NodeType } from './types.js';

const { S_IFMT, S_IFREG, S_IFDIR, S_IFLNK, S_IFCHR, S_IFBLK, S_IFIFO, S_IFSOCK } = constants;

const TYPE_BITS: Record<NodeType, number> = {
  file: S_IFREG,
  dir: S_IFDIR,
  symlink: S_IFLNK,
  chardev: S_IFCHR,
  blockdev: S_IFBLK,
  fifo: S_IFIFO,
  socket: S_IFSOCK,
};

/** The node type of an st_mode, or undefined for a type Cairn does not know. */
export function nodeTypeFromMode(mode: number | bigint): NodeType | undefined {
  const bits = Number(BigInt(mode) & BigInt(S_IFMT));
  for (const [type, value] of Object.entries(TYPE_BITS)) {
    if (value === bits) return type as NodeType;
  }
  return undefined;
}

/** The S_IF* bits for a type, as mknod(2) wants them in its mode argument. */
export function modeTypeBits(type: NodeType): number {
  return TYPE_BITS[type];
}
