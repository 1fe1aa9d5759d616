import type { PackId } from '../core/ids.js';
import { parsePackHeader, readWholePack } from '../format/pack-reader.js';
import type { PackEntry } from '../format/pack-writer.js';
import type { PackRecord } from '../index/blob-index.js';
import { LruCache } from '../util/lru-cache.js';

/** A tree pack kept whole, with the tree blobs its trailer lists. */
export interface LoadedTreePack {
  bytes: Buffer;
  record: PackRecord;
  entries: Map<string, PackEntry>;
}

/**
 * Trees are read whole-pack and kept: walking a snapshot touches thousands of small
 * tree blobs that sit together in a few packs, and one read per pack instead of one per
 * tree is what makes incremental scans fast (and cheap on object storage). Kept by
 * bytes: a tree pack is full-sized (16 MiB) for ~100k files in big directories, and four
 * of them were most of an unchanged backup's memory.
 */
export class TreePacks {
  private readonly kept: LruCache<string, LoadedTreePack>;
  private readonly loads = new Map<string, Promise<LoadedTreePack>>();

  constructor(
    /** Reads a whole pack by id from the store. */
    private readonly read: (pack: string) => Promise<Buffer>,
    private readonly keyFor: (encKeyId: number) => Buffer,
    maxBytes: number,
  ) {
    this.kept = new LruCache(8, maxBytes, (p) => p.bytes.length);
  }

  /**
   * The kept pack whose trailer lists tree `id`, and its entry there. Once one pack is
   * loaded its other trees need no index query (~30 µs each, 0.25 s of an unchanged
   * backup of 8k directories); at most 8 packs are kept, so this asks each in turn.
   */
  find(id: string): { kept: LoadedTreePack; entry: PackEntry } | undefined {
    for (const [pack, kept] of this.kept.entries()) {
      const entry = kept.entries.get(id);
      if (!entry) continue;
      this.kept.get(pack); // most recently used now
      return { kept, entry };
    }
    return undefined;
  }

  /** The pack, read whole (once, however many ask at the same time) and kept; a failed read is not kept. */
  get(pack: string): Promise<LoadedTreePack> {
    const hit = this.kept.get(pack);
    if (hit) return Promise.resolve(hit);
    let p = this.loads.get(pack);
    if (!p) {
      p = this.read(pack)
        .then((bytes) => this.keep(pack, bytes))
        .finally(() => this.loads.delete(pack));
      this.loads.set(pack, p);
    }
    return p;
  }

  private keep(pack: string, bytes: Buffer): LoadedTreePack {
    // No check that the whole pack hashes to its name: every tree read from it is
    // authenticated and hashed to its id (Repository.openBlobAt), so a damaged byte costs
    // the tree it is in and not every other tree of the pack (a restore brings those
    // back; check --read-data hashes whole packs).
    const loaded: LoadedTreePack = { bytes, record: { id: pack as PackId, size: bytes.length, ...parsePackHeader(bytes) }, entries: new Map() };
    try {
      for (const e of readWholePack(bytes, this.keyFor).entries) if (e.type === 'tree') loaded.entries.set(e.id, e);
    } catch {
      // A damaged trailer: the pack's blobs are still found through the index.
    }
    this.kept.set(pack, loaded);
    return loaded;
  }
}
