import { CairnError } from '../core/errors/index.js';
import type { BlobId, PackId } from '../core/ids.js';
import { isNotFound } from '../backend/types.js';
import type { BlobLocation, PackRecord } from '../index/blob-index.js';
import type { PackEntry } from '../format/pack-writer.js';
import type { SealedRange } from '../pipeline/restore-task.js';
import type { PlannedRange } from './small-files.js';
import { packName, type Repository } from '../repository/repository.js';
import { LruCache } from '../util/lru-cache.js';

/**
 * Where restore finds data blobs: their index locations, their packs' records, and
 * ranged reads of packs (BLOB_MISSING when a pack is gone).
 */
export class BlobSource {
  private readonly packs = new LruCache<string, PackRecord>(1024);

  constructor(private readonly repo: Repository) {}

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

  packRecord(id: string): PackRecord {
    let pack = this.packs.get(id);
    if (!pack) {
      pack = this.repo.index.getPack(id as PackRecord['id']);
      if (!pack) throw new CairnError('REPO_CORRUPT', `index names unknown pack ${id.slice(0, 8)}`);
      this.packs.set(id, pack);
    }
    return pack;
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

  /** Reads a planned pack range as the sealed range a worker opens (restore-task.ts). */
  async readSealed(r: PlannedRange): Promise<SealedRange> {
    const pack = this.packRecord(r.pack);
    const bytes = await this.readPackRange(r.pack, r.offset, r.length);
    return { encKeyId: pack.encKeyId, salt: new Uint8Array(pack.salt), entries: r.locs.map(entryOf), bytes, base: r.offset };
  }

  /** Opens one entry of a range read from `pack` on this thread (no workers), checked against its id. */
  openHere(pack: PackId, range: SealedRange, entry: PackEntry): Buffer {
    const sealed = Buffer.from(range.bytes.buffer, range.bytes.byteOffset + entry.offset - range.base, entry.length);
    return this.repo.openBlobAt({ ...entry, pack }, this.packRecord(pack), sealed);
  }
}

/** What a worker needs of a location (the pack is known from the range). */
function entryOf(l: BlobLocation): PackEntry {
  return { type: l.type, id: l.id, offset: l.offset, length: l.length, rawLength: l.rawLength, compressed: l.compressed };
}
