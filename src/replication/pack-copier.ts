import pLimit from 'p-limit';
import { isNotFound } from '../backend/types.js';
import { CairnError } from '../core/errors/index.js';
import type { BlobId, BlobType, PackId, SnapshotId } from '../core/ids.js';
import { sha256Hex } from '../crypto/sha256.js';
import { BlobSaver } from '../repository/blob-saver.js';
import { encodeIndexFile } from '../repository/index-file.js';
import { packName, type Repository } from '../repository/repository.js';

export interface PackCopyStats {
  /** Packs uploaded to the destination. */
  packsCopied: number;
  /** Packs already present in the destination's data/ (an earlier run or a backup's fan-out) and now indexed there. */
  packsAdopted: number;
  /** Blobs the snapshot needs that the destination's index lacked. */
  blobsCopied: number;
  /** Bytes uploaded to the destination (whole packs, plus re-packed blobs). */
  bytesCopied: number;
}

const PACKS_PER_INDEX_FILE = 1000;
const PARALLEL_PACKS = 4;

/**
 * The 'packs' copy method, for two repositories that share the master key (a mirror):
 * makes `dst` hold every blob below `tree`, by copying byte for byte the source packs
 * that hold blobs the destination's index lacks. Packs already in dst's data/ with the
 * right size (left by a killed copy, or written by a mirrored backup's fan-out) are
 * adopted without uploading. Then one new index file in dst names exactly the packs
 * added: the source's index files are never copied, since they name packs the
 * destination may not have.
 *
 * Blobs whose only copy in dst is a pack condemned by dst's prune cannot be revived by
 * copying that same pack (its name is taken and the sweep would delete it): those are
 * re-packed into a new pack through dst's BlobSaver, like a backup would.
 *
 * Every pack is durable (saved, read back) and indexed before this returns, so the
 * caller may then write the snapshot file. Writes nothing with dryRun.
 */
export async function copyPacksFor(
  src: Repository,
  dst: Repository,
  tree: BlobId,
  opts: { dryRun?: boolean; signal?: AbortSignal; onBytes?: (n: number) => void } = {},
): Promise<PackCopyStats> {
  return copyPacksForBlobs(src, dst, await missingBlobs(src, dst, tree, opts.signal), opts);
}

/**
 * The data blobs among `ids` that dst's index lacks, as copyPacksForBlobs takes them
 * ("d<id>"). For blobs referenced outside any tree: the segments of WAL records.
 */
export function missingDataBlobs(dst: Repository, ids: Iterable<BlobId>): Set<string> {
  const missing = new Set<string>();
  for (const id of ids) if (!dst.index.find('data', id)) missing.add(`d${id}`);
  return missing;
}

/**
 * copyPacksFor's machinery for any set of blobs dst lacks ("t<id>"/"d<id>"): the source
 * packs holding them are copied byte for byte (or adopted), blobs whose only copy in dst
 * is condemned are re-packed, and one index file names the packs added. Everything is
 * durable and indexed in dst when this returns.
 */
export async function copyPacksForBlobs(
  src: Repository,
  dst: Repository,
  missing: Set<string>,
  opts: { dryRun?: boolean; signal?: AbortSignal; onBytes?: (n: number) => void } = {},
): Promise<PackCopyStats> {
  const stats: PackCopyStats = { packsCopied: 0, packsAdopted: 0, blobsCopied: 0, bytesCopied: 0 };
  stats.blobsCopied = missing.size;
  if (missing.size === 0) return stats;

  // Group what is missing by the source pack that holds it.
  const byPack = new Map<PackId, { type: BlobType; id: BlobId }[]>();
  for (const key of missing) {
    const type: BlobType = key[0] === 't' ? 'tree' : 'data';
    const id = key.slice(1) as BlobId;
    const loc = src.index.findForRead(type, id);
    if (!loc) {
      throw new CairnError('BLOB_MISSING', `${type} blob ${id.slice(0, 8)} of the source is in no pack of its index`, {
        hint: 'run `cairn check` on the source repository',
        details: { blob: id, type },
      });
    }
    let list = byPack.get(loc.pack);
    if (!list) byPack.set(loc.pack, (list = []));
    list.push({ type, id });
  }

  const saver = new BlobSaver(dst, { dryRun: !!opts.dryRun });
  const added: PackId[] = [];
  const limit = pLimit(PARALLEL_PACKS);
  try {
    // Condemned in dst: re-pack those blobs (sequentially; the saver is not reentrant per blob).
    for (const [pack, blobs] of byPack) {
      if (!dst.index.hasPack(pack)) continue;
      byPack.delete(pack);
      for (const b of blobs) {
        throwIfAborted(opts.signal);
        await saver.save(b.type, await src.loadBlob(b.type, b.id), b.id);
      }
    }
    await Promise.all(
      [...byPack.keys()].map((pack) =>
        limit(async () => {
          throwIfAborted(opts.signal);
          const record = src.index.getPack(pack);
          if (!record) throw new CairnError('REPO_CORRUPT', `source index names unknown pack ${pack.slice(0, 8)}`);
          const name = packName(pack);
          const present = await sizeOf(dst, name);
          if (present === record.size) {
            stats.packsAdopted++;
          } else {
            if (opts.dryRun) {
              stats.packsCopied++;
              stats.bytesCopied += record.size;
              opts.onBytes?.(record.size);
              return;
            }
            await copyOnePack(src, dst, pack);
            stats.packsCopied++;
            stats.bytesCopied += record.size;
            opts.onBytes?.(record.size);
          }
          if (opts.dryRun) return;
          dst.index.addPack(record, src.index.blobsInPack(pack), null);
          added.push(pack);
        }),
      ),
    );
    await saver.finish();
    stats.packsCopied += saver.stats.packs;
    stats.bytesCopied += saver.stats.bytesAddedPacked;
  } catch (err) {
    await saver.abandon();
    throw err;
  }
  if (!opts.dryRun) await writeIndexFiles(dst, added);
  return stats;
}

