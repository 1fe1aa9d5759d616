import { hkdf } from '@noble/hashes/hkdf.js';
import { sha256 } from '@noble/hashes/sha2.js';
import { describe, expect, it } from 'vitest';
import { hkdf32 } from '../../src/crypto/hkdf.js';
import { seededRandom } from './seeded-random.js';

describe('hkdf32', () => {
  it('matches @noble/hashes HKDF-SHA-256', () => {
    const random = seededRandom('hkdf');
    for (const [ikmLen, saltLen, info] of [[32, 32, 'cairn pack v1'], [32, 0, ''], [17, 64, 'cairn sealed v1 ü']] as const) {
      const ikm = random(ikmLen);
      const salt = random(saltLen);
      const expected = hkdf(sha256, ikm, salt, new TextEncoder().encode(info), 32);
      expect(hkdf32(ikm, salt, info).equals(Buffer.from(expected))).toBe(true);
    }
  });

  it('separates keys by salt and info', () => {
    const ikm = Buffer.alloc(32, 7);
    const a = hkdf32(ikm, Buffer.alloc(32, 1), 'cairn pack v1');
    expect(a.length).toBe(32);
    expect(a.equals(hkdf32(ikm, Buffer.alloc(32, 2), 'cairn pack v1'))).toBe(false);
    expect(a.equals(hkdf32(ikm, Buffer.alloc(32, 1), 'cairn sealed v1'))).toBe(false);
  });
});
