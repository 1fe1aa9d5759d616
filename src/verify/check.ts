import { isNotFound } from '../backend/types.js';
import { CairnError } from '../core/errors/index.js';
import { isId, type BlobId, type PackId } from '../core/ids.js';
import { verifyPack } from '../format/pack-reader.js';
import { syncIndex } from '../repository/index-sync.js';
import { packName, type Repository } from '../repository/repository.js';
import type { CheckOptions, CheckProblem, CheckResult } from '../engine/types.js';
import { walkTree } from './tree-walk.js';
import pLimit from 'p-limit';
import { startPool } from '../pipeline/start-pool.js';
import { selectSubset } from './subset.js';

/**
 * `check`: structure always (every index file opens, every indexed pack exists with
 * its size, every snapshot opens, every tree decodes, every referenced blob is
 * indexed); with readData also content (every selected pack hashes to its name and
 * every blob authenticates and hashes to its id). Damage is reported with the
 * snapshots and paths it affects; check itself never throws for damage.
 */
export async function runCheck(repo: Repository, opts: CheckOptions = {}): Promise<CheckResult> {
  const problems: CheckProblem[] = [];
  try {
    await syncIndex(repo);
  } catch (err) {
    if (!(err instanceof CairnError) || err.code === 'WRONG_PASSWORD') throw err;
    problems.push({ kind: 'index', id: '', message: err.message });
  }

  const listed = new Map<string, number>();
  for await (const f of repo.backend.list('data/')) {
    const id = f.name.slice(f.name.lastIndexOf('/') + 1);
    if (isId(id)) listed.set(id, f.size);
  }
  // Packs a killed backup left in this cache but no index file names, since swept by a
  // prune elsewhere: stale cache, not damage.
  for (const id of repo.index.unindexedPacks()) if (!listed.has(id)) repo.index.removePack(id);
  const indexedPacks: { id: PackId; size: number }[] = [];
  for (const p of repo.index.iteratePacks()) {
    indexedPacks.push({ id: p.id, size: p.size });
    const size = listed.get(p.id);
    if (size === undefined) problems.push({ kind: 'pack', id: p.id, message: `pack ${p.id.slice(0, 8)} is in the index but missing from the repository` });
    else if (size !== p.size) problems.push({ kind: 'pack', id: p.id, message: `pack ${p.id.slice(0, 8)} is ${size} bytes, the index says ${p.size}` });
  }

  // Content, on the workers, while the main thread checks the structure below.
  const damaged: string[] = [];
  const contentProblems: CheckProblem[] = [];
  let bytesRead = 0;
  let packsChecked = 0;
  const content = async (): Promise<void> => {
    if (!opts.readData) return;
    const selected = selectSubset(
      indexedPacks.filter((p) => listed.has(p.id)),
      opts.readDataSubset,
      repo.deps.random,
    );
    const total = selected.reduce((n, p) => n + p.size, 0);
    // Packs are read a few at a time and verified on worker threads (hash, structure,
    // every blob's authentication and id); memory is bounded by the packs in flight.
    const pool = startPool(repo);
    const limit = pLimit(Math.max(2, (pool?.size ?? 1) + 1));
    try {
      await Promise.all(
        selected.map((p) =>
          limit(async () => {
            let bytes: Buffer;
            try {
              bytes = await repo.backend.load(packName(p.id));
            } catch (err) {
              if (isNotFound(err)) return; // reported above
              throw err;
            }
            const size = bytes.length;
            const found = pool ? await pool.verify(p.id, bytes) : verifyPack(bytes, p.id, repo.keyFor, repo.hasher);
            bytesRead += size;
            packsChecked++;
            if (found.length > 0) {
              damaged.push(p.id);
              for (const f of found) contentProblems.push({ kind: 'pack', id: p.id, message: `pack ${p.id.slice(0, 8)}: ${f.message}` });
            }
            opts.onProgress?.({ phase: 'check', files: packsChecked, totalFiles: selected.length, bytes: bytesRead, totalBytes: total });
          }),
        ),
      );
    } finally {
      await pool?.close();
    }
  };
  const contentDone = content();
  contentDone.catch(() => undefined); // awaited after the structure check

  // Structure: snapshots and trees.
  const seenTrees = new Set<string>();
  let snapshots: Awaited<ReturnType<Repository['listSnapshots']>> = [];
  try {
    snapshots = await repo.listSnapshots();
  } catch (err) {
    if (!(err instanceof CairnError)) throw err;
    problems.push({ kind: 'snapshot', id: '', message: err.message });
  }
  for (const s of snapshots) {
    const missing = async (type: 'tree' | 'data', id: BlobId, path: string) => {
      if (!repo.index.findForRead(type, id)) problems.push({ kind: 'blob', id, message: `${type} blob ${id.slice(0, 8)} of ${path} (snapshot ${s.id.slice(0, 8)}) is in no pack` });
    };
    if (!repo.index.findForRead('tree', s.body.tree)) {
      problems.push({ kind: 'snapshot', id: s.id, message: `root tree of snapshot ${s.id.slice(0, 8)} is in no pack` });
      continue;
    }
    if (seenTrees.has(s.body.tree)) continue;
    seenTrees.add(s.body.tree);
    try {
      await walkTree(
        repo,
        s.body.tree,
        async ({ path, node }) => {
          if (node.type === 'file') for (const id of node.content ?? []) await missing('data', id, path);
          if (node.type === 'dir' && node.subtree) await missing('tree', node.subtree, path);
        },
        {
          skipTree: (id) => {
            if (seenTrees.has(id) || !repo.index.findForRead('tree', id)) return true;
            seenTrees.add(id);
            return false;
          },
        },
      );
    } catch (err) {
      if (!(err instanceof CairnError)) throw err;
      problems.push({ kind: 'tree', id: s.id, message: `snapshot ${s.id.slice(0, 8)}: ${err.message}` });
    }
  }

  await contentDone;
  problems.push(...contentProblems);
  for (const p of problems) if (p.kind === 'pack' && p.message.includes('missing from') && !damaged.includes(p.id)) damaged.push(p.id);

  const affected = damaged.length > 0 ? await affectedPaths(repo, new Set(damaged), snapshots) : [];
  return { ok: problems.length === 0, packsChecked, bytesRead, problems, damagedPacks: damaged, affected };
}

/** For each snapshot, the paths whose data or directory listing lives in a damaged pack. */
async function affectedPaths(
  repo: Repository,
  damaged: Set<string>,
  snapshots: { id: string; body: { tree: BlobId } }[],
): Promise<{ snapshot: string; paths: string[] }[]> {
  const inDamaged = (type: 'data' | 'tree', id: BlobId) => {
    const loc = repo.index.findForRead(type, id);
    return !loc || damaged.has(loc.pack);
  };
  const out: { snapshot: string; paths: string[] }[] = [];
  for (const s of snapshots) {
    const paths: string[] = [];
    if (inDamaged('tree', s.body.tree)) {
      out.push({ snapshot: s.id, paths: ['/'] });
      continue;
    }
    try {
      await walkTree(
        repo,
        s.body.tree,
        ({ path, node }) => {
          if (node.type === 'file' && (node.content ?? []).some((id) => inDamaged('data', id))) paths.push(path);
          if (node.type === 'dir' && node.subtree && inDamaged('tree', node.subtree)) paths.push(path + '/');
        },
        { skipTree: (id) => inDamaged('tree', id) },
      );
    } catch {
      paths.push('(tree unreadable)');
    }
    if (paths.length > 0) out.push({ snapshot: s.id, paths });
  }
  return out;
}
