import { describe, it, expect, afterAll } from 'vitest';
import { mkdir, writeFile, readdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { makeTempRepo, type TempRepo } from '../helpers/temp-repo.js';
import { pseudoRandom } from '../helpers/data.js';

describe('the local index cache is disposable', () => {
  let t: TempRepo;
  afterAll(() => t?.cleanup());

  async function cacheFile(): Promise<string> {
    const [repoId] = await readdir(t.cacheDir);
    return join(t.cacheDir, repoId!, 'index.sqlite');
  }

  it('a corrupt cache file is rebuilt from the repository, not an error', async () => {
    t = await makeTempRepo();
    const src = join(t.dir, 'src');
    await mkdir(src);
    await writeFile(join(src, 'f'), pseudoRandom(3, 5 * 2 ** 20));
    let s = await t.open();
    await s.backup({ paths: [src] });
    await s.close();

    const file = await cacheFile();
    await rm(`${file}-wal`, { force: true });
    await rm(`${file}-shm`, { force: true });
    await writeFile(file, Buffer.alloc(8192, 0x5a)); // not a database
    s = await t.open();
    const r = await s.restore({ snapshot: 'latest', target: join(t.dir, 'out'), verify: true });
    expect(r.verified!.mismatches).toEqual([]);
    // And the next backup still deduplicates against what the repository holds.
    const b = await s.backup({ paths: [src] });
    expect(b.snapshot.summary!.dataBlobs).toBe(0);
    await s.close();
  });

  it('a deleted cache is rebuilt and a backup after it adds no data', async () => {
    await rm(t.cacheDir, { recursive: true });
    const s = await t.open();
    const b = await s.backup({ paths: [join(t.dir, 'src')], mode: 'full' });
    expect(b.snapshot.summary!.dataBlobs).toBe(0);
    expect(b.snapshot.summary!.bytesRead).toBe(5 * 2 ** 20);
    await s.close();
  });
});
