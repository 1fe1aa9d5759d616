import { open, readdir } from 'node:fs/promises';
import { join } from 'node:path';

/** Inverts bits of one byte of a file in place (`mask` picks which): damage as bit rot leaves it. */
export async function flipByte(path: string, offset: number, mask = 0x01): Promise<void> {
  const fh = await open(path, 'r+');
  try {
    const b = Buffer.alloc(1);
    await fh.read(b, 0, 1, offset);
    b[0] = b[0]! ^ mask;
    await fh.write(b, 0, 1, offset);
  } finally {
    await fh.close();
  }
}

/** The ids of the pack files of a local repository, sorted. */
export async function packIdsIn(repo: string): Promise<string[]> {
  const out: string[] = [];
  for (const d of await readdir(join(repo, 'data'))) out.push(...(await readdir(join(repo, 'data', d))));
  return out.filter((f) => /^[0-9a-f]{64}$/.test(f)).sort();
}
