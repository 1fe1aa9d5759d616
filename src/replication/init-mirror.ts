import type { Backend } from '../backend/types.js';
import type { KdfParams } from '../crypto/key-slot.js';
import type { InitResult } from '../engine/types.js';
import { computeKeyCheck } from '../repository/repo-config.js';
import { Repository, type RepositoryDeps } from '../repository/repository.js';

/**
 * `init --mirror-of`: a new repository with its own id and its own key slot for
 * `password`, wrapping the primary's master key, with the primary's chunking,
 * compression and pack size, so that packs written to both are byte-identical and the
 * mirror restores on its own. A primary whose config predates `keyCheck` gets it added
 * (only with a full key), so it can later serve as a mirror of its mirror.
 */
export async function initMirror(
  backend: Backend,
  primaryBackend: Backend,
  password: string,
  primaryPassword: string,
  deps: RepositoryDeps,
  kdf: KdfParams | undefined,
): Promise<InitResult> {
  let primary: Repository;
  try {
    primary = await Repository.open(primaryBackend, primaryPassword, deps);
  } catch (err) {
    await primaryBackend.close().catch(() => undefined);
    throw err;
  }
  try {
    if (!primary.config.keyCheck && primary.keyRole === 'full') {
      const config = { ...primary.config, keyCheck: computeKeyCheck(primary.masterKey.idKey, primary.id) };
      await primary.backend.save('config', Buffer.from(JSON.stringify(config, null, 2) + '\n'), { overwrite: true });
    }
    const mirror = await Repository.init(backend, password, deps, {
      ...(kdf ? { kdf } : {}),
      chunker: primary.config.chunker,
      compressionLevel: primary.config.compression.level,
      packSize: primary.config.packSize,
      masterKey: primary.masterKey,
      mirrorOf: primary.id,
    });
    const result = { id: mirror.id, location: backend.location, keyId: mirror.keyId as InitResult['keyId'] };
    await mirror.close();
    return result;
  } finally {
    await primary.close();
  }
}
