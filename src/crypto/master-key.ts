import { CairnError } from '../core/errors/index.js';
import type { RandomSource } from '../core/random.js';
import { decodeB64, encodeB64 } from './base64.js';

/**
 * The repository's secrets, wrapped by every key slot (docs/repository-format.md,
 * "Master key and key slots"). Treat as immutable: rotation returns a new object.
 */
export interface MasterKey {
  version: 1;
  /** Data-encryption root keys; ids are positive integers, never reused. */
  encKeys: { id: number; key: Buffer; created: string }[];
  /** The encKeys id that new packs and sealed files use. */
  currentEncKey: number;
  /** Keys the blob-id HMAC. */
  idKey: Buffer;
  /** Derives the chunker's gear table. */
  chunkerSeed: Buffer;
}

const KEY_SIZE = 32;
const MAX_KEY_ID = 0xffffffff; // stored as u32le in pack and sealed-file headers

export function generateMasterKey(random: RandomSource, now: Date): MasterKey {
  return {
    version: 1,
    encKeys: [{ id: 1, key: random(KEY_SIZE), created: now.toISOString() }],
    currentEncKey: 1,
    idKey: random(KEY_SIZE),
    chunkerSeed: random(KEY_SIZE),
  };
}

/** Key rotation for new data: appends key max+1 and makes it current. Old keys stay so old data still opens. */
export function addEncKey(mk: MasterKey, random: RandomSource, now: Date): MasterKey {
  const id = Math.max(...mk.encKeys.map((k) => k.id)) + 1;
  if (id > MAX_KEY_ID) throw new CairnError('INTERNAL', 'encryption key ids exhausted');
  return {
    ...mk,
    encKeys: [...mk.encKeys, { id, key: random(KEY_SIZE), created: now.toISOString() }],
    currentEncKey: id,
  };
}

/** The data root key with this id; an unknown id means a file names a key this repository never had. */
export function encKey(mk: MasterKey, id: number): Buffer {
  const found = mk.encKeys.find((k) => k.id === id);
  if (!found) {
    throw new CairnError('REPO_CORRUPT', `data names encryption key ${id}, which the master key does not contain`, {
      details: { encKeyId: id, known: mk.encKeys.map((k) => k.id) },
    });
  }
  return found.key;
}

export function serializeMasterKey(mk: MasterKey): Buffer {
  const json = {
    version: mk.version,
    encKeys: mk.encKeys.map((k) => ({ id: k.id, key: encodeB64(k.key), created: k.created })),
    currentEncKey: mk.currentEncKey,
    idKey: encodeB64(mk.idKey),
    chunkerSeed: encodeB64(mk.chunkerSeed),
  };
  return Buffer.from(JSON.stringify(json), 'utf8');
}

function corrupt(why: string): CairnError {
  return new CairnError('REPO_CORRUPT', `master key is malformed: ${why}`);
}

export function parseMasterKey(buf: Uint8Array): MasterKey {
  let json: unknown;
  try {
    json = JSON.parse(Buffer.from(buf.buffer, buf.byteOffset, buf.byteLength).toString('utf8'));
  } catch (cause) {
    throw new CairnError('REPO_CORRUPT', 'master key is not valid JSON', { cause });
  }
  if (typeof json !== 'object' || json === null) throw corrupt('not an object');
  const o = json as Record<string, unknown>;
  if (o.version !== 1) throw corrupt(`unsupported version ${String(o.version)}`);
  if (!Array.isArray(o.encKeys) || o.encKeys.length === 0) throw corrupt('encKeys missing or empty');
  const encKeys: MasterKey['encKeys'] = [];
  for (const e of o.encKeys as unknown[]) {
    const k = (typeof e === 'object' && e !== null ? e : {}) as Record<string, unknown>;
    if (typeof k.id !== 'number' || !Number.isInteger(k.id) || k.id < 1 || k.id > MAX_KEY_ID) throw corrupt('bad encKey id');
    if (encKeys.some((x) => x.id === k.id)) throw corrupt(`duplicate encKey id ${k.id}`);
    const key = decodeB64(k.key, KEY_SIZE);
    if (!key) throw corrupt(`encKey ${k.id} is not 32 bytes of base64`);
    if (typeof k.created !== 'string') throw corrupt(`encKey ${k.id} has no created time`);
    encKeys.push({ id: k.id, key, created: k.created });
  }
  if (typeof o.currentEncKey !== 'number' || !encKeys.some((k) => k.id === o.currentEncKey)) {
    throw corrupt('currentEncKey names no encKey');
  }
  const idKey = decodeB64(o.idKey, KEY_SIZE);
  if (!idKey) throw corrupt('idKey is not 32 bytes of base64');
  const chunkerSeed = decodeB64(o.chunkerSeed, KEY_SIZE);
  if (!chunkerSeed) throw corrupt('chunkerSeed is not 32 bytes of base64');
  return { version: 1, encKeys, currentEncKey: o.currentEncKey, idKey, chunkerSeed };
}
