import { CairnError } from './cairn-error.js';
/**
 * Maps an operating-system error (errno codes from node:fs) to a CairnError with a
 * stable code, keeping the original as `cause`. Anything unknown is returned as is,
 * so that real bugs still surface with their stack.
 */
export function fromSystemError(err, what) {
    if (err instanceof CairnError)
        return err;
    const code = err?.code;
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
        case 'EIO':
        case 'EROFS':
            return new CairnError('IO_ERROR', `I/O error (${code}) on ${what}`, { cause: err });
        default:
            return err;
    }
}
