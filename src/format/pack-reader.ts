import { CairnError } from '../core/errors/index.js';
import type { BlobId, PackId } from '../core/ids.js';
import { aeadOpen, aeadOpenInto, AuthError } from '../crypto/aead.js';
import type { BlobHasher } from '../crypto/blob-hasher.js';
import { sha256Hex } from '../crypto/sha256.js';
import { decompressInto } from './compression.js';
import { BlobScratch } from './blob-scratch.js';
import {
  blobAad,
  blobNonce,
  blobTypeFromCode,
  derivePackKey,
  FLAG_ZSTD,
  FOOTER_MAGIC,
  PACK_FOOTER_SIZE,
  PACK_HEADER_SIZE,
  PACK_MAGIC,
  PACK_VERSION,
  TRAILER_AAD,
  TRAILER_ENTRY_SIZE,
  TRAILER_NONCE,
} from './pack-layout.js';
import type { PackEntry } from './pack-writer.js';

export { PACK_FOOTER_SIZE, PACK_HEADER_SIZE } from './pack-layout.js';

/**
 * Reading a pack without loading it whole: fetch the first PACK_HEADER_SIZE bytes and
 * a suffix of the pack (say the last 64 KiB); if `PACK_FOOTER_SIZE +
 * trailerLength(suffix)` exceeds the suffix, fetch exactly that many bytes from the end
 * and call parsePackTrailer again. Single blobs are then read by (offset, length).
 */

const AEAD_TAG = 16;

function corrupt(message: string, details?: Record<string, unknown>): CairnError {
  return new CairnError('PACK_CORRUPT', message, details ? { details } : {});
}

/** Parses the 41-byte header (a longer buffer is fine: only its start is read). */
export function parsePackHeader(buf: Buffer): { encKeyId: number; salt: Buffer } {
  if (buf.length < PACK_HEADER_SIZE) throw corrupt(`pack shorter than its ${PACK_HEADER_SIZE}-byte header`);
  if (!buf.subarray(0, 4).equals(PACK_MAGIC)) throw corrupt('pack header magic is not "CRNP"');
  if (buf[4] !== PACK_VERSION) throw corrupt(`unknown pack version ${buf[4]}`, { version: buf[4] });
  return { encKeyId: buf.readUInt32LE(5), salt: Buffer.from(buf.subarray(9, PACK_HEADER_SIZE)) };
}

export function packKey(encKey: Buffer, salt: Buffer): Buffer {
  return derivePackKey(encKey, salt);
}

/** Trailer length from the footer: the last PACK_FOOTER_SIZE bytes of `footer` (which may be any pack suffix). */
export function trailerLength(footer: Buffer): number {
  if (footer.length < PACK_FOOTER_SIZE) throw corrupt('pack shorter than its footer');
  const f = footer.subarray(footer.length - PACK_FOOTER_SIZE);
  if (!f.subarray(4).equals(FOOTER_MAGIC)) throw corrupt('pack footer magic is not "CRNE"');
  return f.readUInt32LE(0);
}

/**
 * Authenticates and decodes the trailer. `tail` is any suffix of the pack that holds
 * footer and trailer; `packSize` is the pack's full size; `header` its first 41 bytes.
 * Checks that blobs tile the space between header and trailer exactly, in order, so
 * every byte of a pack is covered by some authentication tag.
 */
export function parsePackTrailer(
  tail: Buffer,
  packSize: number,
  key: (encKeyId: number) => Buffer,
  header: Buffer,
): PackEntry[] {
  return parseTrailer(tail, packSize, key, header).entries;
}

function parseTrailer(
  tail: Buffer,
  packSize: number,
  key: (encKeyId: number) => Buffer,
  header: Buffer,
): { entries: PackEntry[]; packKey: Buffer } {
  const { encKeyId, salt } = parsePackHeader(header);
  const tlen = trailerLength(tail);
  const trailerStart = packSize - PACK_FOOTER_SIZE - tlen;
  if (tlen < AEAD_TAG + 4 || trailerStart < PACK_HEADER_SIZE) {
    throw corrupt(`pack footer claims a ${tlen}-byte trailer, impossible in a ${packSize}-byte pack`, { trailerLength: tlen });
  }
  if (tail.length > packSize) throw new CairnError('INTERNAL', 'pack tail longer than the pack');
  if (tail.length < PACK_FOOTER_SIZE + tlen) {
    throw new CairnError('INTERNAL', `pack tail too short: need the last ${PACK_FOOTER_SIZE + tlen} bytes`, {
      details: { needed: PACK_FOOTER_SIZE + tlen, got: tail.length },
    });
  }
  const sealed = tail.subarray(tail.length - PACK_FOOTER_SIZE - tlen, tail.length - PACK_FOOTER_SIZE);
  const pk = packKey(key(encKeyId), salt);
  let plain: Buffer;
  try {
    plain = aeadOpen(pk, TRAILER_NONCE, sealed, TRAILER_AAD);
  } catch (err) {
    if (!(err instanceof AuthError)) throw err;
    throw corrupt('pack trailer failed authentication', { encKeyId });
  }
  const n = plain.readUInt32LE(0);
  if (plain.length !== 4 + n * TRAILER_ENTRY_SIZE) throw corrupt(`pack trailer length does not match its ${n} entries`);
  const entries: PackEntry[] = [];
  let expectedOffset = PACK_HEADER_SIZE;
  for (let i = 0, p = 4; i < n; i++, p += TRAILER_ENTRY_SIZE) {
    const type = blobTypeFromCode(plain[p]!);
    const flags = plain[p + 1]!;
    const offset = plain.readUInt32LE(p + 34);
    const length = plain.readUInt32LE(p + 38);
    const rawLength = plain.readUInt32LE(p + 42);
    const where = { entry: i, offset };
    if (!type) throw corrupt(`pack trailer entry ${i} has unknown blob type ${plain[p]}`, where);
    if ((flags & ~FLAG_ZSTD) !== 0) throw corrupt(`pack trailer entry ${i} has unknown flags ${flags}`, where);
    if (offset !== expectedOffset) throw corrupt(`pack trailer entry ${i} is not contiguous with the previous blob`, where);
    if (length < AEAD_TAG) throw corrupt(`pack trailer entry ${i} is shorter than a tag`, where);
    const compressed = (flags & FLAG_ZSTD) !== 0;
    if (!compressed && rawLength !== length - AEAD_TAG) throw corrupt(`pack trailer entry ${i} has inconsistent lengths`, where);
    const id = plain.toString('hex', p + 2, p + 34) as BlobId;
    entries.push({ type, id, offset, length, rawLength, compressed });
    expectedOffset = offset + length;
  }
  if (expectedOffset !== trailerStart) {
    throw corrupt('pack blobs do not end where the trailer starts', { blobsEnd: expectedOffset, trailerStart });
  }
  return { entries, packKey: pk };
}

