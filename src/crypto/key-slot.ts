import { createHash, scrypt as scryptCb, type ScryptOptions } from 'node:crypto';
import { CairnError } from '../core/errors/index.js';
import { isId, type KeyId } from '../core/ids.js';
import type { RandomSource } from '../core/random.js';
import { aeadOpen, aeadSeal, AuthError } from './aead.js';
import { decodeB64, encodeB64 } from './base64.js';
import { parseMasterKey, serializeMasterKey, type MasterKey } from './master-key.js';

/**
 * What a session opened with the slot may do. `full`: everything. `append-only`: add
 * data and snapshots, never forget, prune, repair or change keys (enforced by cairn,
 * see docs/security.md). Mirrors the engine's KeyRole; crypto/ cannot import engine/.
 */
export type SlotRole = 'full' | 'append-only';

export const SLOT_ROLES: readonly SlotRole[] = ['full', 'append-only'];

/** `keys/<keyid>`: the master key wrapped under one password (plaintext JSON, see the spec). */
export interface KeySlotFile {
  version: 1;
  id: KeyId;
  created: string;
  host: string;
  user: string;
  label: string;
  /** Absent in slots written before roles existed: read as 'full'. */
  role: SlotRole;
  kdf: { name: 'scrypt'; N: number; r: number; p: number; salt: string };
  nonce: string;
  wrapped: string;
}

export interface KdfParams {
  N: number;
  r: number;
  p: number;
}

/** 128 MiB and ~0.3 s per guess on the reference machine. */
export const DEFAULT_KDF: KdfParams = { N: 2 ** 17, r: 8, p: 1 };

/**
 * Upper bound on scrypt memory we agree to spend. Key slots are plaintext files, so a
 * tampered slot could otherwise make `open` allocate arbitrary memory.
 */
const MAX_SCRYPT_MEMORY = 2 ** 31;
const SALT_SIZE = 32;
const NONCE_SIZE = 12;

function kdfProblem(k: KdfParams): string | null {
  const { N, r, p } = k;
  if (!Number.isInteger(N) || N < 2 || N > 2 ** 30 || (N & (N - 1)) !== 0) return `N=${N} is not a power of two >= 2`;
  if (!Number.isInteger(r) || r < 1 || r > 64) return `r=${r} out of range 1..64`;
  if (!Number.isInteger(p) || p < 1 || p > 64) return `p=${p} out of range 1..64`;
  if (128 * N * r > MAX_SCRYPT_MEMORY) return `N*r needs more than ${MAX_SCRYPT_MEMORY / 2 ** 20} MiB`;
  return null;
}

/**
 * Full slots keep the original AAD, so slots written before roles existed still open.
 * Any other role is bound into the AAD: editing the plaintext `role` (or deleting it,
 * which reads as full) makes the slot fail to authenticate instead of granting more.
 * repoId is always 64 hex digits, so the suffix cannot be confused with part of it.
 */
function slotAad(repoId: string, role: SlotRole): Buffer {
  const base = `cairn keyslot v1 ${repoId}`;
  return Buffer.from(role === 'full' ? base : `${base} role=${role}`, 'utf8');
}

/**
 * Keys derived in this process, by (password, salt, cost). A command that opens the same
 * repository twice (looking up a source's type, then restoring it) pays scrypt once.
 * In memory only and never written anywhere: the process already holds the master key
 * these unwrap. Failed derivations are not kept.
 */
const derived = new Map<string, Promise<Buffer>>();
const MAX_DERIVED = 16;

function deriveWrapKey(password: string, salt: Buffer, k: KdfParams): Promise<Buffer> {
  // NFC so that the same password typed on systems that compose accents differently
  // (macOS input vs. Linux) yields the same bytes.
  const pw = Buffer.from(password.normalize('NFC'), 'utf8');
  const memo = `${createHash('sha256').update(pw).digest('hex')}:${salt.toString('hex')}:${k.N}:${k.r}:${k.p}`;
  const hit = derived.get(memo);
  if (hit) return hit;
  // OpenSSL needs 128*r*(N+p+2) bytes; the doubled figure leaves headroom for tiny N.
  const maxmem = Math.max(2 * 128 * k.N * k.r * k.p, 128 * k.r * (k.N + k.p + 2) + 2 ** 20);
  const options: ScryptOptions = { N: k.N, r: k.r, p: k.p, maxmem };
  const key = new Promise<Buffer>((resolve, reject) => {
    scryptCb(pw, salt, 32, options, (err, out) => (err ? reject(err) : resolve(out)));
  });
  if (derived.size >= MAX_DERIVED) derived.delete(derived.keys().next().value!);
  derived.set(memo, key);
  key.catch(() => derived.delete(memo));
  return key;
}

function requireRepoId(repoId: string): void {
  if (!isId(repoId)) throw new CairnError('INTERNAL', `repository id must be 64 lowercase hex digits, got "${repoId}"`);
}

