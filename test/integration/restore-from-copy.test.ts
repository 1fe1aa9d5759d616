import { describe, it, expect, afterAll } from 'vitest';
import { mkdir, writeFile, rm, cp, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { makeTempRepo, type TempRepo } from '../helpers/temp-repo.js';
import { pseudoRandom } from '../helpers/data.js';

describe('a copied repository restores alone', () => {
  let t: TempRepo;
  afterAll(() => t?.cleanup());

  it('restores every snapshot from a copy on another path with the cache deleted', async () => {
    t = await makeTempRepo();
    const src = join(t.dir, 'src');
    await mkdir(join(src, 'sub'), { recursive: true });
    await writeFile(join(src, 'a'), pseudoRandom(1, 2 * 2 ** 20));
    await writeFile(join(src, 'sub', 'b'), 'version one\n');
    let s = await t.open();
    const first = await s.backup({ paths: [src], tags: ['one'] });
    await writeFile(join(src, 'sub', 'b'), 'version two\n');
    await s.backup({ paths: [src] });
    await s.close();

    const copy = join(t.dir, 'elsewhere', 'repo-copy');
    await cp(t.repo, copy, { recursive: true });
    await rm(t.repo, { recursive: true });
    await rm(t.cacheDir, { recursive: true });

    s = await t.engine.open({ repo: copy, password: t.password, cacheDir: join(t.dir, 'fresh-cache') });
    const snaps = await s.snapshots();
    expect(snaps.length).toBe(2);
    await s.restore({ snapshot: first.snapshot.id.slice(0, 10), target: join(t.dir, 'r1'), verify: true });
    const r2 = await s.restore({ snapshot: 'latest', target: join(t.dir, 'r2'), verify: true });
    expect(r2.verified!.mismatches).toEqual([]);
    expect(await readFile(join(t.dir, 'r1', src, 'sub', 'b'), 'utf8')).toBe('version one\n');
    expect(await readFile(join(t.dir, 'r2', src, 'sub', 'b'), 'utf8')).toBe('version two\n');
    expect((await readFile(join(t.dir, 'r2', src, 'a'))).equals(pseudoRandom(1, 2 * 2 ** 20))).toBe(true);
    expect((await s.check({ readData: true })).ok).toBe(true);
    await s.close();
  });
});
