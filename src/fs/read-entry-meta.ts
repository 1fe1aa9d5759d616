import { lstatSync, promises as fsp, readlinkSync, type BigIntStats } from 'node:fs';
import { idNames, type IdNames } from './id-names.js';
import { native } from '../util/native-addon.js';
import { nodeTypeFromMode } from './node-type.js';
import type { EntryMeta, Xattr, XattrError } from './types.js';

export interface ReadEntryMetaOptions {
  /** Read extended attributes (default true). Needs the addon; without it they are
   *  skipped silently and the caller prints one warning (see nativeLoadError()). */
  xattrs?: boolean;
}

/**
 * Metadata of the entry at `path` itself (lstat: a symlink is described, not followed).
 * lstat and readlink failures are thrown as node:fs errors (with `code`) for the caller
 * to classify (a vanished file is ENOENT); xattr failures never throw, see readXattrs.
 */
export async function readEntryMeta(path: Buffer, opts: ReadEntryMetaOptions = {}): Promise<EntryMeta> {
  const st = await fsp.lstat(path, { bigint: true });
  const names = await idNames();
  const linkTarget = (st.mode & 0o170000n) === 0o120000n ? await fsp.readlink(path, { encoding: 'buffer' }) : undefined;
  return metaFromStat(path, st, names, linkTarget, opts);
}

/**
 * The same, with blocking calls: for the walker, which reads whole directories at a
 * time, where one lstat costs ~3 µs this way and ~40 µs through the thread pool.
 * `names` comes from `await idNames()`.
 */
export function readEntryMetaSync(path: Buffer, names: IdNames, opts: ReadEntryMetaOptions = {}): EntryMeta {
  const st = lstatSync(path, { bigint: true });
  const linkTarget = (st.mode & 0o170000n) === 0o120000n ? readlinkSync(path, { encoding: 'buffer' }) : undefined;
  return metaFromStat(path, st, names, linkTarget, opts);
}

function metaFromStat(path: Buffer, st: BigIntStats, names: IdNames, linkTarget: Buffer | undefined, opts: ReadEntryMetaOptions): EntryMeta {
  return entryMeta(path, Number(st.mode), Number(st.uid), Number(st.gid), st.mtimeNs, st.atimeNs, st.ctimeNs, st.dev, st.ino, Number(st.nlink), Number(st.size), st.rdev, linkTarget, names, opts);
}

/**
 * EntryMeta from the fields of an lstat (`mode` with its type bits) and, for a symlink,
 * its target; reads the xattrs unless opts say not to. The one place entries are built,
 * for lstat here and for the native directory scan (dir-lister.ts), so that every entry
 * has the same fields in the same order. Throws EUNKNOWNTYPE for a type Cairn does not know.
 */
export function entryMeta(
  path: Buffer,
  mode: number,
  uid: number,
  gid: number,
  mtimeNs: bigint,
  atimeNs: bigint,
  ctimeNs: bigint,
  dev: bigint,
  inode: bigint,
  nlink: number,
  size: number,
  rdev: bigint,
  linkTarget: Buffer | undefined,
  names: IdNames,
  opts: ReadEntryMetaOptions,
): EntryMeta {
  const type = nodeTypeFromMode(mode);
  if (type === undefined) {
    throw Object.assign(new Error(`unknown file type (mode 0o${mode.toString(8)})`), {
      code: 'EUNKNOWNTYPE',
      path: path.toString(),
    });
  }
  const meta: EntryMeta = { type, mode: mode & 0o7777, uid, gid, mtimeNs, atimeNs, ctimeNs, dev, inode, nlink, size };
  const user = names.userName(uid);
  if (user !== undefined) meta.user = user;
  const group = names.groupName(gid);
  if (group !== undefined) meta.group = group;
  if (type === 'chardev' || type === 'blockdev') meta.rdev = rdev;
  if (linkTarget) meta.linkTarget = linkTarget;
  if (opts.xattrs !== false && native) {
    const { xattrs, errors } = readXattrs(path);
    if (xattrs.length > 0) meta.xattrs = xattrs;
    if (errors.length > 0) meta.xattrErrors = errors;
  }
  return meta;
}

/**
 * All xattrs of the entry, sorted by the bytes of their names (the tree format's order).
 * Not errors: ENOTSUP from the listing (the file system has none) and ENODATA from a read
 * (removed since the listing). Anything else (EACCES, EIO, ...) is recorded and skipped:
 * one unreadable attribute must not cost the whole entry.
 */
export function readXattrs(path: Buffer): { xattrs: Xattr[]; errors: XattrError[] } {
  const xattrs: Xattr[] = [];
  const errors: XattrError[] = [];
  if (!native) return { xattrs, errors };
  let names: string[];
  try {
    names = native.llistxattr(path);
  } catch (err) {
    if (codeOf(err) !== 'ENOTSUP') errors.push(toXattrError(err));
    return { xattrs, errors };
  }
  for (const name of names) {
    try {
      const value = native.lgetxattr(path, name);
      if (value !== null) xattrs.push({ name, value });
    } catch (err) {
      if (codeOf(err) !== 'ENODATA') errors.push(toXattrError(err, name));
    }
  }
  xattrs.sort((a, b) => Buffer.compare(Buffer.from(a.name), Buffer.from(b.name)));
  return { xattrs, errors };
}

function codeOf(err: unknown): string {
  return String((err as { code?: unknown } | null)?.code ?? 'UNKNOWN');
}

function toXattrError(err: unknown, name?: string): XattrError {
  const out: XattrError = { code: codeOf(err), message: (err as Error)?.message ?? String(err) };
  if (name !== undefined) out.name = name;
  return out;
}
