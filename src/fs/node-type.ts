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

const BY_BITS = new Map<number, NodeType>(Object.entries(TYPE_BITS).map(([type, bits]) => [bits, type as NodeType]));

/** The node type of an st_mode, or undefined for a type Cairn does not know. */
export function nodeTypeFromMode(mode: number | bigint): NodeType | undefined {
  // Called for every entry of every walk: no BigInt work for a plain number.
  return BY_BITS.get(typeof mode === 'bigint' ? Number(mode & BigInt(S_IFMT)) : mode & S_IFMT);
}

/** The S_IF* bits for a type, as mknod(2) wants them in its mode argument. */
export function modeTypeBits(type: NodeType): number {
  return TYPE_BITS[type];
}
