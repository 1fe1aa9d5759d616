import { readFile } from 'node:fs/promises';
import { CairnError, fromSystemError } from '../core/errors/index.js';

/** Removes exactly one trailing "\n" or "\r\n": the newline an editor or `echo` adds. */
export function stripOneNewline(s: string): string {
  if (s.endsWith('\r\n')) return s.slice(0, -2);
  if (s.endsWith('\n')) return s.slice(0, -1);
  return s;
}

/**
 * Reads a password file. Error mapping (documented in docs/errors.md):
 * missing file or a directory → SOURCE_NOT_FOUND (15), not readable → PERMISSION_DENIED
 * (40), empty → CONFIG_INVALID (2), other OS errors → IO_ERROR (42) via fromSystemError.
 */
export async function readPasswordFile(path: string, flag = '--password-file'): Promise<string> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR' || code === 'EISDIR') {
      throw new CairnError('SOURCE_NOT_FOUND', code === 'EISDIR' ? `password file ${path} is a directory` : `password file not found: ${path}`, {
        cause: err,
        hint: `check the path given to ${flag} (relative paths are relative to the working directory)`,
      });
    }
    if (code === 'EACCES' || code === 'EPERM') {
      throw new CairnError('PERMISSION_DENIED', `cannot read password file ${path}: permission denied`, {
        cause: err,
        hint: 'make the file readable by the user running cairn (and by no one else: chmod 600)',
      });
    }
    throw fromSystemError(err, `password file ${path}`);
  }
  const password = stripOneNewline(text);
  if (password === '') {
    throw new CairnError('CONFIG_INVALID', `password file ${path} is empty`, {
      hint: 'write the password on the first line of the file',
    });
  }
  return password;
}
