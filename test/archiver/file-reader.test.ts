import { spawnSync } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { appendFile, mkdtemp, open, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { READ_SIZE, openForBackup, readPieces } from '../../src/archiver/file-reader.js';
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