/**
 * Decrypts, decompresses and length-checks one blob. `sealed` is exactly the
 * `entry.length` bytes at `entry.offset`. Does not recompute the blob id (that needs
 * the id key: use BlobHasher when the caller wants end-to-end proof).
 */
export function openBlob(packKey: Buffer, entry: PackEntry, sealed: Buffer): Buffer {
  return openBlobWith(packKey, entry, sealed, (_slot, n) => Buffer.allocUnsafe(n));
}

/**
 * openBlob into `scratch`: allocates nothing per blob. The result is a view of the
 * scratch, valid until the next openBlobInto with the same scratch.
 */
export function openBlobInto(packKey: Buffer, entry: PackEntry, sealed: Buffer, scratch: BlobScratch): Buffer {
  return openBlobWith(packKey, entry, sealed, (slot, n) => scratch.take(slot, n));
}

function openBlobWith(packKey: Buffer, entry: PackEntry, sealed: Buffer, take: (slot: 0 | 1, length: number) => Buffer): Buffer {
  const where = { blobId: entry.id, type: entry.type, offset: entry.offset, length: entry.length };
  if (sealed.length !== entry.length) {
    throw corrupt(`blob ${entry.id.slice(0, 8)}: got ${sealed.length} bytes, index says ${entry.length}`, where);
  }
  if (!entry.compressed && entry.rawLength !== entry.length - AEAD_TAG) {
    throw corrupt(`blob ${entry.id.slice(0, 8)} is ${entry.length - AEAD_TAG} bytes, index says ${entry.rawLength}`, where);
  }
  const plain = take(0, Math.max(0, entry.length - AEAD_TAG));
  try {
    aeadOpenInto(packKey, blobNonce(entry.offset), sealed, blobAad(entry.type, entry.id), plain);
  } catch (err) {
    if (!(err instanceof AuthError)) throw err;
    throw corrupt(`blob ${entry.id.slice(0, 8)} at offset ${entry.offset} failed authentication`, where);
  }
  if (!entry.compressed) return plain;
  try {
    return decompressInto(plain, take(1, entry.rawLength));
  } catch (cause) {
    throw new CairnError('PACK_CORRUPT', `blob ${entry.id.slice(0, 8)} does not decompress to ${entry.rawLength} bytes`, {
      cause,
      details: where,
    });
  }
}

/** Parses a pack held whole in memory: header, footer, trailer and blob layout (blobs are not decrypted). */
export function readWholePack(bytes: Buffer, key: (id: number) => Buffer): { entries: PackEntry[]; packKey: Buffer } {
  return parseTrailer(bytes, bytes.length, key, bytes.subarray(0, PACK_HEADER_SIZE));
}

export interface PackProblem {
  kind: 'hash' | 'structure' | 'blob';
  message: string;
  blobId?: BlobId;
  offset?: number;
}

/**
 * Full check of one pack: SHA-256 against its name, structure, and authentication of
 * every blob (plus, given a hasher, that each plaintext hashes to its id). Reports
 * damage as a list of problems, empty when healthy; throws only for programming errors.
 */
export function verifyPack(
  bytes: Buffer,
  expectedId: PackId | string,
  key: (id: number) => Buffer,
  hasher?: BlobHasher,
  scratch: BlobScratch = new BlobScratch(),
): PackProblem[] {
  const problems: PackProblem[] = [];
  const actual = sha256Hex(bytes);
  if (actual !== expectedId) problems.push({ kind: 'hash', message: `pack hashes to ${actual}, expected ${expectedId}` });
  let parsed: { entries: PackEntry[]; packKey: Buffer };
  try {
    parsed = readWholePack(bytes, key);
  } catch (err) {
    // Includes an unknown encKeyId (REPO_CORRUPT from the key lookup).
    if (!(err instanceof CairnError)) throw err;
    problems.push({ kind: 'structure', message: err.message });
    return problems;
  }
  for (const e of parsed.entries) {
    try {
      const plain = openBlobInto(parsed.packKey, e, bytes.subarray(e.offset, e.offset + e.length), scratch);
      if (hasher && hasher.id(plain) !== e.id) {
        problems.push({ kind: 'blob', message: `blob content does not hash to its id ${e.id}`, blobId: e.id, offset: e.offset });
      }
    } catch (err) {
      if (!(err instanceof CairnError)) throw err;
      problems.push({ kind: 'blob', message: err.message, blobId: e.id, offset: e.offset });
    }
  }
  return problems;
}
