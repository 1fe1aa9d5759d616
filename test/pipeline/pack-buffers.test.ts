import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { gearTable } from '../../src/chunker/gear-table.js';
import { encKey } from '../../src/crypto/master-key.js';
import { verifyPack } from '../../src/format/pack-reader.js';
import { ClaimTable } from '../../src/pipeline/claim-table.js';
import { createPackBuffers, packBuffersInUse, PackBuffers, releasePackBuffer } from '../../src/pipeline/pack-buffers.js';
import { WorkerPool } from '../../src/pipeline/worker-pool.js';
import { testMasterKey } from '../format/pack-fixture.js';
import { pseudoRandom } from '../helpers/data.js';

describe('PackBuffers', () => {
  it('hands out each buffer once until it is released', () => {
    const set = createPackBuffers(2, 1024);
    const taker = new PackBuffers(set);
    const a = taker.acquire();
    const b = taker.acquire();
    expect(new Set([a.index, b.index]).size).toBe(2);
    expect(a.bytes.buffer).toBe(set.buffers[a.index]);
    expect(packBuffersInUse(set)).toBe(2);
    releasePackBuffer(set, a.index);
    releasePackBuffer(set, a.index); // idempotent
    expect(packBuffersInUse(set)).toBe(1);
    const c = taker.acquire();
    expect(c.index).toBe(a.index);
    expect(taker.waits).toBe(0);
  });
});

describe('backup workers and their pack buffers', () => {
  const mk = testMasterKey('pack-buffers');
  let dir = '';
  afterAll(() => (dir ? rm(dir, { recursive: true, force: true }) : undefined));

  it('never have more packs open or uploading than buffers, and never reuse one before it is released', async () => {
    dir = await mkdtemp(join(tmpdir(), 'cairn-pack-buffers-'));
    const files: { path: Buffer; size: number }[] = [];
    for (let i = 0; i < 12; i++) {
      const path = join(dir, `f${i}`);
      // Half random (stored raw), half repetitive (compressed).
      const data = i % 2 ? pseudoRandom(i, 700 * 1024) : Buffer.alloc(700 * 1024, i);
      await writeFile(path, data);
      files.push({ path: Buffer.from(path), size: data.length });
    }
    const packBuffers = 3;
    const pool = WorkerPool.start({
      masterKey: mk,
      compressionLevel: 3,
      packSize: 256 * 1024,
      threads: 2,
      packBuffers,
      files: { chunker: { min: 16 * 1024, avg: 64 * 1024, max: 128 * 1024 }, gear: gearTable(mk.chunkerSeed), indexPath: null, claims: ClaimTable.create() },
    });
    expect(pool).not.toBeNull();
    let held = 0;
    let maxHeld = 0;
    let packs = 0;
    const uploads: Promise<void>[] = [];
    const problems: unknown[] = [];
    pool!.setPackHandler((id, bytes, _entries, release) => {
      packs++;
      maxHeld = Math.max(maxHeld, ++held);
      expect(bytes.buffer).toBeInstanceOf(SharedArrayBuffer);
      const copy = Buffer.from(bytes);
      // A slow "upload": the workers run out of buffers and must wait for this release.
      uploads.push(
        new Promise<void>((resolve) =>
          setTimeout(() => {
            if (!copy.equals(bytes)) problems.push(`pack ${id.slice(0, 8)} changed before it was released`);
            problems.push(...verifyPack(bytes, id, (k) => encKey(mk, k)));
            held--;
            release();
            resolve();
          }, 30),
        ),
      );
    });
    try {
      const results = await Promise.all(files.map((f) => pool!.backupFile(f.path, { size: f.size, mtimeNs: 0n, ctimeNs: 0n })));
      await pool!.flush();
      await Promise.all(uploads);
      expect(results.every((r) => r.error === undefined)).toBe(true);
      expect(problems).toEqual([]);
      // 8.4 MB in packs of 256 KiB: far more packs than buffers, never more than that many at once.
      expect(packs).toBeGreaterThan(packBuffers * 3);
      expect(maxHeld).toBeGreaterThan(0);
      expect(maxHeld).toBeLessThanOrEqual(packBuffers);
      expect(packBuffersInUse(pool!.packBuffers!)).toBe(0);
    } finally {
      await pool!.close();
    }
  });
});
