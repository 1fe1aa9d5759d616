import pLimit from 'p-limit';
import { isNotFound } from '../backend/types.js';
import { CairnError } from '../core/errors/index.js';
import { isId, type PackId } from '../core/ids.js';
import { PACK_FOOTER_SIZE, PACK_HEADER_SIZE, parsePackHeader, parsePackTrailer, trailerLength } from '../format/pack-reader.js';
import { decodeIndexFile, encodeIndexFile, type IndexedPack } from './index-file.js';
import { packName, type Repository } from './repository.js';

const TAIL_GUESS = 64 * 1024;

/**
 * Brings the local index cache up to date with the repository's index files: loads
 * the new ones, forgets the ones that were removed (superseded by prune or repair),
 * and loads gc marks so that condemned packs are not used for dedup. Returns those
 * marks, by id.
 */
export async function syncIndex(repo: Repository): Promise<Map<string, GcMark>> {
  const present = new Set(await repo.listIds('index'));
  const known = repo.index.indexFiles();
  const limit = pLimit(8);
  const fresh = [...present].filter((id) => !known.has(id));
  await Promise.all(
    fresh.map((id) =>
      limit(async () => {
        let body: unknown;
        try {
          body = await repo.loadSealed('index', id);
        } catch (err) {
          if (isNotFound(err)) return; // superseded and removed meanwhile
          throw err;
        }
        const { packs } = decodeIndexFile(body, id);
        repo.index.tx(() => {
          for (const p of packs) repo.index.addPack(p.pack, p.blobs, id);
          repo.index.addIndexFile(id);
        });
      }),
    ),
  );
  for (const id of known) if (!present.has(id)) repo.index.dropIndexFile(id);
  return loadGcMarks(repo);
}

export interface GcMark {
  created: string;
  packs: string[];
  /**
   * The snapshots the mark's reachability was computed from: none of their blobs is
   * only in the marked packs. Absent in marks written before 2026-12-07.
   */
  snapshots?: string[];
}

/** Every pack some of these gc marks condemns. */
export function condemnedBy(marks: ReadonlyMap<string, GcMark>): Set<string> {
  const condemned = new Set<string>();
  for (const m of marks.values()) for (const p of m.packs) condemned.add(p);
  return condemned;
}

export async function loadGcMarks(repo: Repository): Promise<Map<string, GcMark>> {
  const marks = new Map<string, GcMark>();
  for (const id of await repo.listIds('gc')) {
    try {
      marks.set(id, (await repo.loadSealed('gc', id)) as GcMark);
    } catch (err) {
      if (isNotFound(err)) continue;
      throw err;
    }
  }
  repo.index.setCondemned(condemnedBy(marks));
  repo.gcMarksKnown = [...marks.keys()];
  repo.gcMarkSnapshots = new Map([...marks].flatMap(([id, m]) => (Array.isArray(m.snapshots) ? [[id, new Set(m.snapshots)] as const] : [])));
  return marks;
}

/** Reads a pack's header and trailer with two small ranged reads (three if the trailer is big). */
export async function readPackEntries(repo: Repository, id: PackId, size: number): Promise<IndexedPack> {
  const name = packName(id);
  if (size < PACK_HEADER_SIZE + PACK_FOOTER_SIZE) {
    throw new CairnError('PACK_CORRUPT', `pack ${id.slice(0, 8)} is only ${size} bytes`, { details: { pack: id } });
  }
  const header = await repo.backend.load(name, { offset: 0, length: PACK_HEADER_SIZE });
  const guess = Math.min(size, TAIL_GUESS);
  let tail = await repo.backend.load(name, { offset: size - guess, length: guess });
  const need = PACK_FOOTER_SIZE + trailerLength(tail);
  if (need > tail.length) {
    if (need > size) throw new CairnError('PACK_CORRUPT', `pack ${id.slice(0, 8)} has an impossible trailer length`, { details: { pack: id } });
    tail = await repo.backend.load(name, { offset: size - need, length: need });
  }
  const entries = parsePackTrailer(tail, size, repo.keyFor, header);
  const { encKeyId, salt } = parsePackHeader(header);
  return { pack: { id, size, encKeyId, salt }, blobs: entries };
}

