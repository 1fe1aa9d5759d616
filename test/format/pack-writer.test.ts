import { gcm } from '@noble/ciphers/aes.js';
import { hkdf } from '@noble/hashes/hkdf.js';
import { sha256 } from '@noble/hashes/sha2.js';
import { describe, expect, it } from 'vitest';
import { asBlobId } from '../../src/core/ids.js';
import { encKey } from '../../src/crypto/master-key.js';
import { decompress } from '../../src/format/compression.js';
import { MAX_PACK_BLOBS, PackWriter } from '../../src/format/pack-writer.js';
import { seededRandom } from '../crypto/seeded-random.js';
import { buildPack, testMasterKey } from './pack-fixture.js';

const mk = testMasterKey();

describe('PackWriter', () => {
  it('lays out header, contiguous blobs, trailer and footer as the spec says', () => {
    const { bytes, id, entries, added, writer } = buildPack(mk);
    expect(id).toBe(Buffer.from(sha256(bytes)).toString('hex'));
    expect(bytes.subarray(0, 4).toString('latin1')).toBe('CRNP');
    expect(bytes[4]).toBe(1);
    expect(bytes.readUInt32LE(5)).toBe(1);
    expect(bytes.subarray(-4).toString('latin1')).toBe('CRNE');
    const trailerLen = bytes.readUInt32LE(bytes.length - 8);
    expect(trailerLen).toBe(4 + 46 * entries.length + 16);
    expect(writer.count).toBe(5);
    let offset = 41;
    for (const [i, e] of entries.entries()) {
      expect(e).toEqual(added[i]!.entry);
      expect(e.offset).toBe(offset);
      offset += e.length;
    }
    expect(offset).toBe(writer.size);
    expect(bytes.length).toBe(writer.size + trailerLen + 8);
    expect(entries.map((e) => e.compressed)).toEqual([true, false, true, false, false]);
    expect(entries[1]!.length).toBe(200 + 16);
  });

  it('is readable by an independent implementation (@noble hkdf + gcm, spec nonces and AAD)', () => {
    const { bytes, added } = buildPack(mk);
    const salt = bytes.subarray(9, 41);
    const pk = hkdf(sha256, encKey(mk, 1), salt, new TextEncoder().encode('cairn pack v1'), 32);
    for (const { type, plain, entry } of added) {
      const nonce = Buffer.alloc(12);
      nonce.writeBigUInt64LE(BigInt(entry.offset), 4);
      const aad = Buffer.concat([Buffer.from([type === 'data' ? 0 : 1]), Buffer.from(entry.id, 'hex')]);
      const opened = Buffer.from(gcm(pk, nonce, aad).decrypt(bytes.subarray(entry.offset, entry.offset + entry.length)));
      expect((entry.compressed ? decompress(opened) : opened).equals(plain)).toBe(true);
    }
    const tlen = bytes.readUInt32LE(bytes.length - 8);
    const trailer = bytes.subarray(bytes.length - 8 - tlen, bytes.length - 8);
    const plainTrailer = Buffer.from(gcm(pk, Buffer.alloc(12, 0xff), Buffer.from('CRNP trailer')).decrypt(trailer));
    expect(plainTrailer.readUInt32LE(0)).toBe(added.length);
    const e1 = plainTrailer.subarray(4 + 46, 4 + 92);
    expect(e1[0]).toBe(0);
    expect(e1[1]).toBe(0);
    expect(e1.subarray(2, 34).toString('hex')).toBe(added[1]!.entry.id);
    expect([e1.readUInt32LE(34), e1.readUInt32LE(38), e1.readUInt32LE(42)]).toEqual([
      added[1]!.entry.offset,
      added[1]!.entry.length,
      200,
    ]);
  });

  it('never repeats a nonce: offsets are distinct and none equals the trailer nonce', () => {
    const { entries } = buildPack(mk);
    const nonces = entries.map((e) => {
      const n = Buffer.alloc(12);
      n.writeBigUInt64LE(BigInt(e.offset), 4);
      return n.toString('hex');
    });
    nonces.push('ff'.repeat(12));
    expect(new Set(nonces).size).toBe(nonces.length);
    // Strictly increasing offsets even with empty blobs (each sealed blob has a tag).
    for (let i = 1; i < entries.length; i++) expect(entries[i]!.offset).toBeGreaterThan(entries[i - 1]!.offset);
  });

  it('uses a fresh salt (so a fresh key) per pack', () => {
    const random = seededRandom('salts');
    const a = new PackWriter({ encKeyId: 1, encKey: encKey(mk, 1), random }).finish().bytes;
    const b = new PackWriter({ encKeyId: 1, encKey: encKey(mk, 1), random }).finish().bytes;
    expect(a.subarray(9, 41).equals(b.subarray(9, 41))).toBe(false);
  });

  it('is full at packSize bytes or at MAX_PACK_BLOBS blobs, whichever comes first', () => {
    const w = new PackWriter({ encKeyId: 1, encKey: encKey(mk, 1), random: seededRandom('full') });
    expect(w.full(41)).toBe(true); // the header alone reaches a 41-byte pack
    // Tiny blobs (a small file compresses to a few dozen bytes) fill by count, not size.
    for (let i = 0; i < MAX_PACK_BLOBS - 1; i++) w.add('data', asBlobId(i.toString(16).padStart(64, '0')), Buffer.from(`file ${i}`), null);
    expect(w.full(16 * 2 ** 20)).toBe(false);
    w.add('data', asBlobId('f'.repeat(64)), Buffer.from('last'), null);
    expect(w.full(16 * 2 ** 20)).toBe(true);
    expect(w.size).toBeLessThan(2 ** 20);
  });

  it('refuses misuse', () => {
    const w = new PackWriter({ encKeyId: 1, encKey: encKey(mk, 1), random: seededRandom('misuse') });
    expect(() => w.add('data', asBlobId('xyz'), Buffer.alloc(1), null)).toThrow(/not a blob id/);
    w.finish();
    expect(() => w.add('data', asBlobId('0'.repeat(64)), Buffer.alloc(1), null)).toThrow(/after finish/);
    expect(() => w.finish()).toThrow(/twice/);
  });
});