/** Copies one pack file byte for byte; it counts only when dst returns exactly its bytes. */
async function copyOnePack(src: Repository, dst: Repository, pack: PackId): Promise<void> {
  const name = packName(pack);
  const bytes = await src.backend.load(name);
  if (sha256Hex(bytes) !== pack) {
    throw new CairnError('PACK_CORRUPT', `pack ${pack.slice(0, 8)} read from ${src.backend.location} does not match its name`, {
      hint: 'run `cairn check --read-data` on the source repository',
      details: { pack },
    });
  }
  await dst.backend.save(name, bytes);
  const back = await dst.backend.load(name);
  if (sha256Hex(back) !== pack) {
    throw new CairnError('PACK_CORRUPT', `pack ${pack.slice(0, 8)} read back from ${dst.backend.location} differs from what was written`, {
      hint: 'the destination storage is corrupting data; nothing was committed',
      details: { pack },
    });
  }
}

/** Index files in dst for packs now present there; written before any snapshot that needs them. */
export async function writeIndexFiles(dst: Repository, packs: PackId[]): Promise<void> {
  for (let i = 0; i < packs.length; i += PACKS_PER_INDEX_FILE) {
    const slice = packs.slice(i, i + PACKS_PER_INDEX_FILE);
    const body = encodeIndexFile(slice.map((id) => ({ pack: dst.index.getPack(id)!, blobs: dst.index.blobsInPack(id) })));
    const indexId = await dst.saveSealed('index', body);
    dst.index.markIndexed(slice, indexId);
  }
}

/**
 * Blobs below `tree` (trees included) that dst's index lacks, as "t<id>"/"d<id>". Every
 * tree is walked (each once): a tree present in dst says nothing about its data, which
 * dst's prune may have swept while keeping the tree in a mostly-live pack.
 */
async function missingBlobs(src: Repository, dst: Repository, root: BlobId, signal?: AbortSignal): Promise<Set<string>> {
  const missing = new Set<string>();
  const seen = new Set<string>();
  const stack: BlobId[] = [root];
  while (stack.length > 0) {
    const id = stack.pop()!;
    if (seen.has(id)) continue;
    seen.add(id);
    throwIfAborted(signal);
    if (!dst.index.find('tree', id)) missing.add(`t${id}`);
    const tree = await src.loadTree(id);
    for (const node of tree.nodes) {
      for (const d of node.content ?? []) if (!dst.index.find('data', d)) missing.add(`d${d}`);
      if (node.subtree) stack.push(node.subtree);
    }
  }
  return missing;
}

/** Copies a snapshot file byte for byte (same name: its id is the SHA-256 of its bytes). */
export async function copySnapshotFile(src: Repository, dst: Repository, id: SnapshotId): Promise<void> {
  await copySealedFile(src, dst, 'snapshots', 'snapshot', id);
}

/** Copies a WAL record file byte for byte, like a snapshot file (same name, same bytes). */
export async function copyWalRecordFile(src: Repository, dst: Repository, id: string): Promise<void> {
  await copySealedFile(src, dst, 'wal', 'WAL record', id);
}

async function copySealedFile(src: Repository, dst: Repository, dir: string, what: string, id: string): Promise<void> {
  const name = `${dir}/${id}`;
  const bytes = await src.backend.load(name);
  if (sha256Hex(bytes) !== id) {
    throw new CairnError('REPO_CORRUPT', `${what} file ${id.slice(0, 8)} in ${src.backend.location} does not match its name`, {
      details: { file: name },
    });
  }
  await dst.backend.save(name, bytes);
  // Read back, like every sealed file the repository writes: a file that names data
  // must not count as copied unless it arrived whole.
  if (!(await dst.backend.load(name)).equals(bytes)) {
    await dst.backend.remove(name).catch(() => undefined);
    throw new CairnError('REPO_CORRUPT', `${what} file ${id.slice(0, 8)} read back from ${dst.backend.location} differs from what was written`, {
      hint: `the storage is corrupting data; the ${what} was not copied`,
      details: { file: name },
    });
  }
}

async function sizeOf(repo: Repository, name: string): Promise<number | null> {
  try {
    return (await repo.backend.stat(name)).size;
  } catch (err) {
    if (isNotFound(err)) return null;
    throw err;
  }
}

export function throwIfAborted(signal: AbortSignal | undefined): void {
  if (signal?.aborted) throw new CairnError('CANCELLED', 'copy cancelled; nothing half-done was committed');
}
