import { createHmac } from 'node:crypto';
import { CairnError } from '../core/errors/index.js';
import type { ChunkerParams } from '../chunker/types.js';

export const FORMAT_VERSION = 1;

/** The plaintext `config` file (docs/repository-format.md). */
export interface RepoConfig {
  format: 'cairn-repository';
  version: number;
  id: string;
  created: string;
  chunker: ChunkerParams & { algorithm: 'fastcdc' };
  compression: { algorithm: 'zstd'; level: number };
  packSize: number;
  /**
   * HMAC-SHA-256(idKey, "cairn mirror check v1" || id), hex: lets a session that holds
   * the master key confirm another repository shares it without running scrypt (mirrors).
   * Bound to this repository's id, so it links no two repositories. Absent in configs
   * written before mirrors existed.
   */
  keyCheck?: string;
  /** Set on a mirror: the id of the repository it was created from (`init --mirror-of`). */
  mirrorOf?: string;
}

/** The config's `keyCheck` for a repository id under a master key's idKey. */
export function computeKeyCheck(idKey: Uint8Array, repoId: string): string {
  return createHmac('sha256', idKey).update('cairn mirror check v1').update(repoId, 'ascii').digest('hex');
}

export function parseRepoConfig(bytes: Buffer, location: string): RepoConfig {
  let c: Partial<RepoConfig>;
  try {
    c = JSON.parse(bytes.toString('utf8')) as Partial<RepoConfig>;
  } catch (err) {
    throw new CairnError('REPO_CORRUPT', `the config file of ${location} is not valid JSON`, { cause: err });
  }
  // Valid JSON but no object (`null`, a number, a list): damage, like garbage.
  if (typeof c !== 'object' || c === null || Array.isArray(c)) {
    throw new CairnError('REPO_CORRUPT', `the config file of ${location} is not a JSON object`);
  }
  if (c.format !== 'cairn-repository') {
    throw new CairnError('REPO_NOT_FOUND', `${location} is not a Cairn repository (config has no cairn format marker)`);
  }
  if (typeof c.version !== 'number' || c.version > FORMAT_VERSION) {
    throw new CairnError('REPO_VERSION', `${location} uses repository format version ${String(c.version)}, this cairn reads up to ${FORMAT_VERSION}`, {
      hint: 'upgrade cairn',
    });
  }
  if (typeof c.id !== 'string' || !c.chunker || !c.compression || typeof c.packSize !== 'number') {
    throw new CairnError('REPO_CORRUPT', `the config file of ${location} is incomplete`);
  }
  if (c.keyCheck !== undefined && !(typeof c.keyCheck === 'string' && /^[0-9a-f]{64}$/.test(c.keyCheck))) {
    throw new CairnError('REPO_CORRUPT', `the config file of ${location} has a malformed keyCheck`);
  }
  return c as RepoConfig;
}
