import { gcm } from '@noble/ciphers/aes.js';
import { hkdf } from '@noble/hashes/hkdf.js';
import { sha256 } from '@noble/hashes/sha2.js';
import { describe, expect, it } from 'vitest';
import { isCairnError } from '../../src/core/errors/index.js';
import { addEncKey, encKey } from '../../src/crypto/master-key.js';
import { decompress } from '../../src/format/compression.js';
import { openSealedFile, sealFile } from '../../src/format/sealed-file.js';
import { seededRandom } from '../crypto/seeded-random.js';
import { keyFn, now, testMasterKey } from './pack-fixture.js';

const mk = testMasterKey('sealed-mk');
const key = keyFn(mk);
const snapshot = { version: 1, time: now.toISOString(), host: 'db1', paths: ['/srv/data'], tree: 'ab'.repeat(32) };

function codeOf(fn: () => unknown): string | undefined {
  try {
    fn();
    return undefined;
  } catch (err) {
    return isCairnError(err) ? err.code : `not a CairnError: ${String(err)}`;
  }
}

describe('sealed files', () => {
  it('round-trips and is named by its SHA-256', () => {
    const { bytes, id } = sealFile('snapshot', snapshot, 1, encKey(mk, 1), seededRandom('s1'));
    expect(id).toBe(Buffer.from(sha256(bytes)).toString('hex'));
    expect(openSealedFile(bytes, 'snapshot', key)).toEqual(snapshot);
    expect(openSealedFile(bytes, 'snapshot', key, id)).toEqual(snapshot);
    expect(codeOf(() => openSealedFile(bytes, 'snapshot', key, '0'.repeat(64)))).toBe('REPO_CORRUPT');
  });

  it('follows the spec (opened with @noble hkdf + gcm)', () => {
    const index = { version: 1, supersedes: [], packs: Array.from({ length: 50 }, (_, i) => ({ id: String(i).repeat(64).slice(0, 64), size: 1 })) };
    const { bytes } = sealFile('index', index, 1, encKey(mk, 1), seededRandom('s2'));
    expect(bytes.subarray(0, 4).toString('latin1')).toBe('CRNS');
    expect([bytes[4], bytes[5], bytes.readUInt32LE(6)]).toEqual([1, 1, 1]);
    const fk = hkdf(sha256, encKey(mk, 1), bytes.subarray(10, 42), new TextEncoder().encode('cairn sealed v1'), 32);
    const plain = Buffer.from(gcm(fk, new Uint8Array(12), bytes.subarray(0, 10)).decrypt(bytes.subarray(42)));
    expect(plain[0]).toBe(1); // repetitive JSON: compressed
    expect(JSON.parse(decompress(plain.subarray(1)).toString())).toEqual(index);
  });

  it('stores tiny bodies uncompressed', () => {
    const { bytes } = sealFile('lock', { kind: 'writer' }, 1, encKey(mk, 1), seededRandom('s3'));
    expect(bytes.length).toBe(42 + 16 + 1 + JSON.stringify({ kind: 'writer' }).length);
    expect(openSealedFile(bytes, 'lock', key)).toEqual({ kind: 'writer' });
  });

  it('rejects a kind mismatch, even if the kind byte is rewritten', () => {
    const { bytes } = sealFile('lock', { kind: 'writer' }, 1, encKey(mk, 1), seededRandom('s4'));
    expect(codeOf(() => openSealedFile(bytes, 'snapshot', key))).toBe('REPO_CORRUPT');
    const relabelled = Buffer.from(bytes);
    relabelled[5] = 2; // claim "snapshot": the kind is in the AAD, so authentication fails
    expect(codeOf(() => openSealedFile(relabelled, 'snapshot', key))).toBe('REPO_CORRUPT');
  });

  it('detects a change to any single byte', () => {
    const { bytes } = sealFile('gc', { created: now.toISOString(), packs: ['cd'.repeat(32)] }, 1, encKey(mk, 1), seededRandom('s5'));
    for (let i = 0; i < bytes.length; i++) {
      const t = Buffer.from(bytes);
      t[i]! ^= 0x04;
      expect(codeOf(() => openSealedFile(t, 'gc', key))).toBe('REPO_CORRUPT');
    }
    expect(codeOf(() => openSealedFile(bytes.subarray(0, 50), 'gc', key))).toBe('REPO_CORRUPT');
  });

  it('stays readable after key rotation; new files use the new key', () => {
    const before = sealFile('snapshot', snapshot, 1, encKey(mk, 1), seededRandom('s6'));
    const rotated = addEncKey(mk, seededRandom('rot'), now);
    const after = sealFile('snapshot', snapshot, rotated.currentEncKey, encKey(rotated, rotated.currentEncKey), seededRandom('s7'));
    expect(after.bytes.readUInt32LE(6)).toBe(2);
    expect(openSealedFile(before.bytes, 'snapshot', keyFn(rotated))).toEqual(snapshot);
    expect(openSealedFile(after.bytes, 'snapshot', keyFn(rotated))).toEqual(snapshot);
    expect(codeOf(() => openSealedFile(after.bytes, 'snapshot', key))).toBe('REPO_CORRUPT'); // unknown key id 2
  });
});
