import { describe, expect, it } from 'vitest';
import { isCairnError } from '../../src/core/errors/index.js';
import {
  addEncKey,
  encKey,
  generateMasterKey,
  parseMasterKey,
  serializeMasterKey,
  type MasterKey,
} from '../../src/crypto/master-key.js';
import { seededRandom } from './seeded-random.js';

const now = new Date('2026-11-27T00:00:00.000Z');

function expectCode(fn: () => unknown, code: string): void {
  let caught: unknown;
  try {
    fn();
  } catch (err) {
    caught = err;
  }
  expect(isCairnError(caught) && caught.code).toBe(code);
}

describe('master key', () => {
  it('generates distinct 32-byte secrets with key 1 current', () => {
    const mk = generateMasterKey(seededRandom('mk'), now);
    expect(mk.currentEncKey).toBe(1);
    expect(mk.encKeys).toHaveLength(1);
    expect(mk.encKeys[0]!.created).toBe(now.toISOString());
    const secrets = [mk.encKeys[0]!.key, mk.idKey, mk.chunkerSeed].map((b) => b.toString('hex'));
    expect(new Set(secrets).size).toBe(3);
    for (const s of secrets) expect(s).toHaveLength(64);
  });

  it('round-trips through the spec JSON', () => {
    const mk = addEncKey(generateMasterKey(seededRandom('rt'), now), seededRandom('rt2'), now);
    const buf = serializeMasterKey(mk);
    const json = JSON.parse(buf.toString('utf8'));
    expect(Object.keys(json).sort()).toEqual(['chunkerSeed', 'currentEncKey', 'encKeys', 'idKey', 'version']);
    expect(json.encKeys[0].key).toBe(mk.encKeys[0]!.key.toString('base64'));
    expect(parseMasterKey(buf)).toEqual(mk);
  });

  it('rotation appends max+1, makes it current and keeps old keys', () => {
    const mk1 = generateMasterKey(seededRandom('rot'), now);
    const mk2 = addEncKey(mk1, seededRandom('rot2'), new Date('2027-01-01T00:00:00Z'));
    const mk3 = addEncKey(mk2, seededRandom('rot3'), now);
    expect(mk1.encKeys).toHaveLength(1); // not mutated
    expect(mk3.encKeys.map((k) => k.id)).toEqual([1, 2, 3]);
    expect(mk3.currentEncKey).toBe(3);
    expect(encKey(mk3, 1).equals(encKey(mk1, 1))).toBe(true);
    expect(encKey(mk3, 3).equals(encKey(mk3, 2))).toBe(false);
  });

  it('throws REPO_CORRUPT for an unknown key id', () => {
    const mk = generateMasterKey(seededRandom('unk'), now);
    expectCode(() => encKey(mk, 2), 'REPO_CORRUPT');
  });

  it('rejects malformed documents with REPO_CORRUPT', () => {
    const good = JSON.parse(serializeMasterKey(generateMasterKey(seededRandom('bad'), now)).toString()) as Record<
      string,
      unknown
    >;
    const variants: unknown[] = [
      'not json{',
      { ...good, version: 2 },
      { ...good, encKeys: [] },
      { ...good, currentEncKey: 9 },
      { ...good, idKey: Buffer.alloc(16).toString('base64') },
      { ...good, chunkerSeed: 'not base64!' },
      { ...good, encKeys: [{ id: 1, key: 'AAAA', created: 'x' }] },
      { ...good, encKeys: [(good.encKeys as MasterKey[])[0], (good.encKeys as MasterKey[])[0]] },
      null,
    ];
    for (const v of variants) {
      const buf = Buffer.from(typeof v === 'string' ? v : JSON.stringify(v));
      expectCode(() => parseMasterKey(buf), 'REPO_CORRUPT');
    }
  });
});
