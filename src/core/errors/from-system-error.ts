import { CairnError } from './cairn-error.js';

/**
 * Maps an operating-system error (errno codes from node:fs) to a CairnError with a
 * stable code, keeping the original as `cause`. Anything unknown is returned as is,
 * so that real bugs still surface with their stack.
 */
export function fromSystemError(err: unknown, what: string): unknown {
  if (err instanceof CairnError) return err;
  const code = (err as NodeJS.ErrnoException | undefined)?.code;
  switch (code) {
    case 'ENOSPC':
    case 'EDQUOT':
      return new CairnError('DISK_FULL', `no space left on device while writing ${what}`, {
        cause: err,
        hint: 'free space on the target file system and run the command again; nothing committed was damaged',
      });
    case 'EACCES':
    case 'EPERM':
      return new CairnError('PERMISSION_DENIED', `permission denied: ${what}`, { cause: err });
    case 'EROFS':
      return new CairnError('IO_ERROR', `read-only file system: ${what}`, { cause: err });
    case 'EIO':
      return new CairnError('IO_ERROR', `I/O error (${code}) on ${what}`, { cause: err });
    default:
      return err;
  }
}

/** An error with an errno code (ENOENT, ENAMETOOLONG, ...), as node:fs and friends raise them. */
export function isErrnoError(err: unknown): err is NodeJS.ErrnoException {
  const code = (err as NodeJS.ErrnoException | undefined)?.code;
  return err instanceof Error && typeof code === 'string' && /^E[A-Z0-9]+$/.test(code);
}

/**
 * fromSystemError, and every other errno as IO_ERROR with `message(err)`. For callers
 * where any refusal of the file system is the environment, never a bug. Errors without
 * an errno pass through with their stack.
 */
export function fromSystemErrorOrIo(err: unknown, what: string, message: (e: NodeJS.ErrnoException) => string, hint?: string): unknown {
  const mapped = fromSystemError(err, what);
  if (mapped instanceof CairnError || !isErrnoError(mapped)) return mapped;
  return new CairnError('IO_ERROR', message(mapped), { cause: mapped, ...(hint !== undefined ? { hint } : {}) });
}
