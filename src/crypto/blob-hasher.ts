import { createHmac, createSecretKey, type KeyObject } from 'node:crypto';
import type { BlobId } from '../core/ids.js';

/**
 * blobId = HMAC-SHA-256(idKey, plaintext). Keyed so that ids reveal nothing about
 * content to anyone without the master key (no "does this repo contain file X" test).
 */
export class BlobHasher {
  // A KeyObject is imported into OpenSSL once instead of on every call.
  private readonly key: KeyObject;

  constructor(idKey: Uint8Array) {
    if (idKey.length !== 32) throw new RangeError(`idKey must be 32 bytes, got ${idKey.length}`);
    this.key = createSecretKey(idKey);
  }

  id(data: Uint8Array): BlobId {
    return createHmac('sha256', this.key).update(data).digest('hex') as BlobId;
  }

  /** The same keyed hash over parts given in order, as 32 raw bytes (for local keys, never blob ids). */
  digestOf(parts: readonly Uint8Array[]): Buffer {
    const h = createHmac('sha256', this.key);
    for (const p of parts) h.update(p);
    return h.digest();
  }
}
