import { createCipheriv } from 'node:crypto';

/**
 * Deterministic pseudo-random bytes (AES-256-CTR keystream of a seed): incompressible
 * like real binaries, reproducible run to run, ~1 GB/s.
 */
export function pseudoRandom(seed: number, length: number): Buffer {
  const key = Buffer.alloc(32);
  key.writeUInt32LE(seed >>> 0, 0);
  const c = createCipheriv('aes-256-ctr', key, Buffer.alloc(16));
  return c.update(Buffer.alloc(length));
}
