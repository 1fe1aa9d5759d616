import { CairnError } from '../core/errors/index.js';
import { isId, type BlobId, type BlobType, type PackId } from '../core/ids.js';
import type { RandomSource } from '../core/random.js';
import { AEAD_TAG_SIZE, aeadSealInPlace } from '../crypto/aead.js';
import { sha256Hex } from '../crypto/sha256.js';
import { compressInto } from './compression.js';
import {
  blobAad,
  blobNonce,
  blobTypeCode,
  derivePackKey,
  FLAG_ZSTD,
  FOOTER_MAGIC,
  MAX_PACK_OFFSET,
  PACK_FOOTER_SIZE,
  PACK_HEADER_SIZE,
  PACK_MAGIC,
  PACK_SALT_SIZE,
  PACK_VERSION,
  TRAILER_AAD,
  TRAILER_ENTRY_SIZE,
  TRAILER_NONCE,
} from './pack-layout.js';

/** One blob inside a pack, as the trailer and the index files record it. */
export interface PackEntry {
  type: BlobType;
  id: BlobId;
  /** Byte offset of the sealed blob in the pack; also determines its nonce. */
  offset: number;
  /** Sealed length: ciphertext plus the 16-byte tag. */
  length: number;
  /** Plaintext length before compression. */
  rawLength: number;
  compressed: boolean;
}

/** Trailer plus footer bytes for a pack of `count` blobs. */
function tailSize(count: number): number {
  return 4 + count * TRAILER_ENTRY_SIZE + AEAD_TAG_SIZE + PACK_FOOTER_SIZE;
}

/** Blobs per pack at most (see PackWriter.full). */
export const MAX_PACK_BLOBS = 8192;

/**
 * The buffer a pack of `packSize` bytes with blobs of at most `maxBlob` plaintext bytes
 * is built in (the last blob may cross packSize; its trailer must fit too). PackWriter
 * finishes packs early that would not fit (only packs of many thousand tiny blobs).
 */
export function packCapacity(packSize: number, maxBlob: number): number {
  return packSize + maxBlob + AEAD_TAG_SIZE + 64 * 1024;
}

/**
 * Builds one pack in one buffer: each blob is compressed straight into the free part of
 * it and encrypted in place, so adding a blob allocates nothing (with the native addon).
 * The buffer is either given (fixed: the caller checks fits() before add(), and reuses
 * the buffer once the pack is stored) or owned (grows as needed).
 * Not reusable: call finish() once, then start a new writer (each pack needs a fresh
 * salt, hence a fresh key).
 */
export class PackWriter {
  private buf: Uint8Array;
  private readonly fixed: boolean;
  private readonly entries: PackEntry[] = [];
  private readonly key: Buffer;
  private offset = PACK_HEADER_SIZE;
  private finished = false;

  constructor(opts: { encKeyId: number; encKey: Buffer; random: RandomSource; buffer?: Uint8Array }) {
    if (!Number.isInteger(opts.encKeyId) || opts.encKeyId < 0 || opts.encKeyId > 0xffffffff) {
      throw new CairnError('INTERNAL', `encKeyId ${opts.encKeyId} does not fit u32`);
    }
    const salt = opts.random(PACK_SALT_SIZE);
    if (salt.length !== PACK_SALT_SIZE) throw new CairnError('INTERNAL', 'random source returned a short salt');
    this.fixed = opts.buffer !== undefined;
    this.buf = opts.buffer ?? Buffer.allocUnsafe(256 * 1024);
    if (this.buf.length < PACK_HEADER_SIZE + tailSize(0)) throw new CairnError('INTERNAL', 'pack buffer too small');
    const header = Buffer.from(this.buf.buffer, this.buf.byteOffset, PACK_HEADER_SIZE);
    PACK_MAGIC.copy(header, 0);
    header[4] = PACK_VERSION;
    header.writeUInt32LE(opts.encKeyId, 5);
    salt.copy(header, 9);
    this.key = derivePackKey(opts.encKey, salt);
  }

  /** Room needed for one more blob of `rawLength` plaintext bytes, trailer included (worst case: stored raw). */
  private need(rawLength: number): number {
    return this.offset + rawLength + AEAD_TAG_SIZE + tailSize(this.entries.length + 1);
  }

  /** Whether a blob of `rawLength` plaintext bytes surely fits; an owned buffer always has room. */
  fits(rawLength: number): boolean {
    return !this.fixed || this.need(rawLength) <= this.buf.length;
  }

