import { chmodSync, lchownSync } from 'node:fs';
import { fromSystemError } from '../core/errors/index.js';
import { native } from '../util/native-addon.js';
import { setTimesSync } from './set-times.js';
import type { EntryMeta } from './types.js';

/** The part of EntryMeta that restore writes back (ctime cannot be set). */
export type ApplicableMeta = Pick<EntryMeta, 'type' | 'mode' | 'uid' | 'gid' | 'mtimeNs' | 'atimeNs' | 'xattrs'>;

export interface ApplyEntryMetaOptions {
  /** chown to meta.uid/gid; default: only when running as root (nobody else may). */
  owner?: boolean;
  /** Restore xattrs (default true). Without the addon they are skipped silently: the
   *  caller prints one warning for the whole restore (see nativeLoadError()). */
  xattrs?: boolean;
}

/**
 * Writes metadata onto an entry that the restorer has already created. The order is
 * forced by the kernel:
 *  1. lchown — first, because chown clears setuid/setgid bits and drops the
 *     security.capability xattr (file capabilities);
 *  2. xattrs — after chown for that reason; before chmod because writing a POSIX ACL
 *     (system.posix_acl_access) rewrites the group permission bits;
 *  3. chmod — not for symlinks (Linux has no symlink modes), after chown so setuid
 *     survives;
 *  4. times last, on the entry itself (nofollow): every step above changes ctime and
 *     an xattr write may change mtime. For a directory call this after its children
 *     are restored, since creating them changes its mtime.
 *
 * Returns warnings for what could not be applied (not root, EPERM, ENOTSUP on the
 * target file system, ...). Throws only when the entry is not there at all.
 */
export async function applyEntryMeta(
  path: Buffer,
  meta: ApplicableMeta,
  opts: ApplyEntryMetaOptions = {},
): Promise<string[]> {
  return applyEntryMetaSync(path, meta, opts);
}

/**
 * The same with blocking calls (every step is a metadata syscall of a few
 * microseconds): used by restore workers, which apply metadata right after writing.
 */
export function applyEntryMetaSync(path: Buffer, meta: ApplicableMeta, opts: ApplyEntryMetaOptions = {}): string[] {
  const warnings: string[] = [];
  const shown = path.toString();
  const owner = opts.owner ?? process.getuid?.() === 0;

  const attempt = (what: string, step: () => void): void => {
    try {
      step();
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'ENOENT' || code === 'ENOTDIR') throw fromSystemError(err, shown);
      warnings.push(`${shown}: cannot ${what}: ${code ?? (err as Error).message}`);
    }
  };

  if (owner) attempt(`set owner ${meta.uid}:${meta.gid}`, () => lchownSync(path, meta.uid, meta.gid));

  if (opts.xattrs !== false && native && meta.xattrs) {
    const nat = native;
    for (const { name, value } of meta.xattrs) attempt(`set xattr ${name}`, () => nat.lsetxattr(path, name, value));
  }

  if (meta.type !== 'symlink') attempt(`set mode 0o${meta.mode.toString(8)}`, () => chmodSync(path, meta.mode));

  attempt('set times', () => setTimesSync(path, meta.atimeNs, meta.mtimeNs, true));
  return warnings;
}
