import { describe, expect, it } from 'vitest';
import { isCairnError } from '../../src/core/errors/index.js';
import { asBlobId } from '../../src/core/ids.js';
import { BlobHasher } from '../../src/crypto/blob-hasher.js';
import { sha256Hex } from '../../src/crypto/sha256.js';
import { addEncKey, encKey } from '../../src/crypto/master-key.js';
import {
  openBlob,
  openBlobInto,
  PACK_FOOTER_SIZE,
  PACK_HEADER_SIZE,
  packKey,
  parsePackHeader,
  parsePackTrailer,
  readWholePack,
  trailerLength,
  verifyPack,
} from '../../src/format/pack-reader.js';
import { PackWriter } from '../../src/format/pack-writer.js';
import { BlobScratch } from '../../src/format/blob-scratch.js';
import { seededRandom } from '../crypto/seeded-random.js';
import { buildPack, keyFn, now, testMasterKey } from './pack-fixture.js';

const mk = testMasterKey();
const key = keyFn(mk);

function codeOf(fn: () => unknown): string | undefined {
  try {
    fn();
    return undefined;
  } catch (err) {
    return isCairnError(err) ? err.code : `not a CairnError: ${String(err)}`;
  }
}

describe('pack reader', () => {
  it('reads back every blob of a whole pack', () => {
    const { bytes, added, id } = buildPack(mk);
    const { entries, packKey: pk } = readWholePack(bytes, key);
    expect(entries).toEqual(added.map((a) => a.entry));
    for (const [i, e] of entries.entries()) {
      expect(openBlob(pk, e, bytes.subarray(e.offset, e.offset + e.length)).equals(added[i]!.plain)).toBe(true);
    }
    expect(verifyPack(bytes, id, key, new BlobHasher(mk.idKey))).toEqual([]);
  });

  it('reads the index from header + a tail only, re-reading when the first tail is short', () => {
    const { bytes, entries } = buildPack(mk);
    const header = bytes.subarray(0, PACK_HEADER_SIZE);
    expect(parsePackHeader(header)).toEqual({ encKeyId: 1, salt: bytes.subarray(9, 41) });
    const footer = bytes.subarray(-PACK_FOOTER_SIZE);
    const needed = PACK_FOOTER_SIZE + trailerLength(footer);
    expect(parsePackTrailer(bytes.subarray(-needed), bytes.length, key, header)).toEqual(entries);
    // A generous tail works too (a caller reading "the last 64 KiB" of a small pack).
    expect(parsePackTrailer(bytes.subarray(10), bytes.length, key, header)).toEqual(entries);
    // Too short a tail is a caller bug, reported with how much is needed.
    let err: unknown;
    try {
      parsePackTrailer(bytes.subarray(-needed + 1), bytes.length, key, header);
    } catch (e) {
      err = e;
    }
    expect(isCairnError(err, 'INTERNAL') && err.details).toEqual({ needed, got: needed - 1 });
  });

  it('opens a single blob from its index entry alone (offset gives the nonce)', () => {
    const { bytes, added } = buildPack(mk);
    const { salt, encKeyId } = parsePackHeader(bytes);
    const pk = packKey(encKey(mk, encKeyId), salt);
    const { entry, plain } = added[2]!;
    // Only the fields an index file stores: type, id, offset, length, rawLength, flags.
    const fromIndex = { type: entry.type, id: entry.id, offset: entry.offset, length: entry.length, rawLength: entry.rawLength, compressed: entry.compressed };
    expect(openBlob(pk, fromIndex, bytes.subarray(entry.offset, entry.offset + entry.length)).equals(plain)).toBe(true);
  });

  it('opens every blob into one reused scratch, byte for byte as openBlob, and rejects what openBlob rejects', () => {
    const { bytes, added } = buildPack(mk);
    const { entries, packKey: pk } = readWholePack(bytes, key);
    // A keep limit below the largest blob: those get one-off buffers, the rest reuse.
    const scratch = new BlobScratch(64);
    const views = entries.map((e, i) => {
      const got = openBlobInto(pk, e, bytes.subarray(e.offset, e.offset + e.length), scratch);
      expect(got.equals(added[i]!.plain)).toBe(true);
      return got;
    });
    expect(added.some((a) => a.plain.length > 64) && added.some((a) => a.plain.length <= 64)).toBe(true);
    // A blob under the limit lands in the scratch's own memory, the same on every open;
    // one over it gets a buffer of its own.
    const within = entries.findIndex((e, i) => added[i]!.plain.length > 0 && e.length - 16 <= 64 && e.rawLength <= 64);
    const over = entries.findIndex((e) => e.rawLength > 64);
    const open = (i: number) => openBlobInto(pk, entries[i]!, bytes.subarray(entries[i]!.offset, entries[i]!.offset + entries[i]!.length), scratch);
    expect(within).toBeGreaterThanOrEqual(0);
    expect(open(within).buffer).toBe(open(within).buffer);
    expect(open(over).buffer).not.toBe(open(over).buffer);
    expect(views.length).toBe(added.length);
    const { entry } = added[1]!;
    const sealed = Buffer.from(bytes.subarray(entry.offset, entry.offset + entry.length));
    sealed[3]! ^= 1;
    expect(codeOf(() => openBlobInto(pk, entry, sealed, scratch))).toBe('PACK_CORRUPT');
    expect(codeOf(() => openBlobInto(pk, { ...entry, rawLength: entry.rawLength + 1 }, bytes.subarray(entry.offset, entry.offset + entry.length), scratch))).toBe('PACK_CORRUPT');
  });

  it('rejects a blob presented under another id, type, offset or length', () => {
    const { bytes, added } = buildPack(mk);
    const { packKey: pk } = readWholePack(bytes, key);
    const { entry } = added[1]!;
    const sealed = bytes.subarray(entry.offset, entry.offset + entry.length);
    const other = added[0]!.entry;
    expect(codeOf(() => openBlob(pk, { ...entry, id: other.id }, sealed))).toBe('PACK_CORRUPT');
    expect(codeOf(() => openBlob(pk, { ...entry, type: 'tree' }, sealed))).toBe('PACK_CORRUPT');
    expect(codeOf(() => openBlob(pk, { ...entry, offset: entry.offset + 1 }, sealed))).toBe('PACK_CORRUPT');
    expect(codeOf(() => openBlob(pk, { ...entry, rawLength: entry.rawLength + 1 }, sealed))).toBe('PACK_CORRUPT');
    expect(codeOf(() => openBlob(pk, entry, sealed.subarray(1)))).toBe('PACK_CORRUPT');
    const c = added[0]!.entry;
    const csealed = bytes.subarray(c.offset, c.offset + c.length);
    expect(codeOf(() => openBlob(pk, { ...c, rawLength: c.rawLength - 1 }, csealed))).toBe('PACK_CORRUPT');
  });

  it('detects a change to any single byte, even when the file hash is made to match', () => {
    const { bytes, entries, id } = buildPack(mk);
    const { packKey: pk } = readWholePack(bytes, key);
    for (let i = 0; i < bytes.length; i++) {
      {
        const mask = i % 2 === 0 ? 0x01 : 0x80;
        const t = Buffer.from(bytes);
        t[i]! ^= mask;
        expect(sha256Hex(t)).not.toBe(id);
        // The cryptographic structure alone must catch it, independent of the name check.
        const problems = verifyPack(t, sha256Hex(t), key);
        if (problems.length === 0) throw new Error(`byte ${i} ^ ${mask} went undetected`);
        const hit = entries.find((e) => i >= e.offset && i < e.offset + e.length);
        if (hit) {
          expect(problems).toEqual([expect.objectContaining({ kind: 'blob', blobId: hit.id, offset: hit.offset })]);
          expect(codeOf(() => openBlob(pk, hit, t.subarray(hit.offset, hit.offset + hit.length)))).toBe('PACK_CORRUPT');
        } else {
          expect(problems.map((p) => p.kind)).toEqual(['structure']);
          expect(codeOf(() => readWholePack(t, key))).toMatch(/PACK_CORRUPT|REPO_CORRUPT/);
        }
      }
    }
  });

  it('reports a hash mismatch', () => {
    const { bytes, id } = buildPack(mk);
    const t = Buffer.from(bytes);
    t[50]! ^= 1;
    expect(verifyPack(t, id, key).map((p) => p.kind)).toEqual(['hash', 'blob']);
  });

  it('reports truncation and junk as problems, never throwing', () => {
    const { bytes, id } = buildPack(mk);
    for (const damaged of [bytes.subarray(0, 100), bytes.subarray(0, bytes.length - 1), Buffer.alloc(0), Buffer.concat([bytes, Buffer.from('x')])]) {
      const problems = verifyPack(damaged, id, key);
      expect(problems.length).toBeGreaterThan(1);
    }
  });

  it('flags a blob whose content does not match its id when given the hasher', () => {
    const w = new PackWriter({ encKeyId: 1, encKey: encKey(mk, 1), random: seededRandom('liar') });
    w.add('data', asBlobId('0'.repeat(64)), Buffer.from('not the content of id 000…'), 3);
    const { bytes, id } = w.finish();
    expect(verifyPack(bytes, id, key)).toEqual([]);
    expect(verifyPack(bytes, id, key, new BlobHasher(mk.idKey))).toEqual([expect.objectContaining({ kind: 'blob' })]);
  });

  it('keeps old packs readable after key rotation, and names the key it used', () => {
    const old = buildPack(mk, 'before-rotation');
    const rotated = addEncKey(mk, seededRandom('rotate'), now);
    const w = new PackWriter({ encKeyId: rotated.currentEncKey, encKey: encKey(rotated, 2), random: seededRandom('after') });
    const hasher = new BlobHasher(rotated.idKey);
    w.add('data', hasher.id(Buffer.from('new')), Buffer.from('new'), 3);
    const fresh = w.finish();
    expect(parsePackHeader(old.bytes).encKeyId).toBe(1);
    expect(parsePackHeader(fresh.bytes).encKeyId).toBe(2);
    const k2 = keyFn(rotated);
    expect(verifyPack(old.bytes, old.id, k2, hasher)).toEqual([]);
    expect(verifyPack(fresh.bytes, fresh.id, k2, hasher)).toEqual([]);
    // The pre-rotation master key cannot read the new pack.
    expect(verifyPack(fresh.bytes, fresh.id, key)).toEqual([expect.objectContaining({ kind: 'structure' })]);
  });

  it('accepts an empty pack', () => {
    const { bytes, id, entries } = new PackWriter({ encKeyId: 1, encKey: encKey(mk, 1), random: seededRandom('empty') }).finish();
    expect(entries).toEqual([]);
    expect(bytes.length).toBe(41 + 4 + 16 + 8);
    expect(readWholePack(bytes, key).entries).toEqual([]);
    expect(verifyPack(bytes, id, key)).toEqual([]);
  });
});
