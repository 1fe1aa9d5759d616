import { describe, expect, it } from 'vitest';
import { isAllZero } from '../../src/fs/sparse.js';

describe('isAllZero', () => {
  it('answers for empty, small, odd-sized and multi-slice buffers', () => {
    expect(isAllZero(new Uint8Array(0))).toBe(true);
    for (const size of [1, 7, 8, 9, 4095, 65_536, 65_537, 200_001]) {
      const buf = new Uint8Array(size);
      expect(isAllZero(buf), `zeros ${size}`).toBe(true);
      for (const at of new Set([0, size >> 1, size - 1, Math.min(size - 1, 65_536)])) {
        buf[at] = 1;
        expect(isAllZero(buf), `size ${size}, byte ${at}`).toBe(false);
        buf[at] = 0;
      }
    }
  });

  it('respects the view: unaligned subarrays and Buffers into a shared pool', () => {
    const backing = new Uint8Array(100_003).fill(9);
    backing.fill(0, 3, 100_000);
    expect(isAllZero(backing.subarray(3, 100_000))).toBe(true);
    expect(isAllZero(backing.subarray(2, 100_000))).toBe(false);
    expect(isAllZero(backing.subarray(3, 100_001))).toBe(false);
    const pooled = Buffer.from([0, 0, 0]); // small Buffers share one ArrayBuffer
    expect(isAllZero(pooled)).toBe(true);
  });
});
