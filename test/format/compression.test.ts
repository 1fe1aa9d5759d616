import { describe, expect, it } from 'vitest';
import { isCairnError } from '../../src/core/errors/index.js';
import { compress, decompress, maybeCompress } from '../../src/format/compression.js';
import { seededRandom } from '../crypto/seeded-random.js';

const text = Buffer.from('the quick brown fox jumps over the lazy dog\n'.repeat(2000));

describe('compression', () => {
  it('round-trips at several levels, with and without a known length', () => {
    for (const level of [1, 3, 9, -1]) {
      const c = compress(text, level);
      expect(c.length).toBeLessThan(text.length / 10);
      expect(decompress(c).equals(text)).toBe(true);
      expect(decompress(c, text.length).equals(text)).toBe(true);
    }
    expect(decompress(compress(Buffer.alloc(0), 3), 0).length).toBe(0);
  });

  it('rejects a wrong expected length and garbage with REPO_CORRUPT', () => {
    const c = compress(text, 3);
    for (const f of [() => decompress(c, text.length - 1), () => decompress(c, text.length + 1), () => decompress(Buffer.from('nope'))]) {
      let err: unknown;
      try {
        f();
      } catch (e) {
        err = e;
      }
      expect(isCairnError(err, 'REPO_CORRUPT')).toBe(true);
    }
  });

  it('keeps random data raw, without copying it', () => {
    const random = seededRandom('incompressible')(100_000);
    const r = maybeCompress(random, 3);
    expect(r.compressed).toBe(false);
    expect(r.bytes).toBe(random);
    const view = new Uint8Array(random.buffer, random.byteOffset, 1000);
    expect(maybeCompress(view, 3)).toMatchObject({ compressed: false });
  });

  it('compresses when it helps', () => {
    const r = maybeCompress(text, 3);
    expect(r.compressed).toBe(true);
    expect(decompress(r.bytes, text.length).equals(text)).toBe(true);
  });
});
