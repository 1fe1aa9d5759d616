import { isUtf8 } from 'node:buffer';
import type { BlobId } from '../core/ids.js';
import { CairnError } from '../core/errors/index.js';
import type { NodeType } from '../fs/types.js';

/** One entry of a tree blob, exactly as serialised (see docs/repository-format.md, Trees). */
export interface TreeNode {
  name?: string;
  nameRaw?: string; // b64, when the name is not valid UTF-8
  type: NodeType;
  mode: number;
  uid: number;
  gid: number;
  user?: string;
  group?: string;
  mtime: string; // ns since epoch
  /** Recorded only by backups run with `--atime` (restore then uses mtime). */
  atime?: string;
  ctime: string;
  dev?: string;
  inode?: string;
  nlink?: number;
  size?: number;
  content?: BlobId[];
  subtree?: BlobId;
  target?: string;
  targetRaw?: string;
  rdev?: string;
  xattrs?: { name: string; value: string }[];
}

export interface Tree {
  nodes: TreeNode[];
}

const utf8 = new TextDecoder('utf-8', { fatal: true });

/** Encodes raw bytes as a JSON-safe name: UTF-8 when it round-trips exactly, else base64. */
export function encodeName(raw: Buffer): { name?: string; nameRaw?: string } {
  // A leading byte-order mark is stored raw: earlier versions decoded names with a
  // BOM-stripping TextDecoder, and the same name must keep giving the same tree.
  if (isUtf8(raw) && !(raw.length >= 3 && raw[0] === 0xef && raw[1] === 0xbb && raw[2] === 0xbf)) return { name: raw.toString('utf8') };
  return { nameRaw: raw.toString('base64') };
}

export function nodeNameBytes(node: { name?: string; nameRaw?: string }): Buffer {
  if (node.nameRaw !== undefined) return Buffer.from(node.nameRaw, 'base64');
  if (node.name !== undefined) return Buffer.from(node.name, 'utf8');
  throw new CairnError('REPO_CORRUPT', 'tree node without a name');
}

/** A printable form of a name: invalid UTF-8 bytes shown as \xNN escapes. */
export function displayName(node: { name?: string; nameRaw?: string }): string {
  if (node.name !== undefined) return node.name;
  return displayBytes(nodeNameBytes(node));
}

export function displayBytes(raw: Buffer): string {
  let out = '';
  let i = 0;
  while (i < raw.length) {
    // Decode the longest valid UTF-8 run, escape single bad bytes.
    let j = i + 1;
    let best = -1;
    for (; j <= Math.min(raw.length, i + 4); j++) {
      try {
        utf8.decode(raw.subarray(i, j));
        best = j;
        break;
      } catch {
        // keep extending
      }
    }
    if (best > 0) {
      out += utf8.decode(raw.subarray(i, best));
      i = best;
    } else {
      out += `\\x${raw[i]!.toString(16).padStart(2, '0')}`;
      i++;
    }
  }
  return out;
}

export function encodeTree(tree: Tree): Buffer {
  return Buffer.from(JSON.stringify(tree), 'utf8');
}

const TREE_HEAD = '{"nodes":[';
const TREE_TAIL = ']}';

/**
 * The same bytes as encodeTree({ nodes }), from nodes already encoded one at a time with
 * JSON.stringify (JSON.stringify of an array is its elements' encodings joined by
 * commas), in tree order. A backup keeps a directory's finished entries in this form:
 * one string of ~300 bytes each instead of an object, its strings and numbers (~800
 * bytes), which is what its memory grows by in a directory of 100k+ files. Written
 * straight into one buffer: joining first would hold the whole tree twice.
 */
export function encodeTreeFromNodes(encoded: readonly string[]): Buffer {
  let size = TREE_HEAD.length + TREE_TAIL.length + Math.max(0, encoded.length - 1);
  for (const e of encoded) size += Buffer.byteLength(e, 'utf8');
  const out = Buffer.allocUnsafe(size);
  let at = out.write(TREE_HEAD, 0, 'latin1');
  for (let i = 0; i < encoded.length; i++) {
    if (i > 0) out[at++] = 0x2c; // ','
    at += out.write(encoded[i]!, at, 'utf8');
  }
  at += out.write(TREE_TAIL, at, 'latin1');
  if (at !== size) throw new CairnError('INTERNAL', `tree encoding wrote ${at} of ${size} bytes`);
  return out;
}

export function decodeTree(bytes: Buffer, id: string): Tree {
  let parsed: unknown;
  try {
    parsed = JSON.parse(bytes.toString('utf8'));
  } catch (err) {
    throw new CairnError('REPO_CORRUPT', `tree ${id.slice(0, 8)} is not valid JSON`, { cause: err });
  }
  if (!parsed || typeof parsed !== 'object' || !Array.isArray((parsed as Tree).nodes)) {
    throw new CairnError('REPO_CORRUPT', `tree ${id.slice(0, 8)} has no node list`);
  }
  return parsed as Tree;
}

export function compareNodes(a: TreeNode, b: TreeNode): number {
  return Buffer.compare(nodeNameBytes(a), nodeNameBytes(b));
}

export function nsToDate(ns: string): Date {
  return new Date(Number(BigInt(ns) / 1_000_000n));
}
