import { createCipheriv, createDecipheriv } from 'node:crypto';
import { native } from '../util/native-addon.js';

/** AES-256-GCM with a 12-byte nonce and a 16-byte tag appended to the ciphertext. */
export const AEAD_KEY_SIZE = 32;
export const AEAD_NONCE_SIZE = 12;
export const AEAD_TAG_SIZE = 16;

/**
 * Authentication failed: wrong key, wrong nonce/AAD, or damaged bytes. Deliberately
 * carries no detail (GCM cannot tell which); callers translate it into the CairnError
 * that fits their context (WRONG_PASSWORD, PACK_CORRUPT, REPO_CORRUPT).
 */
export class AuthError extends Error {
  constructor(message = 'authentication failed') {
    super(message);
    this.name = 'AuthError';
  }
}

/** Returns ciphertext || tag. The caller guarantees (key, nonce) is never reused. */
export function aeadSeal(key: Uint8Array, nonce: Uint8Array, plain: Uint8Array, aad: Uint8Array): Buffer {
  const cipher = createCipheriv('aes-256-gcm', key, nonce, { authTagLength: AEAD_TAG_SIZE });
  cipher.setAAD(aad);
  const head = cipher.update(plain);
  const tail = cipher.final();
  return Buffer.concat([head, tail, cipher.getAuthTag()]);
}

/** Inverse of aeadSeal. Throws AuthError; never returns unauthenticated plaintext. */
export function aeadOpen(key: Uint8Array, nonce: Uint8Array, sealed: Uint8Array, aad: Uint8Array): Buffer {
  if (sealed.length < AEAD_TAG_SIZE) throw new AuthError('sealed data shorter than the tag');
  const split = sealed.length - AEAD_TAG_SIZE;
  const decipher = createDecipheriv('aes-256-gcm', key, nonce, { authTagLength: AEAD_TAG_SIZE });
  decipher.setAAD(aad);
  decipher.setAuthTag(sealed.subarray(split));
  const head = decipher.update(sealed.subarray(0, split));
  try {
    const tail = decipher.final();
    return tail.length === 0 ? head : Buffer.concat([head, tail]);
  } catch {
    throw new AuthError();
  }
}

/**
 * Seals buf[start, start+length) in place: afterwards buf[start, start+length+16) holds
 * ciphertext || tag, exactly what aeadSeal returns for those bytes. The caller leaves
 * room for the tag. With the native addon nothing is allocated (packs are sealed blob by
 * blob into one buffer, and per-blob output Buffers are garbage that V8 frees late);
 * without it, node:crypto's output is copied back.
 */
export function aeadSealInPlace(key: Uint8Array, nonce: Uint8Array, aad: Uint8Array, buf: Uint8Array, start: number, length: number): void {
  if (start < 0 || length < 0 || start + length + AEAD_TAG_SIZE > buf.length) throw new RangeError('aeadSealInPlace: no room for the bytes and the tag');
  if (native?.aeadSealInPlace) {
    native.aeadSealInPlace(key, nonce, aad, buf, start, length);
    return;
  }
  const sealed = aeadSeal(key, nonce, buf.subarray(start, start + length), aad);
  buf.set(sealed, start);
}

/**
 * Decrypts `sealed` (ciphertext || tag) into dst[dstStart, dstStart + sealed.length - 16)
 * and returns that length; throws AuthError, and then dst's bytes there are garbage.
 * dst may be `sealed` itself (in place). With the native addon nothing is allocated
 * (check and restore open ~1.5 GB in 1-8 MiB blobs, and a new Buffer per blob costs a
 * page fault per 4 KiB and garbage V8 frees late); without it, node:crypto's output is
 * copied in.
 */
export function aeadOpenInto(key: Uint8Array, nonce: Uint8Array, sealed: Uint8Array, aad: Uint8Array, dst: Uint8Array, dstStart = 0): number {
  if (sealed.length < AEAD_TAG_SIZE) throw new AuthError('sealed data shorter than the tag');
  const length = sealed.length - AEAD_TAG_SIZE;
  if (dstStart < 0 || dstStart + length > dst.length) throw new RangeError('aeadOpenInto: no room in the destination');
  if (native?.aeadOpenInto) {
    if (!native.aeadOpenInto(key, nonce, aad, sealed, dst, dstStart)) throw new AuthError();
    return length;
  }
  dst.set(aeadOpen(key, nonce, sealed, aad), dstStart);
  return length;
}
