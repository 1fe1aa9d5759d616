import { isNotFound } from '../backend/types.js';
import { CairnError } from '../core/errors/index.js';
import { isId, type PackId } from '../core/ids.js';
import type { PackRepairResult, Progress, RepairPacksResult } from '../engine/types.js';
import { sha256Hex } from '../crypto/sha256.js';
import { PACK_HEADER_SIZE, parsePackHeader, readWholePack } from '../format/pack-reader.js';
import { BlobSaver } from '../repository/blob-saver.js';
import { condemnedBy, listPacks, syncIndex } from '../repository/index-sync.js';
import { RepoLock } from '../repository/lock.js';
import { packName, type Repository } from '../repository/repository.js';
import { rewriteIndexWithout } from '../repository/rewrite-index.js';
import type { BlobLocation, PackRecord } from '../index/blob-index.js';

/**
 * `repair packs`: takes damaged packs out of the repository, keeping every blob of
 * them that still opens and hashes to its id. Each named pack is read again whole; one
 * that is sound now is left alone (the damage check saw may have been a read error).
 * For a damaged one:
 *  1. its good blobs are stored again in new packs, with their index file;
 *  2. the index is rewritten without the pack;
 *  3. the pack file is deleted.
 * A crash between steps leaves a repository that is consistent and where the same
 * command can run again: after 1, blobs exist twice; after 2, the pack is in data/
 * but in no index file, so the next backup indexes it again and this repairs it again.
 *
 * Leaving the cache, a damaged pack counts as a loss (BlobIndex), so the next backup of
 * each source looks its reused blobs up and stores again what is missing and still on
 * disk: that heals the snapshots that named the lost blobs.
 */
export async function repairPacks(
  repo: Repository,
  ids: readonly string[],
  opts: { dryRun?: boolean; onProgress?: (p: Progress) => void } = {},
): Promise<RepairPacksResult> {
  const lock = opts.dryRun ? null : await RepoLock.acquire(repo, 'maintenance');
  try {
    const wanted = await resolvePackIds(repo, ids);
    const condemned = condemnedBy(await syncIndex(repo));

    const packs: PackRepairResult[] = [];
    const damaged = new Set<PackId>();
    // One pack's plaintext in memory at a time: each damaged pack's good blobs go to
    // the saver (which writes packs as they fill) before the next pack is read.
    const saver = opts.dryRun ? null : new BlobSaver(repo);
    let done = 0;
    try {
      for (const id of wanted) {
        let bytes: Buffer;
        try {
          bytes = await repo.backend.load(packName(id));
        } catch (err) {
          if (!isNotFound(err)) throw err;
          throw packNotFound(id, `pack ${id} is not in the repository`); // removed since the listing
        }
        const r = examine(repo, id, bytes);
        packs.push(r.result);
        if (r.result.status === 'damaged') {
          damaged.add(id);
          if (saver) {
            // 1. Condemned for the saver only, so it does not take a blob as stored
            //    because the damaged pack holds it; a copy in a sound pack is enough.
            repo.index.setCondemned([...condemned, ...damaged]);
            for (const b of r.good) await saver.save(b.type, b.plain, b.id);
          }
        }
        opts.onProgress?.({ phase: 'repair', files: ++done, totalFiles: wanted.length, bytes: 0 });
      }
      await saver?.finish();
    } finally {
      // A damaged pack leaves the cache as a loss (not as a condemned pack), so the next
      // backup does not take its parent's blobs as stored.
      if (saver) repo.index.setCondemned(condemned);
    }
    const result: RepairPacksResult = {
      dryRun: !!opts.dryRun,
      packs,
      blobsSalvaged: packs.reduce((n, p) => n + p.salvaged, 0),
      blobsLost: packs.reduce((n, p) => n + p.lost.length, 0),
      packsRemoved: 0,
    };
    if (opts.dryRun || damaged.size === 0) return result;

    // 2. and 3.
    await rewriteIndexWithout(repo, damaged);
    for (const id of damaged) {
      await repo.backend.remove(packName(id));
      repo.index.removePack(id);
      result.packsRemoved++;
    }
    return result;
  } finally {
    await lock?.release().catch(() => undefined);
  }
}

