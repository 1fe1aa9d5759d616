import { spawnSync } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { appendFile, mkdtemp, open, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { READ_SIZE, openForBackup, readFileOnMain, readPieces } from '../../src/archiver/file-reader.js';
import { createCutFinder } from '../../src/chunker/create-cut-finder.js';
import { gearTable } from '../../src/chunker/gear-table.js';
import { CairnError } from '../../src/core/errors/index.js';
import type { BlobId } from '../../src/core/ids.js';
import { pseudoRandom } from '../helpers/data.js';

/**
 * readPieces sizes its reads by the size the walk saw, and must still return exactly the
 * file's bytes when that size is wrong: the file grew or shrank since.
 */
describe('readPieces', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'cairn-file-reader-'));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  async function readAll(path: string, expected?: number): Promise<{ bytes: Buffer; sizes: number[]; counted: number }> {
    const fh = await open(path, 'r');
    const pieces: Buffer[] = [];
    let counted = 0;
    try {
      for await (const p of readPieces(fh, (n) => (counted += n), expected)) pieces.push(p);
    } finally {
      await fh.close();
    }
    return { bytes: Buffer.concat(pieces), sizes: pieces.map((p) => p.length), counted };
  }

  it.each([0, 1, 100, READ_SIZE - 1, READ_SIZE, READ_SIZE + 1, 3 * READ_SIZE + 7])('reads a %i-byte file whole, in pieces of at most READ_SIZE', async (n) => {
    const path = join(dir, `f${n}`);
    const data = pseudoRandom(n + 1, n);
    await writeFile(path, data);
    for (const expected of [n, undefined]) {
      const r = await readAll(path, expected);
      expect(r.bytes.equals(data)).toBe(true);
      expect(r.counted).toBe(n);
      expect(Math.max(0, ...r.sizes)).toBeLessThanOrEqual(READ_SIZE);
    }
  });

  it('a small file takes a small buffer, not READ_SIZE', async () => {
    const path = join(dir, 'small');
    await writeFile(path, 'hello');
    const fh = await open(path, 'r');
    try {
      const it = readPieces(fh, () => undefined, 5)[Symbol.asyncIterator]();
      const first = (await it.next()).value as Buffer;
      expect(first.toString()).toBe('hello');
      expect(first.buffer.byteLength).toBeLessThan(READ_SIZE);
    } finally {
      await fh.close();
    }
  });

  it('reads past the expected size when the file grew, and stops early when it shrank', async () => {
    const path = join(dir, 'grew');
    const data = pseudoRandom(9, 10_000);
    await writeFile(path, data);
    await appendFile(path, Buffer.from('more'));
    const grew = await readAll(path, 10_000);
    expect(grew.bytes.equals(Buffer.concat([data, Buffer.from('more')]))).toBe(true);
    const shrank = await readAll(path, 50_000);
    expect(shrank.bytes.length).toBe(10_004);
  });

  it('openForBackup does not wait for a writer of a fifo swapped in for the file', async () => {
    const fifo = join(dir, 'fifo');
    expect(spawnSync('mkfifo', [fifo]).status).toBe(0);
    const fh = await openForBackup(Buffer.from(fifo)); // hung here without O_NONBLOCK
    try {
      const pieces: Buffer[] = [];
      for await (const p of readPieces(fh, () => undefined, 5)) pieces.push(p);
      expect(pieces).toEqual([]);
    } finally {
      await fh.close();
    }
  });
});

/** The main thread's twin of the workers' backupFile (backups without a worker pool). */
describe('readFileOnMain', () => {
  let dir: string;
  const params = { min: 4096, avg: 16384, max: 65536 };
  const gear = gearTable(Buffer.alloc(32, 5));
  const seen = async (path: string) => {
    const st = await stat(path, { bigint: true });
    return { size: Number(st.size), mtimeNs: st.mtimeNs, ctimeNs: st.ctimeNs };
  };
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'cairn-read-main-'));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('stores every chunk, in order, and gives their ids; unchanged', async () => {
    const path = join(dir, 'whole');
    const data = pseudoRandom(3, 300_000);
    await writeFile(path, data);
    const stored: Buffer[] = [];
    const r = await readFileOnMain(Buffer.from(path), await seen(path), createCutFinder(params, gear), async (c) => (stored.push(Buffer.from(c)), `id${stored.length}` as BlobId), () => undefined);
    expect(Buffer.concat(stored).equals(data)).toBe(true);
    expect(stored.length).toBeGreaterThan(1);
    expect(r).toMatchObject({ ids: stored.map((_, i) => `id${i + 1}`), read: data.length, changed: false });
    expect(r.error).toBeUndefined();
  });

  it('says changed, with the bytes read, when the file grew while read', async () => {
    const path = join(dir, 'growing');
    await writeFile(path, pseudoRandom(4, 100_000));
    const before = await seen(path);
    let grown = false;
    const r = await readFileOnMain(Buffer.from(path), before, createCutFinder(params, gear), async () => {
      if (!grown) await appendFile(path, Buffer.alloc(5000, 1));
      grown = true;
      return 'id' as BlobId;
    }, () => undefined);
    expect(r.changed).toBe(true);
    expect(r.read).toBe(105_000);
  });

  it('gives a missing file as an error with its code, and passes a cancel on', async () => {
    const gone = await readFileOnMain(Buffer.from(join(dir, 'nope')), { size: 1, mtimeNs: 0n, ctimeNs: 0n }, createCutFinder(params, gear), async () => 'id' as BlobId, () => undefined);
    expect(gone).toMatchObject({ ids: [], error: { code: 'ENOENT' } });
    const path = join(dir, 'cancelled');
    await writeFile(path, pseudoRandom(5, 1000));
    const cancelled = readFileOnMain(Buffer.from(path), await seen(path), createCutFinder(params, gear), async () => 'id' as BlobId, () => {
      throw new CairnError('CANCELLED', 'backup cancelled');
    });
    await expect(cancelled).rejects.toMatchObject({ code: 'CANCELLED' });
  });
});
