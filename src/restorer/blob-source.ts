import { CairnError } from '../core/errors/index.js';
import type { BlobId, PackId } from '../core/ids.js';
import { isNotFound } from '../backend/types.js';
import type { BlobLocation, PackRecord } from '../index/blob-index.js';
import type { WorkerPool } from '../pipeline/worker-pool.js';
import { packName, type Repository } from '../repository/repository.js';
import { LruCache } from '../util/lru-cache.js';

/** Runs smaller than this are decrypted on the main thread. */
const WORKER_MIN_BYTES = 256 * 1024;

/** Bytes read from a pack in one request when neighbouring blobs are wanted together. */
const MAX_RANGE = 32 * 2 ** 20;

/**
 * Data blobs for restore. A run of blobs that lie next to each other in one pack (the
 * usual case: a file's chunks were packed in order) is fetched with one ranged read
 * and decrypted on a worker; each plaintext is checked against its id. Recently used
 * blobs are cached, so a chunk repeated across files costs one read.
 */
export class BlobSource {
  // Bounded in bytes: chunks are up to 4 MiB each.
  private readonly cache = new LruCache<string, Buffer>(1024, 16 * 2 ** 20, (b) => b.length);
  private readonly packs = new LruCache<string, PackRecord>(1024);

  constructor(
    private readonly repo: Repository,
    private readonly pool: WorkerPool | null,
  ) {}

  /** Where each blob is; BLOB_MISSING for one the index does not know. */
  locate(ids: BlobId[]): BlobLocation[] {
    return ids.map((id) => {
      const loc = this.repo.index.findForRead('data', id);
      if (!loc) {
        throw new CairnError('BLOB_MISSING', `data blob ${id.slice(0, 8)} is in no pack of the index`, {
          hint: 'run `cairn repair index`; if it stays missing, run `cairn check`',
          details: { blob: id },
        });
      }
      return loc;
    });
  }

  /** The plaintexts of the blobs at `locs` (from locate()), in order. */
  async getMany(locs: BlobLocation[]): Promise<Buffer[]> {
    const out: (Buffer | undefined)[] = locs.map((l) => this.cache.get(l.id));
    const missing: { i: number; loc: BlobLocation }[] = [];
    for (let i = 0; i < locs.length; i++) if (!out[i]) missing.push({ i, loc: locs[i]! });
    // Group into runs of contiguous blobs of one pack.
    const runs: { i: number; loc: BlobLocation }[][] = [];
    for (const m of missing) {
      const run = runs[runs.length - 1];
      const last = run?.[run.length - 1];
      if (
        run &&
        last &&
        last.loc.pack === m.loc.pack &&
        last.loc.offset + last.loc.length === m.loc.offset &&
        m.loc.offset + m.loc.length - run[0]!.loc.offset <= MAX_RANGE
      ) {
        run.push(m);
      } else runs.push([m]);
    }
    await Promise.all(runs.map((run) => this.fetchRun(run, out)));
    for (let i = 0; i < locs.length; i++) this.cache.set(locs[i]!.id, out[i]!);
    return out as Buffer[];
  }

  packRecord(id: string): PackRecord {
    let pack = this.packs.get(id);
    if (!pack) {
      pack = this.repo.index.getPack(id as PackRecord['id']);
      if (!pack) throw new CairnError('REPO_CORRUPT', `index names unknown pack ${id.slice(0, 8)}`);
      this.packs.set(id, pack);
    }
    return pack;
  }

  private readRange(first: BlobLocation, length: number): Promise<Buffer> {
    return this.readPackRange(first.pack, first.offset, length);
  }

  /** `length` bytes of a pack from `offset`; BLOB_MISSING when the pack is gone. */
  async readPackRange(pack: PackId, offset: number, length: number): Promise<Buffer> {
    try {
      return await this.repo.backend.load(packName(pack), { offset, length });
    } catch (err) {
      if (isNotFound(err)) {
        throw new CairnError('BLOB_MISSING', `pack ${pack.slice(0, 8)} is missing`, {
          hint: 'run `cairn check` to see which snapshots are affected',
          details: { pack },
        });
      }
      throw err;
    }
  }

  private async fetchRun(run: { i: number; loc: BlobLocation }[], out: (Buffer | undefined)[]): Promise<void> {
    const first = run[0]!.loc;
    const last = run[run.length - 1]!.loc;
    const pack = this.packRecord(first.pack);
    const bytes = await this.readRange(first, last.offset + last.length - first.offset);
    // A message to a worker costs more than decrypting a small run here: only runs of
    // real size go to the workers.
    if (this.pool && last.offset + last.length - first.offset >= WORKER_MIN_BYTES) {
      const plains = await this.pool.open(pack.encKeyId, pack.salt, run.map(({ loc }) => loc), bytes, first.offset);
      plains.forEach((p, k) => {
        if (p instanceof Error) throw p;
        out[run[k]!.i] = p;
      });
      return;
    }
    for (const { i, loc } of run) {
      out[i] = this.repo.openBlobAt(loc, pack, bytes.subarray(loc.offset - first.offset, loc.offset - first.offset + loc.length));
    }
  }
}
