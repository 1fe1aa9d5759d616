import { describe, it, expect, afterAll } from 'vitest';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { makeTempRepo, type TempRepo } from '../helpers/temp-repo.js';
import { pseudoRandom } from '../helpers/data.js';
import { LocalBackend } from '../../src/backend/local-backend.js';

async function repoBytes(path: string): Promise<number> {
  const b = new LocalBackend(path);
  let n = 0;
  for await (const f of b.list('')) n += f.size;
  return n;
}

// The 1 GB tree; CAIRN_TEST_BIG_MB shrinks it on slow machines.
const TOTAL_MB = Number(process.env.CAIRN_TEST_BIG_MB ?? 1024);

describe('incremental backup of an unchanged tree', () => {
  let t: TempRepo;
  afterAll(() => t?.cleanup());

  it(`reads nothing, takes <10% of the first backup's time and adds almost nothing (${TOTAL_MB} MiB)`, async () => {
    t = await makeTempRepo();
    const src = join(t.dir, 'src');
    // 1/4 of the volume in large files, the rest in 4 MiB and small files across dirs.
    let written = 0;
    let seed = 1;
    for (let d = 0; written < TOTAL_MB * 2 ** 20; d++) {
      const dir = join(src, `d${d}`);
      await mkdir(dir, { recursive: true });
      for (let f = 0; f < 16 && written < TOTAL_MB * 2 ** 20; f++) {
        const size = f === 0 ? 16 * 2 ** 20 : f < 8 ? 4 * 2 ** 20 : 64 * 1024;
        await writeFile(join(dir, `f${f}`), pseudoRandom(seed++, size));
        written += size;
      }
    }
    const s = await t.open();
    const t0 = performance.now();
    const first = await s.backup({ paths: [src] });
    const firstMs = performance.now() - t0;
    const sizeAfterFirst = await repoBytes(t.repo);

    const t1 = performance.now();
    const second = await s.backup({ paths: [src] });
    const secondMs = performance.now() - t1;
    const sizeAfterSecond = await repoBytes(t.repo);
    await s.close();

    expect(first.snapshot.summary!.bytesRead).toBe(written);
    expect(second.snapshot.summary!.bytesRead).toBe(0);
    expect(second.snapshot.summary!.filesUnchanged).toBe(first.snapshot.summary!.filesNew);
    expect(second.snapshot.summary!.dataBlobs).toBe(0);
    // Only the snapshot file and its index/lock churn: well under 0.1% of the data.
    expect(sizeAfterSecond - sizeAfterFirst).toBeLessThan(Math.max(64 * 1024, written / 1000));
    expect(secondMs).toBeLessThan(firstMs * 0.1);
  });
});
