import { CairnError } from '../core/errors/index.js';
import type { BlobId, BlobType, PackId } from '../core/ids.js';
import type { BlobLocation, PackRecord } from '../index/blob-index.js';

/** Body of an index file (docs/repository-format.md, Index files). */
export interface IndexFileBody {
  version: 1;
  supersedes: string[];
  packs: {
    id: string;
    size: number;
    encKeyId: number;
    salt: string;
    blobs: [string, string, number, number, number, number][];
  }[];
}

export interface IndexedPack {
  pack: PackRecord;
  blobs: Omit<BlobLocation, 'pack'>[];
}

export function encodeIndexFile(packs: IndexedPack[], supersedes: string[] = []): IndexFileBody {
  return {
    version: 1,
    supersedes,
    packs: packs.map(({ pack, blobs }) => ({
      id: pack.id,
      size: pack.size,
      encKeyId: pack.encKeyId,
      salt: pack.salt.toString('base64'),
      blobs: blobs.map((b) => [b.type === 'data' ? 'd' : 't', b.id, b.offset, b.length, b.rawLength, b.compressed ? 1 : 0]),
    })),
  };
}

export function decodeIndexFile(body: unknown, id: string): { packs: IndexedPack[]; supersedes: string[] } {
  const b = body as Partial<IndexFileBody> | null;
  if (!b || b.version !== 1 || !Array.isArray(b.packs)) {
    throw new CairnError('REPO_CORRUPT', `index file ${id.slice(0, 8)} is malformed`);
  }
  const packs = b.packs.map((p) => ({
    pack: { id: p.id as PackId, size: p.size, encKeyId: p.encKeyId, salt: Buffer.from(p.salt, 'base64') },
    blobs: p.blobs.map(([t, bid, offset, length, rawLength, flags]) => ({
      type: (t === 't' ? 'tree' : 'data') as BlobType,
      id: bid as BlobId,
      offset,
      length,
      rawLength,
      compressed: (flags & 1) === 1,
    })),
  }));
  return { packs, supersedes: Array.isArray(b.supersedes) ? b.supersedes : [] };
}
