import { describe, expect, it } from 'vitest';
import { ReadAhead } from '../../src/util/read-ahead.js';

/** A source of 0..n-1 that records how far it was pulled and whether it was released. */
function source(n: number, failAt?: number) {
  const state = { pulled: 0, returned: false };
  async function* gen(): AsyncGenerator<number> {
    try {
      for (let i = 0; i < n; i++) {
        if (i === failAt) throw new Error(`failed at ${i}`);
        state.pulled = i + 1;
        yield i;
      }
    } finally {
      state.returned = true;
    }
  }
  return { it: gen(), state };
}

const settle = async (): Promise<void> => {
  for (let i = 0; i < 20; i++) await new Promise((r) => setImmediate(r));
};

async function collect<T>(it: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const x of it) out.push(x);
  return out;
}

describe('ReadAhead', () => {
  it('reads up to its limit before anyone asks, then hands everything out in order', async () => {
    const { it: src, state } = source(100);
    const ra = new ReadAhead(src, 10);
    await settle();
    expect(state.pulled).toBe(10);
    expect(ra.buffered).toBe(10);
    expect(await collect(ra)).toEqual([...Array(100).keys()]);
    expect(state.returned).toBe(true);
  });

  it('hands out a short source whole, read entirely ahead', async () => {
    const { it: src, state } = source(3);
    const ra = new ReadAhead(src, 10);
    await settle();
    expect(state.returned).toBe(true);
    expect(await collect(ra)).toEqual([0, 1, 2]);
  });

  it('throws a source error in its place, after the items read before it', async () => {
    const { it: src } = source(10, 4);
    const ra = new ReadAhead(src, 100);
    await settle();
    const got: number[] = [];
    await expect(
      (async () => {
        for await (const x of ra) got.push(x);
      })(),
    ).rejects.toThrow('failed at 4');
    expect(got).toEqual([0, 1, 2, 3]);
  });

  it('releases the source when the consumer stops early, or when closed unconsumed', async () => {
    const a = source(100);
    const ra = new ReadAhead(a.it, 5);
    await settle();
    for await (const x of ra) if (x === 7) break;
    expect(a.state.returned).toBe(true);
    expect(a.state.pulled).toBe(8);

    const b = source(100);
    const closed = new ReadAhead(b.it, 5);
    await closed.close();
    expect(b.state.returned).toBe(true);
    expect(b.state.pulled).toBeLessThanOrEqual(5);
    await expect(collect(closed)).rejects.toThrow('closed');
  });

  it('can be iterated once', async () => {
    const ra = new ReadAhead(source(2).it, 5);
    await collect(ra);
    await expect(collect(ra)).rejects.toThrow('once');
  });

  it('rejects a limit that is not positive', () => {
    expect(() => new ReadAhead(source(1).it, 0)).toThrow(RangeError);
  });
});
