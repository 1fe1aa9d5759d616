import { describe, expect, it } from 'vitest';
import { alignedSharedBuffer, alignUp, canReadDirect, DIRECT_ALIGN } from '../../src/util/aligned-buffer.js';
import { native } from '../../src/util/native-addon.js';

describe('aligned buffers for O_DIRECT', () => {
  it('rounds sizes up to the alignment', () => {
    expect([0, 1, 4095, 4096, 4097].map(alignUp)).toEqual([0, 4096, 4096, 4096, 8192]);
  });

  it('gives shared memory of the rounded size, starting at an aligned address when the addon is there', () => {
    for (const n of [1, 4096, 10_000, 17 * 2 ** 20]) {
      const b = alignedSharedBuffer(n);
      expect(b.buffer).toBeInstanceOf(SharedArrayBuffer);
      expect(b.length).toBe(alignUp(n));
      if (native?.addressMod) expect(native.addressMod(b, DIRECT_ALIGN)).toBe(0);
    }
  });

  it('allows a direct read only into an aligned buffer with room for the rounded size', () => {
    const b = alignedSharedBuffer(8192);
    const available = native?.addressMod !== undefined;
    expect(canReadDirect(b, 8192)).toBe(available);
    expect(canReadDirect(b, 5000)).toBe(available);
    expect(canReadDirect(b, 8193)).toBe(false); // needs 12288
    expect(canReadDirect(b.subarray(512), 4096)).toBe(false); // 512 past an aligned start
  });

  it('refuses a bad alignment', () => {
    if (!native?.addressMod) return;
    expect(() => native!.addressMod!(Buffer.alloc(1), 3)).toThrow(RangeError);
  });
});