export async function createKeySlot(
  mk: MasterKey,
  password: string,
  repoId: string,
  opts: { kdf?: KdfParams; host: string; user: string; label?: string; role?: SlotRole; random: RandomSource; now: Date },
): Promise<KeySlotFile> {
  requireRepoId(repoId);
  const role = opts.role ?? 'full';
  if (!SLOT_ROLES.includes(role)) throw new CairnError('INTERNAL', `unknown key slot role "${String(role)}"`);
  const kdf = opts.kdf ?? DEFAULT_KDF;
  const problem = kdfProblem(kdf);
  if (problem) throw new CairnError('CONFIG_INVALID', `scrypt parameters rejected: ${problem}`);
  const salt = opts.random(SALT_SIZE);
  const nonce = opts.random(NONCE_SIZE);
  const wrapKey = await deriveWrapKey(password, salt, kdf);
  const wrapped = aeadSeal(wrapKey, nonce, serializeMasterKey(mk), slotAad(repoId, role));
  return {
    version: 1,
    id: opts.random(32).toString('hex') as KeyId,
    created: opts.now.toISOString(),
    host: opts.host,
    user: opts.user,
    label: opts.label ?? '',
    role,
    kdf: { name: 'scrypt', N: kdf.N, r: kdf.r, p: kdf.p, salt: encodeB64(salt) },
    nonce: encodeB64(nonce),
    wrapped: encodeB64(wrapped),
  };
}

/**
 * Throws WRONG_PASSWORD when the slot does not authenticate (wrong password, a slot of
 * another repository, or a slot whose `role` was edited; host, user, label and created
 * are not authenticated). The caller learns the slot's role from `slot.role`, which
 * is authentic once this resolves.
 */
export async function openKeySlot(slot: KeySlotFile, password: string, repoId: string): Promise<MasterKey> {
  requireRepoId(repoId);
  // Re-validate: callers may hand us an object that did not come through parseKeySlot.
  const checked = validateKeySlot(slot);
  const salt = decodeB64(checked.kdf.salt, SALT_SIZE)!;
  const nonce = decodeB64(checked.nonce, NONCE_SIZE)!;
  const wrapped = decodeB64(checked.wrapped)!;
  const wrapKey = await deriveWrapKey(password, salt, checked.kdf);
  let plain: Buffer;
  try {
    plain = aeadOpen(wrapKey, nonce, wrapped, slotAad(repoId, checked.role));
  } catch (err) {
    if (!(err instanceof AuthError)) throw err;
    throw new CairnError('WRONG_PASSWORD', `the password does not open key slot ${checked.id.slice(0, 8)}`, {
      hint: 'check the password, or try another key slot (cairn key list)',
      details: { keyId: checked.id },
    });
  }
  return parseMasterKey(plain);
}

export function serializeKeySlot(slot: KeySlotFile): Buffer {
  return Buffer.from(JSON.stringify(slot, null, 2) + '\n', 'utf8');
}

export function parseKeySlot(buf: Uint8Array): KeySlotFile {
  let json: unknown;
  try {
    json = JSON.parse(Buffer.from(buf.buffer, buf.byteOffset, buf.byteLength).toString('utf8'));
  } catch (cause) {
    throw new CairnError('REPO_CORRUPT', 'key slot is not valid JSON', { cause });
  }
  return validateKeySlot(json);
}

function validateKeySlot(json: unknown): KeySlotFile {
  const bad = (why: string) => new CairnError('REPO_CORRUPT', `key slot is malformed: ${why}`);
  if (typeof json !== 'object' || json === null) throw bad('not an object');
  const o = json as Record<string, unknown>;
  if (o.version !== 1) throw bad(`unsupported version ${String(o.version)}`);
  if (typeof o.id !== 'string' || !isId(o.id)) throw bad('id is not 64 hex digits');
  for (const f of ['created', 'host', 'user'] as const) {
    if (typeof o[f] !== 'string') throw bad(`${f} is not a string`);
  }
  // label is informational; tolerate its absence (hand-written or older slots).
  if (o.label !== undefined && typeof o.label !== 'string') throw bad('label is not a string');
  // role is absent in slots written before roles existed: those are full-access.
  if (o.role !== undefined && !SLOT_ROLES.includes(o.role as SlotRole)) throw bad(`unknown role ${JSON.stringify(o.role)}`);
  const kdf = (typeof o.kdf === 'object' && o.kdf !== null ? o.kdf : {}) as Record<string, unknown>;
  if (kdf.name !== 'scrypt') throw bad(`unsupported kdf ${String(kdf.name)}`);
  const params = { N: kdf.N, r: kdf.r, p: kdf.p } as KdfParams;
  const problem = kdfProblem(params);
  if (problem) throw bad(`scrypt parameters: ${problem}`);
  if (!decodeB64(kdf.salt, SALT_SIZE)) throw bad('kdf salt is not 32 bytes of base64');
  if (!decodeB64(o.nonce, NONCE_SIZE)) throw bad('nonce is not 12 bytes of base64');
  const wrapped = decodeB64(o.wrapped);
  if (!wrapped || wrapped.length < 16) throw bad('wrapped is not base64 ciphertext');
  return {
    version: 1,
    id: o.id as KeyId,
    created: o.created as string,
    host: o.host as string,
    user: o.user as string,
    label: (o.label as string | undefined) ?? '',
    role: (o.role as SlotRole | undefined) ?? 'full',
    kdf: { name: 'scrypt', N: params.N, r: params.r, p: params.p, salt: kdf.salt as string },
    nonce: o.nonce as string,
    wrapped: o.wrapped as string,
  };
}
