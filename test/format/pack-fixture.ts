import type { BlobType } from '../../src/core/ids.js';
import { BlobHasher } from '../../src/crypto/blob-hasher.js';
import { encKey, generateMasterKey, type MasterKey } from '../../src/crypto/master-key.js';
import { PackWriter } from '../../src/format/pack-writer.js';
import { seededRandom } from '../crypto/seeded-random.js';

export const now = new Date('2026-11-27T00:00:00.000Z');

export function testMasterKey(seed = 'pack-mk'): MasterKey {
  return generateMasterKey(seededRandom(seed), now);
}

export const keyFn = (mk: MasterKey) => (id: number) => encKey(mk, id);

/** A small pack mixing types, compressible and incompressible blobs, and an empty blob. */
export function buildPack(mk: MasterKey, seed = 'pack') {
  const random = seededRandom(seed);
  const hasher = new BlobHasher(mk.idKey);
  const blobs: { type: BlobType; plain: Buffer; level: number | null }[] = [
    { type: 'data', plain: Buffer.from('hello hello hello hello hello hello hello hello '.repeat(8)), level: 3 },
    { type: 'data', plain: random(200), level: 3 },
    { type: 'tree', plain: Buffer.from(JSON.stringify({ nodes: ['a', 'b', 'c', 'd'].map((name) => ({ name, type: 'file', mode: 420 })) })), level: 3 },
    { type: 'data', plain: Buffer.alloc(0), level: 3 },
    { type: 'data', plain: Buffer.from('stored raw on purpose, stored raw on purpose'), level: null },
  ];
  const writer = new PackWriter({ encKeyId: mk.currentEncKey, encKey: encKey(mk, mk.currentEncKey), random });
  const added = blobs.map((b) => ({ ...b, entry: writer.add(b.type, hasher.id(b.plain), b.plain, b.level) }));
  return { writer, added, hasher, ...writer.finish() };
}
