import { describe, expect, it } from 'vitest';
import { chunkStream } from '../../src/chunker/chunk-stream.js';
import { FastCdc } from '../../src/chunker/fast-cdc.js';
import { gearTable } from '../../src/chunker/gear-table.js';
import type { ChunkerParams, CutFinder } from '../../src/chunker/types.js';
import { prng, pseudoRandomBytes, randInt } from './pseudo-random.js';

const GEAR = gearTable(new Uint8Array(32).fill(7));
const SMALL: ChunkerParams = { min: 2048, avg: 8192, max: 32768 };

async function* piecesOf(data: Uint8Array, splits: number[]): AsyncGenerator<Uint8Array> {
  let prev = 0;
  for (const at of [...splits, data.length]) {
    yield data.subarray(prev, at);
    prev = at;
  }
}

async function collect(source: AsyncIterable<Uint8Array>, finder: CutFinder): Promise<Buffer[]> {
  const out: Buffer[] = [];
  for await (const c of chunkStream(source, finder)) out.push(c);
  return out;
}

/** Compares chunk lists cheaply (deep equality on Buffers walks every byte through the matcher). */
function expectSameChunks(actual: Buffer[], expected: Buffer[]): void {
  expect(actual.map((c) => c.length)).toEqual(expected.map((c) => c.length));
  expect(actual.every((c, i) => c.equals(expected[i]!))).toBe(true);
}

function expectedChunks(data: Uint8Array, p: ChunkerParams): Buffer[] {
  const f = new FastCdc(p, GEAR);
  const cuts = [...f.update(data), ...f.finish()];
  return cuts.map((c, i) => Buffer.from(data.subarray(i === 0 ? 0 : cuts[i - 1], c)));
}

describe('chunkStream', () => {
  it('yields the finder chunks whatever the piece sizes, reassembling to the input', async () => {
    const rand = prng(7);
    for (let t = 0; t < 40; t++) {
      const data = pseudoRandomBytes(randInt(rand, 0, 300_000), `stream ${t}`);
      const splits: number[] = [];
      for (let i = randInt(rand, 0, 30); i > 0; i--) splits.push(randInt(rand, 0, data.length));
      splits.sort((a, b) => a - b);
      const chunks = await collect(piecesOf(data, splits), new FastCdc(SMALL, GEAR));
      expectSameChunks(chunks, expectedChunks(data, SMALL));
      expect(Buffer.concat(chunks).equals(data)).toBe(true);
    }
  });

  it('an empty stream, or one of empty pieces, yields nothing', async () => {
    expect(await collect(piecesOf(new Uint8Array(0), []), new FastCdc(SMALL, GEAR))).toEqual([]);
    expect(await collect(piecesOf(new Uint8Array(0), [0, 0, 0]), new FastCdc(SMALL, GEAR))).toEqual([]);
  });

  it('a stream smaller than min is one chunk', async () => {
    const data = pseudoRandomBytes(1000);
    const chunks = await collect(piecesOf(data, [1, 500]), new FastCdc(SMALL, GEAR));
    expect(chunks).toHaveLength(1);
    expect(chunks[0]!.equals(data)).toBe(true);
  });

  it('yields copies: reusing or changing a source piece later does not change a chunk', async () => {
    const data = pseudoRandomBytes(200_000);
    const original = Buffer.from(data);
    const chunks = await collect(piecesOf(data, [50_000, 120_000]), new FastCdc(SMALL, GEAR));
    data.fill(0);
    expect(Buffer.concat(chunks).equals(original)).toBe(true);
    for (const c of chunks) expect(c.buffer).not.toBe(data.buffer);
  });

  it('streams: a chunk is yielded before more than max + one piece has been read', async () => {
    const data = pseudoRandomBytes(4 << 20);
    const piece = 4096;
    let read = 0;
    async function* source(): AsyncGenerator<Uint8Array> {
      for (let off = 0; off < data.length; off += piece) {
        read += piece;
        yield data.subarray(off, off + piece);
      }
    }
    let maxAhead = 0;
    let emitted = 0;
    for await (const c of chunkStream(source(), new FastCdc(SMALL, GEAR))) {
      emitted += c.length;
      maxAhead = Math.max(maxAhead, read - emitted);
    }
    expect(emitted).toBe(data.length);
    expect(maxAhead).toBeLessThanOrEqual(SMALL.max + piece);
  });

  it('leaves the finder reset when the consumer stops early', async () => {
    const data = pseudoRandomBytes(300_000);
    const finder = new FastCdc(SMALL, GEAR);
    for await (const _ of chunkStream(piecesOf(data, [100_000]), finder)) break;
    expectSameChunks(await collect(piecesOf(data, []), finder), expectedChunks(data, SMALL));
  });

  it('refuses a finder that is not at the start of a stream', async () => {
    const finder = new FastCdc(SMALL, GEAR);
    finder.update(pseudoRandomBytes(100_000, 'stale'));
    await expect(collect(piecesOf(pseudoRandomBytes(100_000), []), finder)).rejects.toThrow(/cut finder returned offset/);
  });
});
