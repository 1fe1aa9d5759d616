import { hkdfSync } from 'node:crypto';

/**
 * HKDF-SHA-256 (RFC 5869) producing one 32-byte key. Used to derive a per-pack and
 * per-sealed-file key from a data root key and a random salt, so that fixed or
 * counter nonces are safe (a key is never reused across files).
 */
export function hkdf32(ikm: Uint8Array, salt: Uint8Array, info: string): Buffer {
  return Buffer.from(hkdfSync('sha256', ikm, salt, Buffer.from(info, 'utf8'), 32));
}