  /**
   * Seals one blob and appends it. `compressLevel` null stores the bytes raw (e.g. for
   * data known to be compressed); otherwise zstd is used only when it shrinks them.
   * The caller owns deduplication: adding an id twice stores it twice.
   */
  add(type: BlobType, id: BlobId, plain: Uint8Array, compressLevel: number | null): PackEntry {
    if (this.finished) throw new CairnError('INTERNAL', 'PackWriter.add after finish');
    if (!isId(id)) throw new CairnError('INTERNAL', `not a blob id: ${String(id)}`);
    if (plain.length > MAX_PACK_OFFSET) throw new CairnError('INTERNAL', 'blob larger than 4 GiB');
    if (this.offset + plain.length + AEAD_TAG_SIZE > MAX_PACK_OFFSET) {
      throw new CairnError('INTERNAL', 'pack would exceed 4 GiB; finish it before adding more');
    }
    if (!this.fits(plain.length)) throw new CairnError('INTERNAL', 'blob does not fit in the pack buffer; finish the pack first');
    this.reserve(this.need(plain.length));
    const at = this.offset;
    // Compressed output must be smaller than the input to be kept: give zstd that much room.
    let n = compressLevel === null || plain.length < 2 ? -1 : compressInto(this.buf.subarray(at, at + plain.length - 1), plain, compressLevel);
    const compressed = n >= 0;
    if (!compressed) {
      this.buf.set(plain, at);
      n = plain.length;
    }
    aeadSealInPlace(this.key, blobNonce(at), blobAad(type, id), this.buf, at, n);
    const length = n + AEAD_TAG_SIZE;
    const entry: PackEntry = { type, id, offset: at, length, rawLength: plain.length, compressed };
    this.entries.push(entry);
    this.offset += length;
    return entry;
  }

  /** Grows an owned buffer to at least `size` bytes (doubling, so appends stay linear). */
  private reserve(size: number): void {
    if (size <= this.buf.length) return;
    const grown = Buffer.allocUnsafe(Math.max(size, 2 * this.buf.length));
    grown.set(this.buf.subarray(0, this.offset));
    this.buf = grown;
  }

  /**
   * Whether the pack should be finished: `packSize` bytes written, or MAX_PACK_BLOBS
   * blobs. Tiny blobs (small files that compress to a few dozen bytes) would otherwise
   * put ~100k entries in one 16 MiB pack, all held in memory until it is stored.
   */
  full(packSize: number): boolean {
    return this.offset >= packSize || this.entries.length >= MAX_PACK_BLOBS;
  }

  /** Bytes written so far, header included, trailer and footer not. */
  get size(): number {
    return this.offset;
  }

  get count(): number {
    return this.entries.length;
  }

  /** The finished pack: a view into the writer's buffer (the given one, when fixed). */
  finish(): { bytes: Buffer; id: PackId; entries: PackEntry[] } {
    if (this.finished) throw new CairnError('INTERNAL', 'PackWriter.finish called twice');
    this.finished = true;
    this.reserve(this.offset + tailSize(this.entries.length));
    const buf = Buffer.from(this.buf.buffer, this.buf.byteOffset, this.buf.length);
    const at = this.offset;
    const plainLength = 4 + this.entries.length * TRAILER_ENTRY_SIZE;
    buf.writeUInt32LE(this.entries.length, at);
    let p = at + 4;
    for (const e of this.entries) {
      buf[p] = blobTypeCode(e.type);
      buf[p + 1] = e.compressed ? FLAG_ZSTD : 0;
      buf.write(e.id, p + 2, 32, 'hex');
      buf.writeUInt32LE(e.offset, p + 34);
      buf.writeUInt32LE(e.length, p + 38);
      buf.writeUInt32LE(e.rawLength, p + 42);
      p += TRAILER_ENTRY_SIZE;
    }
    aeadSealInPlace(this.key, TRAILER_NONCE, TRAILER_AAD, buf, at, plainLength);
    const trailerLength = plainLength + AEAD_TAG_SIZE;
    const footer = at + trailerLength;
    buf.writeUInt32LE(trailerLength, footer);
    FOOTER_MAGIC.copy(buf, footer + 4);
    const bytes = buf.subarray(0, footer + PACK_FOOTER_SIZE);
    return { bytes, id: sha256Hex(bytes) as PackId, entries: [...this.entries] };
  }
}
