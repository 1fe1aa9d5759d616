/**
 * S3 keys ↔ snapshot tree names (docs/sources/s3.md, "Keys that are not file names").
 *
 * A key is split at '/' into segments, and each segment becomes a tree name. S3 keys
 * are any UTF-8 string, so some segments cannot be file names: "" (from "a//b", a
 * leading "/" or a trailing "/"), "." and "..". And "a" and "a/b" can both be objects,
 * where a tree can hold only one entry named "a". Both are escaped with a leading byte
 * that never occurs in UTF-8, so an escaped name can never equal a real segment and the
 * mapping stays injective (lossless) — the tree format stores such names as `nameRaw`:
 *
 *   0xFF + segment   the segment is "", "." or ".."             ("a//b" → a/\xFF/b)
 *   0xFE + name      an object whose name is also a directory  ("a" beside "a/b")
 *
 * A zero-byte object whose key ends in '/' (a "folder marker", as consoles create) is
 * not a file: it becomes the directory itself, with the marker's metadata as xattrs.
 * A non-empty one is an ordinary object whose last segment is "" (→ \xFF).
 */

const BAD = 0xff;
const CLASH = 0xfe;

/** Where an object goes in the tree: the directory segments, and the file's segment (null: the folder marker of `dirs`). */
export interface KeyPlace {
  dirs: string[];
  leaf: string | null;
}

/** Splits a key (relative to the source prefix) into directory segments and a leaf. */
export function placeKey(rel: string, size: number): KeyPlace {
  const parts = rel.split('/');
  if (size === 0 && parts.length > 1 && parts[parts.length - 1] === '') return { dirs: parts.slice(0, -1), leaf: null };
  return { dirs: parts.slice(0, -1), leaf: parts[parts.length - 1]! };
}

/** A key segment as a tree name. */
export function encodeSegment(segment: string): Buffer {
  const raw = Buffer.from(segment, 'utf8');
  if (segment === '' || segment === '.' || segment === '..') return Buffer.concat([Buffer.of(BAD), raw]);
  return raw;
}

/** The name a file takes when a directory has the same name. */
export function clashName(name: Buffer): Buffer {
  return Buffer.concat([Buffer.of(CLASH), name]);
}

const utf8 = new TextDecoder('utf-8', { fatal: true });

/** A tree name back to its key segment; null when it is not one this mapping produces. */
export function decodeSegment(name: Buffer): string | null {
  let b = name;
  if (b[0] === CLASH) b = b.subarray(1);
  if (b[0] === BAD) b = b.subarray(1);
  let s: string;
  try {
    s = utf8.decode(b);
  } catch {
    return null;
  }
  // A plain name must be a real segment; an escaped one must be one of the three.
  const escaped = name[0] === BAD || (name[0] === CLASH && name[1] === BAD);
  if (escaped !== (s === '' || s === '.' || s === '..')) return null;
  return s;
}
