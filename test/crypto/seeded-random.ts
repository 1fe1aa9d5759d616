import { createHash } from 'node:crypto';
import type { RandomSource } from '../../src/core/random.js';

/** Deterministic RandomSource for tests: SHA-256 in counter mode over a seed. */
export function seededRandom(seed: string): RandomSource {
  let counter = 0;
  return (n) => {
    const out = Buffer.alloc(n);
    for (let p = 0; p < n; p += 32) {
      const block = createHash('sha256').update(`${seed}:${counter++}`).digest();
      block.copy(out, p, 0, Math.min(32, n - p));
    }
    return out;
  };
}
