import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdir, stat, utimes, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { makeTempRepo, type TempRepo } from '../helpers/temp-repo.js';
import type { RepositorySession } from '../../src/engine/types.js';
import type { Tree } from '../../src/snapshot/tree.js';

/** Access times: not recorded unless asked for; restore then gives each entry its mtime. */
describe('access times', () => {
  let t: TempRepo;
  let s: RepositorySession;
  let src: string;
  const atime = new Date('2003-03-03T03:03:03Z');
  const mtime = new Date('2020-02-02T02:02:02Z');

  beforeAll(async () => {
    t = await makeTempRepo();
    src = join(t.dir, 'src');
    await mkdir(join(src, 'd'), { recursive: true });
    await writeFile(join(src, 'd', 'f'), 'content');
    s = await t.open();
  });
  afterAll(async () => {
    await s?.close();
    await t?.cleanup();
  });

  for (const recorded of [false, true]) {
    it(recorded ? 'with --atime: recorded, and restored as they were' : 'by default: not recorded, and restored as the mtime', async () => {
      // (Listing the directory in a backup moves its access time: set both again.)
      for (const p of [join(src, 'd', 'f'), join(src, 'd')]) await utimes(p, atime, mtime);
      const { snapshot } = await s.backup({ paths: [src], mode: 'full', ...(recorded ? { atime: true } : {}) });
      const tree = (await s.cat('tree', `${snapshot.id}:${join(src, 'd')}`)) as Tree;
      expect(tree.nodes[0]!.atime).toBe(recorded ? `${BigInt(atime.getTime()) * 1_000_000n}` : undefined);
      const out = join(t.dir, `out-${recorded}`);
      await s.restore({ snapshot: snapshot.id, target: out, include: [src] });
      for (const p of [join(out, src, 'd', 'f'), join(out, src, 'd')]) {
        const st = await stat(p);
        expect(st.mtimeMs).toBe(mtime.getTime());
        expect(st.atimeMs).toBe(recorded ? atime.getTime() : mtime.getTime());
      }
    });
  }
});