/**
 * Full ids, or unique prefixes of at least 8 hex digits, resolved against the packs in
 * data/ before any is read (a mistyped second id must not stop the repair halfway).
 * USAGE for anything else or an ambiguous prefix, PACK_NOT_FOUND for one that matches
 * nothing.
 */
async function resolvePackIds(repo: Repository, ids: readonly string[]): Promise<PackId[]> {
  for (const id of ids) {
    if (!/^[0-9a-f]{8,64}$/.test(id)) {
      throw new CairnError('USAGE', `not a pack id or id prefix: ${JSON.stringify(id)}`, {
        hint: "give the ids that 'cairn check --read-data' lists under \"damaged packs\" (or their first 8 or more characters)",
      });
    }
  }
  const listed = [...(await listPacks(repo)).keys()];
  const out = new Set<PackId>();
  for (const id of ids) {
    const matches = isId(id) ? listed.filter((p) => p === id) : listed.filter((p) => p.startsWith(id));
    if (matches.length === 0) throw packNotFound(id, isId(id) ? `pack ${id} is not in the repository` : `no pack id starts with ${id}`);
    if (matches.length > 1) throw new CairnError('USAGE', `pack id prefix ${id} matches ${matches.length} packs: give more of it`);
    out.add(matches[0]!);
  }
  return [...out];
}

function packNotFound(id: string, message: string): CairnError {
  return new CairnError('PACK_NOT_FOUND', message, {
    hint: "'cairn check' lists the packs the index names that are missing; 'cairn repair index' drops them from the index",
    details: { pack: id },
  });
}

/**
 * Which blobs of one pack still open. The blob list comes from the index when it knows
 * the pack (written while the pack was sound), else from the pack's own trailer.
 */
function examine(
  repo: Repository,
  id: PackId,
  bytes: Buffer,
): { result: PackRepairResult; good: { type: BlobLocation['type']; id: BlobLocation['id']; plain: Buffer }[] } {
  let record: PackRecord | undefined = repo.index.getPack(id);
  const indexed = record !== undefined;
  let entries: BlobLocation[] = indexed ? repo.index.blobsInPack(id) : [];
  let structure: string | null = null;
  const hash = sha256Hex(bytes);
  try {
    const parsed = readWholePack(bytes, repo.keyFor);
    if (!record) {
      const { encKeyId, salt } = parsePackHeader(bytes.subarray(0, PACK_HEADER_SIZE));
      record = { id, size: bytes.length, encKeyId, salt };
      entries = parsed.entries.map((e) => ({ ...e, pack: id }));
    }
  } catch (err) {
    if (!(err instanceof CairnError)) throw err;
    structure = err.message;
  }
  const good: { type: BlobLocation['type']; id: BlobLocation['id']; plain: Buffer }[] = [];
  const lost: PackRepairResult['lost'] = [];
  if (record) {
    for (const e of entries) {
      try {
        const end = e.offset + e.length;
        if (end > bytes.length) throw new CairnError('PACK_CORRUPT', `blob ${e.id.slice(0, 8)} lies past the end of the pack`);
        good.push({ type: e.type, id: e.id, plain: repo.openBlobAt(e, record, bytes.subarray(e.offset, end)) });
      } catch (err) {
        if (!(err instanceof CairnError)) throw err;
        lost.push({ type: e.type, id: e.id });
      }
    }
  }
  const intact = hash === id && structure === null && lost.length === 0 && record !== undefined;
  return {
    result: {
      id,
      status: intact ? 'intact' : 'damaged',
      blobs: entries.length,
      salvaged: intact ? 0 : good.length,
      lost,
      ...(hash !== id ? { hashMismatch: true } : {}),
      ...(structure !== null ? { structure } : {}),
      indexed,
    },
    good: intact ? [] : good,
  };
}
