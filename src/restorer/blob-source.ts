import type { BlobId } from '../core/ids.js';
import type { Repository } from '../repository/repository.js';
import { LruCache } from '../util/lru-cache.js';

/**
 * Data blobs for restore: each blob is fetched and decrypted once while it is in the
 * cache, so a chunk repeated across files (or within one) costs one read.
 */
export class BlobSource {
  private readonly cache: LruCache<string, Promise<Buffer>>;

  constructor(
    private readonly repo: Repository,
    entries = 32,
  ) {
    this.cache = new LruCache(entries);
  }

  get(id: BlobId): Promise<Buffer> {
    let p = this.cache.get(id);
    if (!p) {
      p = this.repo.loadBlob('data', id);
      p.catch(() => this.cache.clear());
      this.cache.set(id, p);
    }
    return p;
  }
}