export interface ScanResult {
  /** Packs found in data/ that no index file named; now indexed. */
  adopted: PackId[];
  /** Packs the cache knew that are gone from data/. */
  missing: PackId[];
  /** Packs whose header or trailer is unreadable. */
  damaged: PackId[];
}

/** Every pack the repository holds, by id, with its size as listed. */
export async function listPacks(repo: Repository): Promise<Map<PackId, number>> {
  const listed = new Map<PackId, number>();
  for await (const f of repo.backend.list('data/')) {
    const id = f.name.slice(f.name.lastIndexOf('/') + 1);
    if (isId(id)) listed.set(id as PackId, f.size);
  }
  return listed;
}

/**
 * Lists data/ and reconciles it with the cache: packs left behind by a killed backup
 * (stored but never named by an index file) are read from their trailers and written
 * into a new index file, so their blobs are reused instead of stored again.
 */
export async function scanPacks(repo: Repository): Promise<ScanResult> {
  // Only packs the cache had before the listing began can be missing from it: a backup
  // sharing this cache records each pack once it is stored, so one recorded while the
  // listing ran may have been stored after the listing went past its name. Dropping it
  // lost its blobs from the cache for good (the backup's index file, recorded next,
  // is not read again), and the prune then failed on that backup's snapshot.
  const known = repo.index.packIds();
  const listed = await listPacks(repo);
  const missing: PackId[] = [];
  for (const id of known) {
    if (!listed.has(id)) {
      missing.push(id);
      repo.index.removePack(id);
    }
  }
  const unknown = [...listed].filter(([id]) => !repo.index.hasPack(id as PackId));
  const damaged: PackId[] = [];
  const adopted: IndexedPack[] = [];
  const limit = pLimit(8);
  await Promise.all(
    unknown.map(([id, size]) =>
      limit(async () => {
        try {
          const p = await readPackEntries(repo, id as PackId, size);
          repo.index.addPack(p.pack, p.blobs, null);
          adopted.push(p);
        } catch (err) {
          if (isNotFound(err)) return; // swept meanwhile
          if (err instanceof CairnError && err.code === 'PACK_CORRUPT') {
            damaged.push(id as PackId);
            return;
          }
          throw err;
        }
      }),
    ),
  );
  await indexLeftoverPacks(repo);
  return { adopted: adopted.map((p) => p.pack.id), missing, damaged };
}

/**
 * Packs this cache recorded for a writer that was killed after storing them but before
 * an index file named them. Left as they are, a later writer on this host would
 * deduplicate against blobs that only this cache can find, and commit a snapshot or WAL
 * record that no other host (and no rebuilt cache) can restore. Those still in the store
 * get an index file now; the others leave the cache. Cheap when there are none: no
 * listing, one stat per leftover pack.
 */
export async function indexLeftoverPacks(repo: Repository): Promise<void> {
  const leftovers = repo.index.unindexedPacks();
  if (leftovers.length === 0) return;
  const present: PackId[] = [];
  for (const id of leftovers) {
    // Always asked of the store, never of an earlier listing: a process sharing this
    // cache (a prune repacking) records its packs right after uploading them.
    let there: boolean;
    try {
      there = (await repo.backend.stat(packName(id))).size === repo.index.getPack(id)?.size;
    } catch (err) {
      if (!isNotFound(err)) throw err;
      there = false;
    }
    if (there) present.push(id);
    else repo.index.removePack(id);
  }
  if (present.length === 0) return;
  const packs = present.map((id) => ({ pack: repo.index.getPack(id)!, blobs: repo.index.blobsInPack(id) }));
  const indexId = await repo.saveSealed('index', encodeIndexFile(packs));
  repo.index.markIndexed(present, indexId);
}
