import { CairnError } from '../core/errors/index.js';
import type { BlobId, BlobType, PackId } from '../core/ids.js';
import { PackWriter, type PackEntry } from '../format/pack-writer.js';
import { parsePackHeader } from '../format/pack-reader.js';
import type { LazyPool } from '../pipeline/lazy-pool.js';
import { encodeIndexFile, type IndexedPack } from './index-file.js';
import { packName, type Repository } from './repository.js';
import { WorkSet } from '../util/work-set.js';

/**
 * Blobs per index file written during a backup. The entries held until then, the
 * file's encoding and its read-back are garbage the main thread's GC frees late: a
 * first backup of 100k small files peaked at 288-296 MiB with 50,000, 263-269 MiB
 * with 20,000 (2 + 2 alternating cold runs, 2026-12-07); 10,000 gained little more
 * and doubles the files a fresh cache loads.
 */
const INDEX_MAX_BLOBS = 20_000;

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

export interface BlobSaverOptions {
  /** Packs uploaded at once; save() waits when that many are in flight. */
  uploads?: number;
  onPack?: (id: PackId) => void;
  /**
   * Called with each pack once it is stored and read back, before its blobs are recorded
   * (mirrored backups write it to the mirrors here). Awaited, so the index file comes
   * after every call has settled; it must not throw.
   */
  onStored?: (id: PackId, bytes: Buffer) => Promise<void>;
  /** Count what would be stored, store nothing. */
  dryRun?: boolean;
  /** Workers that read and store files; their finished packs are uploaded here. */
  pool?: LazyPool | null;
  /** An index file is written for every this many stored packs (default 64), and one for the rest at finish(). */
  indexEvery?: number;
  /** ...or as soon as the packs not yet in one hold this many blobs (default INDEX_MAX_BLOBS): small files fill a pack with thousands. */
  indexMaxBlobs?: number;
}

/**
 * Deduplicates blobs against the index and packs new ones. Each finished pack is
 * uploaded, read back and compared byte for byte before it counts as stored; only then
 * are its blobs recorded in the local index (with no index file yet). An index file
 * names every 64 stored packs, and finish() writes one for the rest, before the caller
 * writes its snapshot. Nothing a snapshot references can
 * therefore be anywhere but in a pack that was verified in the backend.
 *
 * Dedup decisions are made here, on the main thread, before any compression: a worker
 * only ever seals blobs that are new. Memory stays bounded: each worker builds its packs
 * in a fixed set of reused buffers and waits while all of them are being uploaded (see
 * pipeline/pack-buffers.ts); packs made here wait in save() while `uploads` packs are
 * being uploaded.
 */
/** Packs are read back and compared in pieces of this size. */
const READ_BACK_PIECE = 4 * 2 ** 20;

export class BlobSaver {
  private writer: PackWriter | null = null;
  private readonly pending = new Set<string>();
  /** Uploads (and index files) in flight; their failures land in `failure`. */
  private readonly uploading = new WorkSet();
  /**
   * Stored packs no index file names yet, with what the index file says of them. Kept
   * here, not read back from the index cache: another process sharing the cache (a
   * prune, a check) may drop a pack no index file names before this one writes it.
   */
  private unindexed: IndexedPack[] = [];
  private unindexedBlobs = 0;
  /** Index files are written one after another. */
  private indexing: Promise<void> = Promise.resolve();
  private failure: unknown = null;
  private readonly pool: LazyPool | null;
  readonly stats: SaverStats = { blobsAdded: 0, dataBlobs: 0, treeBlobs: 0, bytesAdded: 0, bytesAddedPacked: 0, packs: 0 };

  constructor(
    private readonly repo: Repository,
    private readonly opts: BlobSaverOptions = {},
  ) {
    this.pool = opts.dryRun ? null : (opts.pool ?? null);
    this.pool?.setPackHandler((id, bytes, entries, release) => this.startUpload(bytes, id, entries, release));
  }

  has(type: BlobType, id: BlobId): boolean {
    return this.pending.has(type + id) || this.repo.index.find(type, id) !== undefined;
  }

  /** Stores a blob unless it exists. `plain` is handed over: the caller must not use it afterwards. */
  async save(type: BlobType, plain: Buffer, knownId?: BlobId): Promise<SaveResult> {
    this.throwIfFailed();
    const id = knownId ?? this.repo.hasher.id(plain);
    if (this.has(type, id)) return { id, added: false };
    this.pending.add(type + id);
    this.stats.blobsAdded++;
    if (type === 'data') this.stats.dataBlobs++;
    else this.stats.treeBlobs++;
    this.stats.bytesAdded += plain.length;
    await this.waitForUploads();
    if (!this.writer) {
      const keyId = this.repo.masterKey.currentEncKey;
      this.writer = new PackWriter({ encKeyId: keyId, encKey: this.repo.keyFor(keyId), random: this.repo.deps.random });
    }
    this.writer.add(type, id, plain, this.repo.config.compression.level);
    if (this.writer.full(this.repo.config.packSize)) this.flushInline();
    return { id, added: true };
  }

  /**
   * Waits while `uploads` packs are being uploaded. Workers produce packs on their own,
   * so the archiver calls this before handing them more work: without it a slow
   * backend would let finished packs pile up in memory.
   */
  async waitForUploads(): Promise<void> {
    await this.uploading.room(this.opts.uploads ?? 2);
    this.throwIfFailed();
  }

