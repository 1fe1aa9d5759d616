import { CairnError } from '../core/errors/index.js';
import type { RandomSource } from '../core/random.js';
import { aeadOpen, aeadSeal, AuthError } from '../crypto/aead.js';
import { hkdf32 } from '../crypto/hkdf.js';
import { sha256Hex } from '../crypto/sha256.js';
import { decompress, maybeCompress } from './compression.js';

/**
 * Sealed files (docs/repository-format.md, "Sealed files"): index files, snapshots,
 * locks, gc marks and WAL catalog records. Layout:
 *   "CRNS" || u8 version(1) || u8 kind || u32le encKeyId || salt(32) || AEAD ct||tag
 * with aad = the first 10 bytes and plaintext = u8 compression || JSON body.
 */
export type SealedKind = 'index' | 'snapshot' | 'lock' | 'gc' | 'wal';

const MAGIC = Buffer.from('CRNS', 'latin1');
const VERSION = 1;
const AAD_SIZE = 10;
const SALT_SIZE = 32;
const HEADER_SIZE = AAD_SIZE + SALT_SIZE;
// The key is unique per file (random salt), so a fixed nonce is safe.
const NONCE = Buffer.alloc(12);
const KIND_CODES: Record<SealedKind, number> = { index: 1, snapshot: 2, lock: 3, gc: 4, wal: 5 };
const CODE_KINDS: Record<number, SealedKind> = { 1: 'index', 2: 'snapshot', 3: 'lock', 4: 'gc', 5: 'wal' };
// Sealed files are small and written rarely: a fixed middle level is plenty.
const COMPRESSION_LEVEL = 3;

function fileKey(encKey: Buffer, salt: Uint8Array): Buffer {
  return hkdf32(encKey, salt, 'cairn sealed v1');
}

export function sealFile(
  kind: SealedKind,
  body: unknown,
  encKeyId: number,
  encKey: Buffer,
  random: RandomSource,
): { bytes: Buffer; id: string } {
  const json = JSON.stringify(body);
  if (json === undefined) throw new CairnError('INTERNAL', `sealed ${kind} body is not JSON-serialisable`);
  const { bytes: payload, compressed } = maybeCompress(Buffer.from(json, 'utf8'), COMPRESSION_LEVEL);
  const header = Buffer.alloc(HEADER_SIZE);
  MAGIC.copy(header, 0);
  header[4] = VERSION;
  header[5] = KIND_CODES[kind];
  header.writeUInt32LE(encKeyId, 6);
  const salt = random(SALT_SIZE);
  if (salt.length !== SALT_SIZE) throw new CairnError('INTERNAL', 'random source returned a short salt');
  salt.copy(header, AAD_SIZE);
  const plain = Buffer.concat([Buffer.from([compressed ? 1 : 0]), payload]);
  const sealed = aeadSeal(fileKey(encKey, salt), NONCE, plain, header.subarray(0, AAD_SIZE));
  const bytes = Buffer.concat([header, sealed]);
  return { bytes, id: sha256Hex(bytes) };
}

/**
 * Authenticates and decodes a sealed file. `expectedId`, when given, is checked
 * against the SHA-256 of the bytes (the file's name). Every failure is REPO_CORRUPT,
 * except an unknown encKeyId, which surfaces from `key` as that function decides.
 */
export function openSealedFile(
  bytes: Buffer,
  expectedKind: SealedKind,
  key: (id: number) => Buffer,
  expectedId?: string,
): unknown {
  const bad = (why: string, details?: Record<string, unknown>) =>
    new CairnError('REPO_CORRUPT', `sealed ${expectedKind} file ${why}`, details ? { details } : {});
  if (expectedId !== undefined && sha256Hex(bytes) !== expectedId) throw bad(`does not hash to its name ${expectedId}`);
  if (bytes.length < HEADER_SIZE + 16 + 1) throw bad('is too short');
  if (!bytes.subarray(0, 4).equals(MAGIC)) throw bad('has bad magic (not "CRNS")');
  if (bytes[4] !== VERSION) throw bad(`has unknown version ${bytes[4]}`);
  const kind = CODE_KINDS[bytes[5]!];
  if (kind !== expectedKind) throw bad(`is of kind ${kind ?? bytes[5]}`, { expected: expectedKind, found: kind ?? bytes[5] });
  const encKeyId = bytes.readUInt32LE(6);
  const salt = bytes.subarray(AAD_SIZE, HEADER_SIZE);
  let plain: Buffer;
  try {
    plain = aeadOpen(fileKey(key(encKeyId), salt), NONCE, bytes.subarray(HEADER_SIZE), bytes.subarray(0, AAD_SIZE));
  } catch (err) {
    if (!(err instanceof AuthError)) throw err;
    throw bad('failed authentication', { encKeyId });
  }
  const flag = plain[0];
  if (flag !== 0 && flag !== 1) throw bad(`has unknown compression ${flag}`);
  const body = flag === 1 ? decompress(plain.subarray(1)) : plain.subarray(1);
  try {
    return JSON.parse(body.toString('utf8'));
  } catch (cause) {
    throw new CairnError('REPO_CORRUPT', `sealed ${expectedKind} file body is not JSON`, { cause });
  }
}
