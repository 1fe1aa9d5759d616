import { execFile } from 'node:child_process';
import { constants } from 'node:fs';
import { promisify } from 'node:util';
import { CairnError, fromSystemError } from '../core/errors/index.js';
import { utf8OrUndefined } from './decode-name.js';
import { native } from '../util/native-addon.js';
import type { NodeType } from './types.js';

const run = promisify(execFile);

export interface CreateSpecialResult {
  created: boolean;
  /** Why nothing was created, for the restore report. */
  warning?: string;
}

/**
 * Creates a fifo, character or block device at `path` (which must not exist); `rdev` is
 * the device number as lstat reports it (st_rdev), required for devices. The mode
 * is only approximate (the umask applies); applyEntryMeta sets it exactly afterwards.
 *
 * Skipped with a warning rather than failing the restore, as restic does:
 *  - sockets: a socket file is useless without the process that listened on it;
 *  - devices when not root, or when root lacks CAP_MKNOD (EPERM, e.g. in a container);
 *  - without the addon, entries whose path is not valid UTF-8 (the mkfifo/mknod
 *    commands only take strings).
 * Other failures (EEXIST, EACCES, ...) are thrown.
 */
export async function createSpecial(
  path: Buffer,
  type: NodeType,
  mode: number,
  rdev?: bigint,
): Promise<CreateSpecialResult> {
  const shown = path.toString();
  const skip = (why: string): CreateSpecialResult => ({ created: false, warning: `${shown}: ${why}` });
  const perm = mode & 0o7777;

  switch (type) {
    case 'socket':
      return skip('socket not restored (it belongs to the program that listens on it)');
    case 'fifo':
      return make(path, constants.S_IFIFO | perm, 0n, ['mkfifo', ['-m', perm.toString(8)]], skip);
    case 'chardev':
    case 'blockdev': {
      if (rdev === undefined) throw new CairnError('INTERNAL', `device ${shown} has no rdev`);
      if (process.getuid?.() !== 0) return skip(`${type} not restored: only root can create devices`);
      const [major, minor] = majorMinor(rdev);
      const typeBits = type === 'chardev' ? constants.S_IFCHR : constants.S_IFBLK;
      const letter = type === 'chardev' ? 'c' : 'b';
      return make(path, typeBits | perm, rdev, ['mknod', ['-m', perm.toString(8)], [letter, major, minor]], skip);
    }
    default:
      throw new CairnError('INTERNAL', `createSpecial cannot create a ${type} (${shown})`);
  }
}

type Fallback = [command: string, before: string[], after?: string[]];

async function make(
  path: Buffer,
  mode: number,
  rdev: bigint,
  [command, before, after = []]: Fallback,
  skip: (why: string) => CreateSpecialResult,
): Promise<CreateSpecialResult> {
  try {
    if (native) {
      native.mknod(path, mode, rdev);
    } else {
      const text = utf8OrUndefined(path);
      if (text === undefined) return skip('not created: the name is not UTF-8 and the native addon is missing');
      await runCommand(command, [...before, '--', text, ...after]);
    }
    return { created: true };
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EPERM') return skip(`not created: ${(err as Error).message}`);
    throw fromSystemError(err, path.toString());
  }
}

/** coreutils prints strerror(3) text; with LC_ALL=C it can be mapped back to errno names
 *  so that callers see the same codes as from the addon (EEXIST, EPERM, ...). */
const STRERROR_CODES: Array<[string, string]> = [
  ['File exists', 'EEXIST'],
  ['Operation not permitted', 'EPERM'],
  ['Permission denied', 'EACCES'],
  ['No such file or directory', 'ENOENT'],
  ['Not a directory', 'ENOTDIR'],
  ['No space left on device', 'ENOSPC'],
  ['Read-only file system', 'EROFS'],
];

async function runCommand(command: string, args: string[]): Promise<void> {
  try {
    await run(command, args, { env: { ...process.env, LC_ALL: 'C' } });
  } catch (err) {
    const stderr = String((err as { stderr?: unknown }).stderr ?? '').trim();
    const code = STRERROR_CODES.find(([text]) => stderr.endsWith(text))?.[1];
    if (code) throw Object.assign(new Error(`${code}: ${stderr}`), { code, cause: err });
    throw new CairnError('IO_ERROR', `${command} failed: ${stderr || (err as Error).message}`, { cause: err });
  }
}

/** glibc's gnu_dev_major/minor: the st_rdev layout that lstat and mknod(2) share. */
export function majorMinor(rdev: bigint): [string, string] {
  const major = ((rdev >> 8n) & 0xfffn) | ((rdev >> 32n) & 0xfffff000n);
  const minor = (rdev & 0xffn) | ((rdev >> 12n) & 0xffffff00n);
  return [major.toString(), minor.toString()];
}
