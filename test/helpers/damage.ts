import { open, readdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { LocalBackend } from '../../src/backend/local-backend.js';
import { FakeClock } from '../../src/core/clock.js';
import type { BlobId } from '../../src/core/ids.js';
import { systemRandom } from '../../src/core/random.js';
import { syncIndex } from '../../src/repository/index-sync.js';
import { Repository, packName } from '../../src/repository/repository.js';

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

/**
 * Flips one byte inside a blob of a local repository, found through an index cache of
 * its own (in `scratch`, removed after); returns the blob's pack. `at` is the offset
 * into the blob (7: past nothing in particular, inside the sealed bytes).
 */
export async function damageBlobIn(
  t: { repo: string; password: string },
  scratch: string,
  type: 'data' | 'tree',
  id: string,
  at = 7,
): Promise<string> {
  const cacheDir = join(scratch, 'probe-cache');
  const r = await Repository.open(new LocalBackend(t.repo), t.password, { clock: new FakeClock(), random: systemRandom, cacheDir });
  try {
    await syncIndex(r);
    const loc = r.index.find(type, id as BlobId);
    if (!loc) throw new Error(`${type} blob ${id} is in no pack`);
    await flipByte(join(t.repo, packName(loc.pack)), loc.offset + at, 0x40);
    return loc.pack;
  } finally {
    await r.close();
    await rm(cacheDir, { recursive: true, force: true });
  }
}
