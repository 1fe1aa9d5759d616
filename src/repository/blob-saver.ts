import { CairnError } from '../core/errors/index.js';
import type { BlobId, BlobType, PackId } from '../core/ids.js';
import { sha256Hex } from '../crypto/sha256.js';
import { PackWriter, type PackEntry } from '../format/pack-writer.js';
import { parsePackHeader } from '../format/pack-reader.js';
import { encodeIndexFile } from './index-file.js';
import { packName, type Repository } from './repository.js';

export interface SaveResult {
  id: BlobId;
  /** False when the blob already existed (deduplicated). */
  added: boolean;
}

export interface SaverStats {
  blobsAdded: number;
  dataBlobs: number;
  treeBlobs: number;
  bytesAdded: number; // plaintext bytes of new blobs
  bytesAddedPacked: number; // stored bytes of new blobs (compressed + encrypted)
  packs: number;
}

/**
 * Deduplicates blobs against the index and packs new ones. Each finished pack is
 * uploaded, read back and hash-checked before it counts as stored; only then are its
 * blobs recorded in the local index (with no index file yet). finish() writes one
 * index file naming every pack of this session. Nothing a snapshot references can
 * therefore be anywhere but in a pack that was verified in the backend.
 *
 * Uploads run concurrently with packing new data, at most `uploads` at a time; save()
 * waits when that many are in flight, which bounds memory to about
 * (uploads + 1) × packSize.
 */
export class BlobSaver {
  private writer: PackWriter | null = null;
  private readonly pending = new Set<string>();
  private readonly inFlight = new Set<Promise<void>>();
  private readonly written: PackId[] = [];
  private failure: unknown = null;
  readonly stats: SaverStats = { blobsAdded: 0, dataBlobs: 0, treeBlobs: 0, bytesAdded: 0, bytesAddedPacked: 0, packs: 0 };

  constructor(
    private readonly repo: Repository,
    private readonly opts: { uploads?: number; onPack?: (id: PackId) => void; dryRun?: boolean } = {},
  ) {}

  has(type: BlobType, id: BlobId): boolean {
    return this.pending.has(type + id) || this.repo.index.find(type, id) !== undefined;
  }

  async save(type: BlobType, plain: Buffer, knownId?: BlobId): Promise<SaveResult> {
    this.throwIfFailed();
    const id = knownId ?? this.repo.hasher.id(plain);
    if (this.has(type, id)) return { id, added: false };
    if (!this.writer) {
      const keyId = this.repo.masterKey.currentEncKey;
      this.writer = new PackWriter({ encKeyId: keyId, encKey: this.repo.keyFor(keyId), random: this.repo.deps.random });
    }
    const entry = this.writer.add(type, id, plain, this.repo.config.compression.level);
    this.pending.add(type + id);
    this.stats.blobsAdded++;
    if (type === 'data') this.stats.dataBlobs++;
    else this.stats.treeBlobs++;
    this.stats.bytesAdded += plain.length;
    this.stats.bytesAddedPacked += entry.length;
    if (this.writer.size >= this.repo.config.packSize) await this.flushPack();
    return { id, added: true };
  }

  private async flushPack(): Promise<void> {
    const writer = this.writer;
    this.writer = null;
    if (!writer || writer.count === 0) return;
    const { bytes, id, entries } = writer.finish();
    if (this.opts.dryRun) {
      this.stats.packs++;
      return;
    }
    while (this.inFlight.size >= (this.opts.uploads ?? 2)) await Promise.race(this.inFlight);
    this.throwIfFailed();
    const p = this.upload(bytes, id, entries)
      .catch((err) => {
        this.failure ??= err;
      })
      .finally(() => this.inFlight.delete(p));
    this.inFlight.add(p);
  }

  private async upload(bytes: Buffer, id: PackId, entries: PackEntry[]): Promise<void> {
    const name = packName(id);
    await this.repo.backend.save(name, bytes);
    // Read back: a pack counts as stored only when the backend returns exactly it.
    const back = await this.repo.backend.load(name);
    if (back.length !== bytes.length || sha256Hex(back) !== id) {
      throw new CairnError('PACK_CORRUPT', `pack ${id.slice(0, 8)} read back from ${this.repo.backend.location} differs from what was written`, {
        hint: 'the storage is corrupting data; the backup was not committed',
        details: { pack: id },
      });
    }
    const { encKeyId, salt } = parsePackHeader(bytes);
    this.repo.index.addPack({ id, size: bytes.length, encKeyId, salt }, entries, null);
    for (const e of entries) this.pending.delete(e.type + e.id);
    this.written.push(id);
    this.stats.packs++;
    this.opts.onPack?.(id);
  }

  private throwIfFailed(): void {
    if (this.failure) throw this.failure;
  }

  /** Flushes the open pack, waits for every upload, writes the index file. Returns its id (null if nothing was written). */
  async finish(): Promise<string | null> {
    await this.flushPack();
    await Promise.all(this.inFlight);
    this.throwIfFailed();
    if (this.written.length === 0 || this.opts.dryRun) return null;
    const packs = this.written.map((id) => ({ pack: this.repo.index.getPack(id)!, blobs: this.repo.index.blobsInPack(id) }));
    const indexId = await this.repo.saveSealed('index', encodeIndexFile(packs));
    this.repo.index.markIndexed(this.written, indexId);
    return indexId;
  }

  /** Waits for in-flight uploads without writing anything more (after a failure or cancel). */
  async abandon(): Promise<void> {
    this.writer = null;
    await Promise.allSettled(this.inFlight);
  }
}
