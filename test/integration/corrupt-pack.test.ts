import { describe, it, expect, afterAll } from 'vitest';
import { mkdir, writeFile, readdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { makeTempRepo, type TempRepo } from '../helpers/temp-repo.js';
import { pseudoRandom } from '../helpers/data.js';
import { flipByte } from '../helpers/damage.js';

async function packFiles(repo: string): Promise<string[]> {
  const out: string[] = [];
  for (const d of await readdir(join(repo, 'data'))) {
    for (const f of await readdir(join(repo, 'data', d))) out.push(join(repo, 'data', d, f));
  }
  return out.sort();
}

describe('check --read-data on a damaged pack', () => {
  let t: TempRepo;
  afterAll(() => t?.cleanup());

  it('names every pack with one flipped byte, wherever the byte is, and the files it affects', async () => {
    t = await makeTempRepo();
    const src = join(t.dir, 'src');
    await mkdir(src, { recursive: true });
    for (let i = 0; i < 6; i++) await writeFile(join(src, `file${i}`), pseudoRandom(i + 10, 3 * 2 ** 20));
    const s = await t.open();
    await s.backup({ paths: [src] });
    expect((await s.check({ readData: true })).ok).toBe(true);
    const packs = await packFiles(t.repo);
    expect(packs.length).toBeGreaterThan(0);

    for (const pack of packs) {
      const { size } = await (await import('node:fs/promises')).stat(pack);
      // Header, first blob, middle, trailer and footer: every region must be covered.
      for (const offset of [0, 20, 60, Math.floor(size / 2), size - 30, size - 1]) {
        await flipByte(pack, offset);
        const r = await s.check({ readData: true });
        await flipByte(pack, offset); // repair for the next round
        const id = pack.slice(pack.lastIndexOf('/') + 1);
        expect(r.ok, `byte ${offset} of ${id}`).toBe(false);
        expect(r.damagedPacks).toEqual([id]);
        expect(r.problems.every((p) => p.id === id)).toBe(true);
        expect(r.affected.length).toBe(1);
        expect(r.affected[0]!.paths.length).toBeGreaterThan(0);
      }
    }
    expect((await s.check({ readData: true })).ok).toBe(true);
    await s.close();
  });

  it('check without --read-data still passes (structure is intact) but restore of damaged data fails clearly', async () => {
    const s = await t.open();
    // A data pack (the largest): tree packs are small and their damage is structural.
    const sizes = await Promise.all((await packFiles(t.repo)).map(async (p) => ({ p, size: (await stat(p)).size })));
    const pack = sizes.sort((a, b) => b.size - a.size)[0]!.p;
    await flipByte(pack, 100);
    expect((await s.check()).ok).toBe(true);
    await expect(s.restore({ snapshot: 'latest', target: join(t.dir, 'out') })).rejects.toMatchObject({ code: 'PACK_CORRUPT' });
    await flipByte(pack, 100);
    await s.close();
  });
});
