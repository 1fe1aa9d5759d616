import { describe, it, expect, afterAll } from 'vitest';
import { mkdir, readFile, writeFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { makeTempRepo, type TempRepo } from '../helpers/temp-repo.js';
import { pseudoRandom } from '../helpers/data.js';
import { watchLoads } from '../helpers/watch-loads.js';
import { planRanges } from '../../src/restorer/small-files.js';
import { restoreFiles, type SealedRange } from '../../src/pipeline/restore-task.js';
import type { BlobLocation } from '../../src/index/blob-index.js';
import type { BlobId, PackId } from '../../src/core/ids.js';

/** Counts ranged reads of data packs. */
const counting = (loads: { n: number }) =>
  watchLoads((name, range) => {
    if (name.startsWith('data/') && range) loads.n++;
  });

describe('pack-oriented restore of small files', () => {
  let t: TempRepo;
  afterAll(() => t?.cleanup());

  // With workers, and with none (threads 0: the same task runs on the main thread).
  it.each([{ threads: undefined }, { threads: 0 }])('reads each pack range once for many small files, and restores them byte for byte (threads $threads)', async ({ threads }) => {
    const loads = { n: 0 };
    await t?.cleanup();
    t = await makeTempRepo({ wrapBackend: counting(loads) });
    const src = join(t.dir, 'src');
    await mkdir(join(src, 'a'), { recursive: true });
    const files = 200;
    for (let i = 0; i < files; i++) await writeFile(join(src, 'a', `f${i}`), pseudoRandom(i + 1, 1000 + i * 37));
    // The same content under many names: one blob.
    for (let i = 0; i < 20; i++) await writeFile(join(src, `same${i}`), pseudoRandom(999, 50_000));
    const s = await t.engine.open({ repo: t.repo, password: t.password, cacheDir: t.cacheDir, ...(threads !== undefined ? { threads } : {}) });
    await s.backup({ paths: [src] });
    loads.n = 0;
    const out = join(t.dir, 'out');
    const r = await s.restore({ snapshot: 'latest', target: out, verify: true });
    expect(r.files).toBe(files + 20);
    expect(r.verified?.mismatches).toEqual([]);
    // One read per file before; now a handful for all 220 (batches of up to 64 files).
    expect(loads.n).toBeGreaterThan(0);
    expect(loads.n).toBeLessThanOrEqual(8);
    for (let i = 0; i < files; i += 17) {
      expect((await readFile(join(out, src, 'a', `f${i}`))).equals(pseudoRandom(i + 1, 1000 + i * 37))).toBe(true);
    }
    expect((await readFile(join(out, src, 'same7'))).equals(pseudoRandom(999, 50_000))).toBe(true);
    await s.close();
  });
});

describe('planRanges and restoreFiles', () => {
  const loc = (id: string, pack: string, offset: number, length: number): BlobLocation => ({
    type: 'data',
    id: id as BlobId,
    pack: pack as PackId,
    offset,
    length,
    rawLength: length,
    compressed: false,
  });

  it('merges neighbouring blobs of a pack into one range and lists every blob once', () => {
    const a = loc('a', 'p1', 0, 100);
    const b = loc('b', 'p1', 100, 50);
    const c = loc('c', 'p1', 10_000_000, 10); // far: a range of its own
    const d = loc('d', 'p2', 40, 10);
    const { ranges, fileBlobs } = planRanges([{ locs: [a, b] }, { locs: [d, a] }, { locs: [c, a, b] }]);
    expect(ranges.map((r) => [r.pack, r.offset, r.length, r.locs.map((l) => l.id)])).toEqual([
      ['p1', 0, 150, ['a', 'b']],
      ['p1', 10_000_000, 10, ['c']],
      ['p2', 40, 10, ['d']],
    ]);
    expect(fileBlobs).toEqual([[0, 1], [3, 0], [2, 0, 1]]);
  });

  it('opens a blob used by many files once, and fails only the files that need a bad blob', async () => {
    const { mkdtemp, rm } = await import('node:fs/promises');
    const { tmpdir } = await import('node:os');
    const dir = await mkdtemp(join(tmpdir(), 'cairn-batch-'));
    try {
      const range: SealedRange = {
        encKeyId: 0,
        salt: new Uint8Array(0),
        entries: [loc('good', 'p', 0, 4), loc('bad', 'p', 4, 4)],
        bytes: new Uint8Array(8),
        base: 0,
      };
      const opens: string[] = [];
      const meta = { type: 'file' as const, mode: 0o640, uid: 0, gid: 0, mtimeNs: 1_000_000_000_000_000_000n, atimeNs: 1_000_000_000_000_000_000n };
      const files = Array.from({ length: 30 }, (_, i) => ({
        path: new Uint8Array(Buffer.from(join(dir, `f${i}`))),
        size: i === 29 ? 8 : 12,
        blobs: i === 29 ? [0, 1] : [0, 0, 0],
        meta,
      }));
      const r = restoreFiles({ ranges: [range], files, owner: false }, {
        open: (_r, e) => {
          opens.push(e.id);
          if (e.id === 'bad') throw Object.assign(new Error('blob bad failed authentication'), { code: 'PACK_CORRUPT' });
          return Buffer.from('abcd');
        },
      });
      expect(opens).toEqual(['good', 'bad']);
      expect(r.opened).toBe(2);
      expect(r.files.slice(0, 29).every((f) => !f.error)).toBe(true);
      expect(r.files[29]!.error?.code).toBe('PACK_CORRUPT');
      expect(await readFile(join(dir, 'f3'), 'utf8')).toBe('abcdabcdabcd');
      const st = await stat(join(dir, 'f3'));
      expect(st.mode & 0o777).toBe(0o640);
      expect(st.mtimeMs).toBe(1e12);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
