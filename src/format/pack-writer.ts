import { CairnError } from '../core/errors/index.js';
import { isId, type BlobId, type BlobType, type PackId } from '../core/ids.js';
import type { RandomSource } from '../core/random.js';
import { aeadSeal } from '../crypto/aead.js';
import { sha256Hex } from '../crypto/sha256.js';
import { maybeCompress } from './compression.js';
import {
  blobAad,
  blobNonce,
  blobTypeCode,
  derivePackKey,
  FLAG_ZSTD,
  FOOTER_MAGIC,
  MAX_PACK_OFFSET,
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

/**
 * Builds one pack in memory. Not reusable: call finish() once, then start a new writer
 * (each pack needs a fresh salt, hence a fresh key).
 */
export class PackWriter {
  private readonly parts: Buffer[] = [];
  private readonly entries: PackEntry[] = [];
  private readonly key: Buffer;
  private offset = PACK_HEADER_SIZE;
  private finished = false;

  constructor(opts: { encKeyId: number; encKey: Buffer; random: RandomSource }) {
    if (!Number.isInteger(opts.encKeyId) || opts.encKeyId < 0 || opts.encKeyId > 0xffffffff) {
      throw new CairnError('INTERNAL', `encKeyId ${opts.encKeyId} does not fit u32`);
    }
    const salt = opts.random(PACK_SALT_SIZE);
    if (salt.length !== PACK_SALT_SIZE) throw new CairnError('INTERNAL', 'random source returned a short salt');
    const header = Buffer.alloc(PACK_HEADER_SIZE);
    PACK_MAGIC.copy(header, 0);
    header[4] = PACK_VERSION;
    header.writeUInt32LE(opts.encKeyId, 5);
    salt.copy(header, 9);
    this.parts.push(header);
    this.key = derivePackKey(opts.encKey, salt);
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
    const { bytes, compressed } =
      compressLevel === null ? { bytes: plain, compressed: false } : maybeCompress(plain, compressLevel);
    const sealed = aeadSeal(this.key, blobNonce(this.offset), bytes, blobAad(type, id));
    if (this.offset + sealed.length > MAX_PACK_OFFSET) {
      throw new CairnError('INTERNAL', 'pack would exceed 4 GiB; finish it before adding more');
    }
    const entry: PackEntry = { type, id, offset: this.offset, length: sealed.length, rawLength: plain.length, compressed };
    this.parts.push(sealed);
    this.entries.push(entry);
    this.offset += sealed.length;
    return entry;
  }

  /** Bytes written so far, header included, trailer and footer not. */
  get size(): number {
    return this.offset;
  }

  get count(): number {
    return this.entries.length;
  }

  finish(): { bytes: Buffer; id: PackId; entries: PackEntry[] } {
    if (this.finished) throw new CairnError('INTERNAL', 'PackWriter.finish called twice');
    this.finished = true;
    const plain = Buffer.alloc(4 + this.entries.length * TRAILER_ENTRY_SIZE);
    plain.writeUInt32LE(this.entries.length, 0);
    let p = 4;
    for (const e of this.entries) {
      plain[p] = blobTypeCode(e.type);
      plain[p + 1] = e.compressed ? FLAG_ZSTD : 0;
      plain.write(e.id, p + 2, 32, 'hex');
      plain.writeUInt32LE(e.offset, p + 34);
      plain.writeUInt32LE(e.length, p + 38);
      plain.writeUInt32LE(e.rawLength, p + 42);
      p += TRAILER_ENTRY_SIZE;
    }
    const trailer = aeadSeal(this.key, TRAILER_NONCE, plain, TRAILER_AAD);
    const footer = Buffer.alloc(8);
    footer.writeUInt32LE(trailer.length, 0);
    FOOTER_MAGIC.copy(footer, 4);
    // One concatenation at the end: appending per blob would copy the pack n times.
    const bytes = Buffer.concat([...this.parts, trailer, footer]);
    this.parts.length = 0;
    return { bytes, id: sha256Hex(bytes) as PackId, entries: [...this.entries] };
  }
}