describe('PackWriter into a given buffer', () => {
  it('builds the same pack bytes as with its own buffer, in place, and says when a blob would not fit', () => {
    const blobs = [pseudoRandomBytes(3, 90_000), Buffer.alloc(120_000, 7), pseudoRandomBytes(4, 50_000), Buffer.alloc(1, 1), Buffer.alloc(0)];
    const ids = blobs.map((_, i) => asBlobId(i.toString(16).padStart(2, '0').repeat(32)));
    const own = new PackWriter({ encKeyId: 1, encKey: encKey(mk, 1), random: seededRandom('same-salt') });
    const given = new Uint8Array(new SharedArrayBuffer(400_000));
    const fixed = new PackWriter({ encKeyId: 1, encKey: encKey(mk, 1), random: seededRandom('same-salt'), buffer: given });
    blobs.forEach((b, i) => {
      expect(fixed.fits(b.length)).toBe(true);
      own.add('data', ids[i]!, b, 3);
      fixed.add('data', ids[i]!, b, 3);
    });
    // About 140,000 bytes are used (the zeros compress to almost nothing); room is judged
    // for the worst case, a blob stored raw plus its tag and trailer entry.
    const room = 400_000 - fixed.size - (4 + 6 * 46 + 16 + 8) - 16;
    expect(fixed.fits(room)).toBe(true);
    expect(fixed.fits(room + 1)).toBe(false);
    expect(() => fixed.add('data', ids[0]!, Buffer.alloc(room + 1), 3)).toThrow(/does not fit/);
    const a = own.finish();
    const b = fixed.finish();
    expect(b.bytes.buffer).toBe(given.buffer);
    expect(b.bytes.equals(a.bytes)).toBe(true);
    expect(b.id).toBe(a.id);
    expect(b.entries).toEqual(a.entries);
  });
});

function pseudoRandomBytes(seed: number, n: number): Buffer {
  return Buffer.from(seededRandom(`blob-${seed}`)(n));
}
