import { hmac } from '@noble/hashes/hmac.js';
import { sha256 } from '@noble/hashes/sha2.js';
import { describe, expect, it } from 'vitest';
import { BlobHasher } from '../../src/crypto/blob-hasher.js';
import { isId } from '../../src/core/ids.js';
import { seededRandom } from './seeded-random.js';

describe('BlobHasher', () => {
  it('is HMAC-SHA-256 under the id key, as 64 hex digits (checked against @noble/hashes)', () => {
    const random = seededRandom('hasher');
    const key = random(32);
    const h = new BlobHasher(key);
    for (const size of [0, 1, 63, 64, 65, 100_000]) {
      const data = random(size);
      const id = h.id(data);
      expect(isId(id)).toBe(true);
      expect(id).toBe(Buffer.from(hmac(sha256, key, data)).toString('hex'));
    }
  });

  it('gives different ids under different keys', () => {
    const data = Buffer.from('same content');
    expect(new BlobHasher(Buffer.alloc(32, 1)).id(data)).not.toBe(new BlobHasher(Buffer.alloc(32, 2)).id(data));
  });

  it('refuses a key of the wrong size', () => {
    expect(() => new BlobHasher(Buffer.alloc(16))).toThrow(RangeError);
  });
});
