/**
 * Byte layout of a pack (docs/repository-format.md, "Packs"), shared by PackWriter and
 * the reader so the two cannot drift apart.
 */
import type { BlobType } from '../core/ids.js';
import { hkdf32 } from '../crypto/hkdf.js';

export const PACK_MAGIC = Buffer.from('CRNP', 'latin1');
export const FOOTER_MAGIC = Buffer.from('CRNE', 'latin1');
export const PACK_VERSION = 1;
/** "CRNP" || u8 version || u32le encKeyId || salt(32) */
export const PACK_HEADER_SIZE = 41;
/** u32le trailerLength || "CRNE" */
export const PACK_FOOTER_SIZE = 8;
export const PACK_SALT_SIZE = 32;
/** u8 type || u8 flags || blobId(32) || u32le offset || u32le length || u32le rawLength */
export const TRAILER_ENTRY_SIZE = 46;
export const FLAG_ZSTD = 0x01;
/** Offsets and lengths are u32le, so no blob may end beyond this. */
export const MAX_PACK_OFFSET = 0xffffffff;

export const TRAILER_NONCE: Buffer = Buffer.alloc(12, 0xff);
export const TRAILER_AAD: Buffer = Buffer.from('CRNP trailer', 'latin1');

const TYPE_CODES: Record<BlobType, number> = { data: 0, tree: 1 };
const CODE_TYPES: readonly BlobType[] = ['data', 'tree'];

export function blobTypeCode(type: BlobType): number {
  return TYPE_CODES[type];
}

export function blobTypeFromCode(code: number): BlobType | undefined {
  return CODE_TYPES[code];
}

export function derivePackKey(encKey: Uint8Array, salt: Uint8Array): Buffer {
  return hkdf32(encKey, salt, 'cairn pack v1');
}

/**
 * nonce = u32le 0 || u64le offset. Offsets strictly increase within a pack, so nonces
 * are distinct, and an index entry alone (which has the offset) suffices to decrypt.
 * The leading zero word keeps every blob nonce away from the all-0xFF trailer nonce.
 */
export function blobNonce(offset: number): Buffer {
  const n = Buffer.alloc(12);
  n.writeBigUInt64LE(BigInt(offset), 4);
  return n;
}

/** aad = u8 type || blobId(32): a blob cannot be passed off as another id or type. */
export function blobAad(type: BlobType, id: string): Buffer {
  const aad = Buffer.alloc(33);
  aad[0] = blobTypeCode(type);
  aad.write(id, 1, 32, 'hex');
  return aad;
}
