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

/** mulberry32: a small, fast, seedable PRNG; returns floats in [0, 1). For split points, sizes, delays. */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
