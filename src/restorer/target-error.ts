import { CairnError, fromSystemErrorOrIo } from '../core/errors/index.js';

/**
 * An error of the restore target as one with a stable code. The file system's own
 * failures map as everywhere (full, refused, EIO); any other errno while writing an
 * entry (ENOENT, ENOTDIR, ENAMETOOLONG, ...) means the target changed under the restore
 * or cannot hold the snapshot's names: IO_ERROR naming the path, never INTERNAL.
 * Errors without an errno (bugs) pass through with their stack.
 */
export function targetError(err: unknown, path: string): unknown {
  return fromSystemErrorOrIo(
    err,
    path,
    (e) => `cannot restore ${path}: ${e.message}`,
    'something else may have changed the restore target during the restore, or its file system cannot hold this name; restore into an empty directory',
  );
}

/**
 * The restore target itself: it must be a directory or not exist yet. Anything else
 * is the user's choice of target, so USAGE; the file system's failures map as above.
 */
export function targetRootError(err: unknown, target: string): unknown {
  const code = (err as NodeJS.ErrnoException | undefined)?.code;
  if (code === 'EEXIST' || code === 'ENOTDIR') {
    return new CairnError('USAGE', `restore target ${target} is not a directory${code === 'ENOTDIR' ? ' (a part of its path is a file)' : ''}`, {
      cause: err,
      hint: 'give --target a directory, or a path that does not exist yet',
    });
  }
  if (code === 'ENAMETOOLONG') {
    return new CairnError('USAGE', `restore target ${target}: name too long`, { cause: err, hint: 'give --target a shorter path' });
  }
  return targetError(err, target);
}

/**
 * Errnos that concern one entry of the target, not the target as a whole: a name the
 * file system refuses (too long, invalid bytes on vfat/exFAT), an entry it will not let
 * Cairn replace or write (immutable, another owner), something else in the way. A
 * restore steps over such an entry, as restic does, and names it at the end. A full
 * disk, a read-only or failing device stop the restore: every later write would fail.
 */
const ENTRY_ERRNOS = new Set(['ENAMETOOLONG', 'EINVAL', 'EILSEQ', 'EACCES', 'EPERM', 'EEXIST', 'EISDIR', 'ENOTDIR', 'ELOOP', 'ENOENT', 'ENOTEMPTY', 'EBUSY', 'ETXTBSY']);

/** True for a target error (as targetError made it) that concerns only its own entry. */
export function isEntryRefusal(err: unknown): err is CairnError {
  if (!(err instanceof CairnError) || (err.code !== 'IO_ERROR' && err.code !== 'PERMISSION_DENIED')) return false;
  const code = (err.cause as NodeJS.ErrnoException | undefined)?.code;
  return typeof code === 'string' && ENTRY_ERRNOS.has(code);
}
