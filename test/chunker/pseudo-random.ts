import { createCipheriv, createHash } from 'node:crypto';

/**
 * Deterministic "random" bytes: the AES-128-CTR keystream under key = iv = SHA-256(label)
 * halves. Fast (OpenSSL) and reproducible in any language, so golden vectors built
 * on it can be checked by a native chunker too. Tests must not depend on luck.
 */
export function pseudoRandomBytes(n: number, label = 'cairn test data'): Buffer {
  const d = createHash('sha256').update(label).digest();
  const c = createCipheriv('aes-128-ctr', d.subarray(0, 16), d.subarray(16, 32));
  return Buffer.concat([c.update(Buffer.alloc(n)), c.final()]);
}

export { prng } from '../helpers/data.js';

/** Integer in [lo, hi]. */
export function randInt(rand: () => number, lo: number, hi: number): number {
  return lo + Math.floor(rand() * (hi - lo + 1));
}
