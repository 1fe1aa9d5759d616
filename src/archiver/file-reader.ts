import { open, type FileHandle } from 'node:fs/promises';
import { constants } from 'node:fs';

export const READ_SIZE = 1024 * 1024;

/**
 * Opens a file for backup without updating its atime where the kernel allows it
 * (O_NOATIME needs ownership or CAP_FOWNER; fall back silently), and without
 * following a symlink swapped in since the walk saw a regular file.
 */
export async function openForBackup(path: Buffer): Promise<FileHandle> {
  const base = constants.O_RDONLY | constants.O_NOFOLLOW;
  try {
    return await open(path, base | constants.O_NOATIME);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EPERM') return open(path, base);
    throw err;
  }
}

/** Yields the file's bytes in fresh buffers (the chunker may keep views of them). */
export async function* readPieces(fh: FileHandle, onBytes: (n: number) => void): AsyncGenerator<Buffer> {
  for (;;) {
    const buf = Buffer.allocUnsafe(READ_SIZE);
    const { bytesRead } = await fh.read(buf, 0, READ_SIZE, null);
    if (bytesRead === 0) return;
    onBytes(bytesRead);
    yield bytesRead === READ_SIZE ? buf : buf.subarray(0, bytesRead);
  }
}
