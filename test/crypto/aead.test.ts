import { gcm } from '@noble/ciphers/aes.js';
import { describe, expect, it } from 'vitest';
import { randomBytes } from 'node:crypto';
import { aeadOpen, aeadOpenInto, aeadSeal, aeadSealInPlace, AuthError } from '../../src/crypto/aead.js';
import { native } from '../../src/util/native-addon.js';
import { seededRandom } from './seeded-random.js';

describe('AES-256-GCM', () => {
  const random = seededRandom('aead');

  it('matches @noble/ciphers gcm in both directions', () => {
    for (const size of [0, 1, 15, 16, 17, 1000, 65_537]) {
      const key = random(32);
      const nonce = random(12);
      const aad = random(size % 40);
      const plain = random(size);
      const ours = aeadSeal(key, nonce, plain, aad);
      const ref = gcm(key, nonce, aad).encrypt(plain);
      expect(ours.length).toBe(size + 16);
      expect(ours.equals(Buffer.from(ref))).toBe(true);
      expect(aeadOpen(key, nonce, ref, aad).equals(plain)).toBe(true);
      expect(Buffer.from(gcm(key, nonce, aad).decrypt(ours)).equals(plain)).toBe(true);
    }
  });

  it('rejects any change to ciphertext, tag, nonce, aad or key', () => {
    const key = random(32);
    const nonce = random(12);
    const aad = Buffer.from('aad');
    const sealed = aeadSeal(key, nonce, Buffer.from('attack at dawn'), aad);
    for (let i = 0; i < sealed.length; i++) {
      const t = Buffer.from(sealed);
      t[i]! ^= 0x01;
      expect(() => aeadOpen(key, nonce, t, aad)).toThrow(AuthError);
    }
    const flip = (b: Buffer) => {
      const c = Buffer.from(b);
      c[0]! ^= 0x80;
      return c;
    };
    expect(() => aeadOpen(key, flip(nonce), sealed, aad)).toThrow(AuthError);
    expect(() => aeadOpen(key, nonce, sealed, Buffer.from('aae'))).toThrow(AuthError);
    expect(() => aeadOpen(flip(key), nonce, sealed, aad)).toThrow(AuthError);
    expect(() => aeadOpen(key, nonce, sealed.subarray(0, 15), aad)).toThrow(AuthError);
    expect(() => aeadOpen(key, nonce, sealed.subarray(0, sealed.length - 1), aad)).toThrow(AuthError);
  });
});

describe('aeadSealInPlace', () => {
  it('leaves exactly what aeadSeal returns in the buffer, around untouched bytes', () => {
    for (const len of [0, 1, 16, 4097, 1 << 20]) {
      const key = randomBytes(32);
      const nonce = randomBytes(12);
      const aad = randomBytes(33);
      const plain = randomBytes(len);
      const buf = Buffer.alloc(len + 16 + 10, 0xaa);
      plain.copy(buf, 5);
      aeadSealInPlace(key, nonce, aad, buf, 5, len);
      expect(buf.subarray(5, 5 + len + 16).equals(aeadSeal(key, nonce, plain, aad))).toBe(true);
      expect(buf.subarray(0, 5).every((b) => b === 0xaa) && buf.subarray(5 + len + 16).every((b) => b === 0xaa)).toBe(true);
    }
    expect(() => aeadSealInPlace(randomBytes(32), randomBytes(12), Buffer.alloc(0), Buffer.alloc(20), 0, 5)).toThrow(RangeError);
  });
});

describe('aeadOpenInto', () => {
  it('native addon is built with it (else the fallback below is all that is tested)', () => {
    expect(typeof native?.aeadOpenInto).toBe('function');
  });

  it('writes exactly what aeadOpen returns into the destination, leaving the rest, also in place', () => {
    for (const len of [0, 1, 16, 4097, 1 << 20]) {
      const key = randomBytes(32);
      const nonce = randomBytes(12);
      const aad = randomBytes(33);
      const plain = randomBytes(len);
      const sealed = aeadSeal(key, nonce, plain, aad);
      const dst = Buffer.alloc(len + 10, 0xaa);
      expect(aeadOpenInto(key, nonce, sealed, aad, dst, 5)).toBe(len);
      expect(dst.subarray(5, 5 + len).equals(plain)).toBe(true);
      expect(dst.subarray(0, 5).every((b) => b === 0xaa) && dst.subarray(5 + len).every((b) => b === 0xaa)).toBe(true);
      const inPlace = Buffer.from(sealed);
      aeadOpenInto(key, nonce, inPlace, aad, inPlace, 0);
      expect(inPlace.subarray(0, len).equals(plain)).toBe(true);
    }
  });

  it('throws AuthError for any changed byte, a wrong nonce, aad or key, and a short input', () => {
    const key = randomBytes(32);
    const nonce = randomBytes(12);
    const aad = Buffer.from('aad');
    const sealed = aeadSeal(key, nonce, Buffer.from('attack at dawn, bring snacks'), aad);
    const dst = Buffer.alloc(64);
    for (let i = 0; i < sealed.length; i++) {
      const t = Buffer.from(sealed);
      t[i]! ^= 0x01;
      expect(() => aeadOpenInto(key, nonce, t, aad, dst)).toThrow(AuthError);
    }
    expect(() => aeadOpenInto(key, randomBytes(12), sealed, aad, dst)).toThrow(AuthError);
    expect(() => aeadOpenInto(key, nonce, sealed, Buffer.from('aae'), dst)).toThrow(AuthError);
    expect(() => aeadOpenInto(randomBytes(32), nonce, sealed, aad, dst)).toThrow(AuthError);
    expect(() => aeadOpenInto(key, nonce, sealed.subarray(0, 15), aad, dst)).toThrow(AuthError);
    expect(() => aeadOpenInto(key, nonce, sealed, aad, Buffer.alloc(sealed.length - 17))).toThrow(RangeError);
  });
});
