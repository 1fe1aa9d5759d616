import { describe, it, expect, afterAll } from 'vitest';
import { mkdir, mkdtemp, open, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { makeTempRepo, type TempRepo } from '../helpers/temp-repo.js';
import { pseudoRandom } from '../helpers/data.js';
import { watchLoads } from '../helpers/watch-loads.js';
import { writeBlobs, type SealedRange } from '../../src/pipeline/restore-task.js';
import type { BlobId } from '../../src/core/ids.js';
import type { PackEntry } from '../../src/format/pack-writer.js';

/** Sums the bytes of ranged reads of data packs. */
const counting = (read: { bytes: number }) =>
  watchLoads((name, range) => {
    if (name.startsWith('data/') && range) read.bytes += range.length;
  });

describe('restore of big files (workers write them)', () => {
  let t: TempRepo;
  afterAll(() => t?.cleanup());

  // With workers, and with none (threads 0: the same task runs on the main thread).
  it.each([{ threads: undefined }, { threads: 0 }])('reads each distinct blob once, writes repeats and leaves zeros as holes, byte for byte (threads $threads)', async ({ threads }) => {
    const read = { bytes: 0 };
    await t?.cleanup();
    t = await makeTempRepo({ wrapBackend: counting(read) });
    const src = join(t.dir, 'src');
    await mkdir(src);
    const a = pseudoRandom(1, 6 * 2 ** 20);
    const content = Buffer.concat([a, Buffer.alloc(12 * 2 ** 20), a, pseudoRandom(2, 2 * 2 ** 20 + 123)]);
    await writeFile(join(src, 'big'), content);
    const s = await t.engine.open({ repo: t.repo, password: t.password, cacheDir: t.cacheDir, ...(threads !== undefined ? { threads } : {}) });
    const b = await s.backup({ paths: [src] });
    const stored = b.snapshot.summary!.bytesAddedPacked;
    read.bytes = 0;
    const out = join(t.dir, 'out');
    const r = await s.restore({ snapshot: 'latest', target: out });
    await s.close();
    expect(r.files).toBe(1);
    const back = await readFile(join(out, src, 'big'));
    expect(back.equals(content)).toBe(true);
    // The second copy of `a` and every zero chunk after the first are repeats: no pack
    // byte is read twice, so the reads add up to at most what the backup stored.
    expect(read.bytes).toBeGreaterThan(0);
    expect(read.bytes).toBeLessThanOrEqual(stored);
    expect(stored).toBeLessThan(content.length - 6 * 2 ** 20);
    // The zero chunks are holes: of the 12 MiB run, the chunks that are all zero (at
    // least 6 MiB; the ones at its edges carry data) take no blocks.
    const st = await stat(join(out, src, 'big'));
    expect(st.blocks * 512).toBeLessThanOrEqual(content.length - 6 * 2 ** 20);
  });

  it('fails with PACK_CORRUPT when a blob of a big file is damaged', async () => {
    const t2 = await makeTempRepo();
    try {
      const src = join(t2.dir, 'src');
      await mkdir(src);
      await writeFile(join(src, 'big'), pseudoRandom(3, 5 * 2 ** 20));
      const s = await t2.open();
      await s.backup({ paths: [src] });
      // Flip a byte in the middle of the (only) data pack.
      const { readdir } = await import('node:fs/promises');
      const packs: string[] = [];
      for (const d of await readdir(join(t2.repo, 'data'))) for (const f of await readdir(join(t2.repo, 'data', d))) packs.push(join(t2.repo, 'data', d, f));
      const big = (await Promise.all(packs.map(async (p) => ({ p, size: (await stat(p)).size })))).sort((x, y) => y.size - x.size)[0]!;
      const fh = await open(big.p, 'r+');
      const one = Buffer.alloc(1);
      await fh.read(one, 0, 1, Math.floor(big.size / 2));
      one[0]! ^= 0xff;
      await fh.write(one, 0, 1, Math.floor(big.size / 2));
      await fh.close();
      await expect(s.restore({ snapshot: 'latest', target: join(t2.dir, 'out') })).rejects.toMatchObject({ code: 'PACK_CORRUPT' });
      await s.close();
    } finally {
      await t2.cleanup();
    }
  });
});

describe('writeBlobs', () => {
  const entry = (id: string, offset: number, length: number): PackEntry => ({ type: 'data', id: id as BlobId, offset, length, rawLength: length, compressed: false });

  it('opens each blob once, writes it at every offset, skips zero blobs, and reports a bad blob', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'cairn-writeblobs-'));
    try {
      const path = join(dir, 'f');
      await writeFile(path, Buffer.alloc(0));
      const range: SealedRange = { encKeyId: 0, salt: new Uint8Array(0), entries: [entry('x', 0, 4), entry('z', 4, 4), entry('y', 8, 4)], bytes: new Uint8Array(12), base: 0 };
      const opens: string[] = [];
      // One reused buffer, as on a worker: each plaintext must be written before the next open.
      const scratch = Buffer.alloc(4);
      const plain: Record<string, string> = { x: 'xxxx', z: '\0\0\0\0', y: 'yyyy' };
      const r = writeBlobs({ path: new Uint8Array(Buffer.from(path)), range, at: [[0, 12], [4], [8]] }, (_r, e) => {
        opens.push(e.id);
        scratch.write(plain[e.id]!, 'latin1');
        return scratch;
      });
      expect(r.error).toBeUndefined();
      expect(opens).toEqual(['x', 'z', 'y']);
      // The zero blob is not written: bytes 4-7 are a gap the creator's truncate fills.
      expect((await readFile(path)).toString('latin1')).toBe('xxxx\0\0\0\0yyyyxxxx');
      const bad = writeBlobs({ path: new Uint8Array(Buffer.from(path)), range, at: [[0], [4], [8]] }, (_r, e) => {
        if (e.id === 'z') throw Object.assign(new Error('blob z failed authentication'), { code: 'PACK_CORRUPT' });
        return Buffer.from(plain[e.id]!, 'latin1');
      });
      expect(bad.error?.code).toBe('PACK_CORRUPT');
      const missing = writeBlobs({ path: new Uint8Array(Buffer.from(join(dir, 'nope'))), range, at: [[0], [4], [8]] }, () => Buffer.from('xxxx'));
      expect(missing.error?.code).toBe('ENOENT');
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
