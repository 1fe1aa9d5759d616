import { createHmac } from 'node:crypto';
import { CairnError } from '../core/errors/index.js';

const SEED_SIZE = 32;
const DOMAIN = Buffer.from('cairn gear v1', 'latin1');

/**
 * The chunker's 256-entry gear table (docs/repository-format.md, Chunking):
 * `gear[i] = u32le(HMAC-SHA-256(seed, "cairn gear v1" || u8 i)[0..4])`.
 * The seed is secret (it lives in the master key), so cut points differ between
 * repositories and do not reveal content to someone who knows the algorithm.
 */
export function gearTable(seed: Uint8Array): Uint32Array {
  if (seed.length !== SEED_SIZE) {
    // A wrong-sized seed means a malformed master key or a caller bug; either way the
    // cut points would not match the repository's, so refuse rather than chunk differently.
    throw new CairnError('INTERNAL', `chunker seed must be ${SEED_SIZE} bytes, got ${seed.length}`);
  }
  const table = new Uint32Array(256);
  const msg = Buffer.alloc(DOMAIN.length + 1);
  DOMAIN.copy(msg);
  for (let i = 0; i < 256; i++) {
    msg[DOMAIN.length] = i;
    table[i] = createHmac('sha256', seed).update(msg).digest().readUInt32LE(0);
  }
  return table;
}