  /** Blobs a worker stored itself (file tasks): counted here, uploaded through the pack handler. */
  countStored(blobs: number, bytes: number): void {
    this.stats.blobsAdded += blobs;
    this.stats.dataBlobs += blobs;
    this.stats.bytesAdded += bytes;
  }

  private flushInline(): void {
    const writer = this.writer;
    this.writer = null;
    if (!writer || writer.count === 0) return;
    const { bytes, id, entries } = writer.finish();
    this.startUpload(bytes, id, entries);
  }

  /** `release` (worker packs): the bytes' buffer may be reused once the upload settled. */
  private startUpload(bytes: Buffer, id: PackId, entries: PackEntry[], release?: () => void): void {
    for (const e of entries) this.stats.bytesAddedPacked += e.length;
    this.stats.packs++;
    if (this.opts.dryRun) return release?.();
    const p = this.upload(bytes, id, entries)
      .catch((err) => {
        this.failure ??= err;
      })
      .finally(() => release?.());
    this.uploading.add(p);
  }

  private async upload(bytes: Buffer, id: PackId, entries: PackEntry[]): Promise<void> {
    const name = packName(id);
    await this.repo.backend.save(name, bytes);
    // Read back: a pack counts as stored only when the backend returns exactly it (or,
    // for stores that verify our checksum on upload, has exactly its size). In pieces,
    // so verifying does not hold a second copy of the pack in memory.
    if (!(await this.readsBack(name, bytes))) {
      // Remove the damaged copy: left behind, the next backup's scanPacks would adopt it
      // (a corrupt middle leaves header and trailer readable) and dedup against it. No
      // one else references it: its name is unique (random salt) and it is in no index.
      await this.repo.backend.remove(name).catch(() => undefined);
      throw new CairnError('PACK_CORRUPT', `pack ${id.slice(0, 8)} read back from ${this.repo.backend.location} differs from what was written`, {
        hint: 'the storage is corrupting data; the backup was not committed',
        details: { pack: id },
      });
    }
    await this.opts.onStored?.(id, bytes);
    const { encKeyId, salt } = parsePackHeader(bytes);
    const pack = { id, size: bytes.length, encKeyId, salt };
    this.repo.index.addPack(pack, entries, null);
    for (const e of entries) this.pending.delete(e.type + e.id);
    this.unindexed.push({ pack, blobs: entries });
    this.unindexedBlobs += entries.length;
    this.opts.onPack?.(id);
    if (this.unindexed.length >= (this.opts.indexEvery ?? 64) || this.unindexedBlobs >= (this.opts.indexMaxBlobs ?? INDEX_MAX_BLOBS)) await this.writeIndex();
  }

  /**
   * Writes an index file naming the stored packs no index file names yet. Every 64 packs
   * (~1 GiB) or INDEX_MAX_BLOBS blobs during a session, not once at its end: encoding
   * the index file holds its entries in memory (~130 bytes a blob, and as much again as
   * JSON), so one file for a whole backup grew with the backup, by ~0.4 GB for a
   * million new blobs; 64 packs of small files (~4 KiB each) still held 250k blobs.
   */
  private writeIndex(): Promise<void> {
    const next = this.indexing.then(async () => {
      const packs = this.unindexed;
      this.unindexed = [];
      this.unindexedBlobs = 0;
      if (packs.length === 0) return;
      const indexId = await this.repo.saveSealed('index', encodeIndexFile(packs));
      this.repo.index.markIndexed(packs.map((p) => p.pack.id), indexId);
    });
    // A failure fails the session (the caller of the upload records it); later index files still run.
    this.indexing = next.catch(() => undefined);
    return next;
  }

  private async readsBack(name: string, bytes: Buffer): Promise<boolean> {
    if ((await this.repo.backend.stat(name)).size !== bytes.length) return false;
    // The store already compared our checksum before acknowledging (Backend.verifiesWrites).
    if (this.repo.backend.verifiesWrites) return true;
    // Into a reused buffer, one per upload in flight: a new 4 MiB Buffer per piece was
    // garbage the main thread's GC freed late, ~40 MB of a first backup's peak memory.
    const into = this.readBackBuffers.pop() ?? Buffer.allocUnsafeSlow(READ_BACK_PIECE);
    try {
      for (let offset = 0; offset < bytes.length; offset += READ_BACK_PIECE) {
        const length = Math.min(READ_BACK_PIECE, bytes.length - offset);
        const back = await this.repo.backend.load(name, { offset, length }, into);
        if (!back.equals(bytes.subarray(offset, offset + length))) return false;
      }
      return true;
    } finally {
      this.readBackBuffers.push(into);
    }
  }

  private readonly readBackBuffers: Buffer[] = [];

  private throwIfFailed(): void {
    if (this.failure) throw this.failure;
  }

  /** Flushes open packs, waits for every upload, writes the index file for the packs not yet named by one. */
  async finish(): Promise<void> {
    this.flushInline();
    if (this.pool) await this.pool.flush();
    await this.uploading.drained();
    this.throwIfFailed();
    this.pool?.setPackHandler(null);
    if (this.opts.dryRun) return;
    await this.writeIndex();
  }

  /** Waits for in-flight uploads without writing anything more (after a failure or cancel). */
  async abandon(): Promise<void> {
    this.writer = null;
    this.pool?.setPackHandler(null);
    await this.uploading.drained();
  }
}
