import { isNotFound } from '../backend/types.js';
import { CairnError } from '../core/errors/index.js';
import type { BlobId, PackId } from '../core/ids.js';
import { verifyPack } from '../format/pack-reader.js';
import { listPacks, syncIndex } from '../repository/index-sync.js';
import { packName, type Repository } from '../repository/repository.js';
import type { CheckOptions, CheckProblem, CheckResult } from '../engine/types.js';
import { walkTree } from './tree-walk.js';
import { displayName, type TreeNode } from '../snapshot/tree.js';
import pLimit from 'p-limit';
import { startPool } from '../pipeline/start-pool.js';
import type { WorkerPool } from '../pipeline/worker-pool.js';
import { selectSubset } from './subset.js';
import { alignedSharedBuffer } from '../util/aligned-buffer.js';
import { bestWalSegments, parseWalRecordBody, type WalRecordBody } from '../snapshot/wal-record.js';

/** Packs up to this size are read into reused shared buffers; bigger ones (another pack size setting) into their own. */
const MAX_SLOT = 128 * 2 ** 20;

/**
 * `check`: structure always (every index file opens, every indexed pack exists with
 * its size, every snapshot opens, every tree decodes, every referenced blob is
 * indexed, every WAL record opens and every blob it names is indexed with the sizes
 * adding up to the segment's); with readData also content (every selected pack hashes
 * to its name and every blob authenticates and hashes to its id). Damage is reported
 * with the snapshots and paths, and the WAL segments, it affects; check itself never
 * throws for damage.
 */
export async function runCheck(repo: Repository, opts: CheckOptions = {}): Promise<CheckResult> {
  // Workers load their modules while the index syncs and the packs are listed.
  const pool = opts.readData ? startPool(repo) : null;
  try {
    return await check(repo, opts, pool);
  } finally {
    await pool?.close();
  }
}

async function check(repo: Repository, opts: CheckOptions, pool: WorkerPool | null): Promise<CheckResult> {
  const problems: CheckProblem[] = [];
  const warmed = repo.index.warm();
  try {
    await syncIndex(repo);
  } catch (err) {
    if (!(err instanceof CairnError) || err.code === 'WRONG_PASSWORD') throw err;
    problems.push({ kind: 'index', id: '', message: err.message });
  }

  // The content check starts from the index's packs while the repository's packs are
  // listed (one directory per id prefix, or a paged object listing): a pack the listing
  // misses fails its load and is reported from the listing below.
  // The cache's packs are taken before the listing starts: a backup sharing this cache
  // may add a pack it stored after the listing went past it, and that one is not stale.
  const unindexedBefore = repo.index.unindexedPacks();
  const listing = listPacks(repo);
  listing.catch(() => undefined); // awaited below, once the content check is under way
  const indexedPacks: { id: PackId; size: number }[] = [];
  for (const p of repo.index.iteratePacks()) indexedPacks.push({ id: p.id, size: p.size });

  // Content, on the workers, while the main thread checks the structure below.
  const damaged: string[] = [];
  const contentProblems: CheckProblem[] = [];
  let bytesRead = 0;
  let packsChecked = 0;
  const content = async (): Promise<void> => {
    if (!opts.readData) return;
    const selected = selectSubset(indexedPacks, opts.readDataSubset, repo.deps.random);
    const total = selected.reduce((n, p) => n + p.size, 0);
    // Packs are read a few at a time and verified on worker threads (hash, structure,
    // every blob's authentication and id). Each pack in flight is read into one of a
    // fixed set of shared buffers that the workers verify in place: memory is those
    // buffers, whatever the repository's size. (A new Buffer per pack, transferred to a
    // worker, stayed resident until that worker's next GC: ~100 MB more at the peak.)
    const inFlight = Math.max(2, (pool?.size ?? 1) + 1);
    const limit = pLimit(inFlight);
    const largest = selected.reduce((n, p) => Math.max(n, p.size), 0);
    // Aligned in memory, so a local repository reads packs into them with O_DIRECT.
    const free: Buffer[] = largest <= MAX_SLOT ? Array.from({ length: inFlight }, () => alignedSharedBuffer(largest)) : [];
    await Promise.all(
      selected.map((p) =>
        limit(async () => {
          const slot = free.pop();
          try {
            await checkOne(p, slot);
          } finally {
            if (slot) free.push(slot);
          }
        }),
      ),
    );
    async function checkOne(p: { id: PackId; size: number }, slot: Buffer | undefined): Promise<void> {
      let bytes: Buffer;
      try {
        bytes = await repo.backend.load(packName(p.id), undefined, slot);
      } catch (err) {
        if (isNotFound(err)) return; // reported from the listing
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
    }
  };
  const contentDone = content();
  contentDone.catch(() => undefined); // awaited after the structure check

  const listed = await listing;
  // Packs a killed backup left in this cache but no index file names, since swept by a
  // prune elsewhere: stale cache, not damage.
  const stale = new Set<string>();
  for (const id of unindexedBefore) {
    if (listed.has(id)) continue;
    repo.index.removePack(id);
    stale.add(id);
  }
  for (const p of indexedPacks) {
    if (stale.has(p.id)) continue;
    const size = listed.get(p.id);
    if (size === undefined) problems.push({ kind: 'pack', id: p.id, message: `pack ${p.id.slice(0, 8)} is in the index but missing from the repository` });
    else if (size !== p.size) problems.push({ kind: 'pack', id: p.id, message: `pack ${p.id.slice(0, 8)} is ${size} bytes, the index says ${p.size}` });
  }

  // Structure: snapshots and trees.
  await warmed;
  const seenTrees = new Set<string>();
  let snapshots: Awaited<ReturnType<Repository['listSnapshots']>> = [];
  try {
    snapshots = await repo.listSnapshots();
  } catch (err) {
    if (!(err instanceof CairnError)) throw err;
    problems.push({ kind: 'snapshot', id: '', message: err.message });
  }
  for (const s of snapshots) {
    if (!repo.index.findForRead('tree', s.body.tree)) {
      problems.push({ kind: 'snapshot', id: s.id, message: `root tree of snapshot ${s.id.slice(0, 8)} is in no pack` });
      continue;
    }
    if (seenTrees.has(s.body.tree)) continue;
    seenTrees.add(s.body.tree);
    try {
      await checkTreeBlobs(repo, s.body.tree, s.id, seenTrees, problems);
    } catch (err) {
      if (!(err instanceof CairnError)) throw err;
      problems.push({ kind: 'tree', id: s.id, message: `snapshot ${s.id.slice(0, 8)}: ${err.message}` });
    }
  }

  // Structure: WAL catalog records (database sources' continuous log).
  const walRecords = await checkWalRecords(repo, problems, !!opts.readData);

  await contentDone;
  problems.push(...contentProblems);
  for (const p of problems) if (p.kind === 'pack' && p.message.includes('missing from') && !damaged.includes(p.id)) damaged.push(p.id);

  // A blob in no pack is reported once, under the first snapshot that names it (trees
  // are walked once): after `repair index` dropped a lost pack that is the only sign of
  // it, so every snapshot and path it affects is listed as for a damaged pack.
  const unindexed = problems.some((p) => p.kind === 'blob' || p.kind === 'snapshot');
  const affected = damaged.length > 0 || unindexed ? await affectedPaths(repo, new Set(damaged), snapshots) : [];
  const affectedWal = affectedWalSegments(repo, new Set(damaged), walRecords);
  // In data/ but named by no index file: the cache knows them only from a killed backup
  // of this host (unindexedBefore), or not at all.
  const named = new Set(indexedPacks.map((p) => p.id as string));
  for (const id of unindexedBefore) named.delete(id);
  const unindexedPacks = [...listed.keys()].filter((id) => !named.has(id)).sort();
  return { ok: problems.length === 0, packsChecked, bytesRead, problems, damagedPacks: damaged, affected, affectedWal, unindexedPacks };
}

/** Data ids asked about per index query: per-call set-up made a query per tree ~2× dearer per id. */
const ID_BATCH = 2048;

/**
 * Every blob a tree and its subtrees (not yet in `seenTrees`) name is indexed, in tree
 * order. Ids are asked about in batches across trees (subtrees first, then data blobs),
 * and the event loop gets a turn between trees: this runs while the content check reads
 * packs on the same thread, and a lookup per blob (~100k on a 1.6 GB tree) held the
 * loop long enough to starve the workers. Subtrees are asked about too even though they
 * load: a tree may load from a tree pack kept in memory without the index naming it.
 */
async function checkTreeBlobs(repo: Repository, root: BlobId, snapshot: string, seenTrees: Set<string>, problems: CheckProblem[]): Promise<void> {
  const report = (type: 'tree' | 'data', id: BlobId, path: string) =>
    problems.push({ kind: 'blob', id, message: `${type} blob ${id.slice(0, 8)} of ${path} (snapshot ${snapshot.slice(0, 8)}) is in no pack` });
  const pending: { id: BlobId; base: string; node: TreeNode }[] = [];
  const pendingTrees: { id: BlobId; path: string }[] = [];
  const flush = () => {
    const missingTrees = new Set(repo.index.unindexed('tree', pendingTrees.map((t) => t.id)));
    for (const t of pendingTrees) {
      if (!missingTrees.has(t.id)) continue;
      report('tree', t.id, t.path);
      seenTrees.delete(t.id); // another snapshot that names it reports it too
    }
    const missing = new Set(repo.index.unindexed('data', pending.map((p) => p.id)));
    if (missing.size > 0) for (const p of pending) if (missing.has(p.id)) report('data', p.id, `${p.base}/${displayName(p.node)}`);
    pending.length = 0;
    pendingTrees.length = 0;
  };
  const visit = async (treeId: BlobId, base: string): Promise<void> => {
    const tree = await repo.loadTree(treeId);
    await new Promise<void>((resolve) => setImmediate(resolve));
    for (const node of tree.nodes) if (node.type === 'file') for (const id of node.content ?? []) pending.push({ id, base, node });
    if (pending.length + pendingTrees.length >= ID_BATCH) flush();
    for (const node of tree.nodes) {
      if (node.type !== 'dir' || !node.subtree || seenTrees.has(node.subtree)) continue;
      const path = `${base}/${displayName(node)}`;
      seenTrees.add(node.subtree);
      pendingTrees.push({ id: node.subtree, path });
      try {
        await visit(node.subtree, path);
      } catch (err) {
        // Not indexed: its batch reports it. Anything else (its pack missing or
        // damaged) ends this snapshot's walk, as for the root.
        if (repo.index.findForRead('tree', node.subtree)) throw err;
      }
    }
  };
  try {
    await visit(root, '');
  } finally {
    // What was queued before a tree failed to load is still checked.
    flush();
  }
}

/**
 * Every WAL record opens (decrypts, authenticates, parses: always when reading data,
 * else unless its body is in the local cache, as for snapshots), and every data blob
 * its segments name is indexed, with raw sizes adding up to the segment's size. One
 * problem per damaged segment version, not per blob. Returns the records that opened.
 */
async function checkWalRecords(repo: Repository, problems: CheckProblem[], reopen: boolean): Promise<{ id: string; body: WalRecordBody }[]> {
  let ids: string[];
  try {
    ids = await repo.listIds('wal');
  } catch (err) {
    if (!(err instanceof CairnError)) throw err;
    problems.push({ kind: 'wal', id: '', message: `cannot list WAL records: ${err.message}` });
    return [];
  }
  const limit = pLimit(8);
  const opened = await Promise.all(
    ids.map((id) =>
      limit(async () => {
        const cached = reopen ? undefined : repo.index.getMeta(`wal:${id}`);
        if (cached) return { id, body: JSON.parse(cached) as WalRecordBody };
        try {
          const body = parseWalRecordBody(await repo.loadSealed('wal', id), id);
          repo.index.setMeta(`wal:${id}`, JSON.stringify(body));
          return { id, body };
        } catch (err) {
          if (isNotFound(err)) return null; // removed by a concurrent forget
          if (!(err instanceof CairnError)) throw err;
          problems.push({ kind: 'wal', id, message: `WAL record ${id.slice(0, 8)} does not open: ${err.message}` });
          return null;
        }
      }),
    ),
  );
  const records = opened
    .filter((r): r is { id: string; body: WalRecordBody } => r !== null)
    .sort((a, b) => a.body.created.localeCompare(b.body.created) || a.id.localeCompare(b.id));
  for (const r of records) {
    for (const s of r.body.segments) {
      const what = `WAL segment ${s.name}${s.partial ? ' (partial)' : ''} of source ${r.body.source.name} (record ${r.id.slice(0, 8)})`;
      let missing = 0;
      let raw = 0;
      for (const id of s.content) {
        const loc = repo.index.findForRead('data', id);
        if (!loc) missing++;
        else raw += loc.rawLength;
      }
      if (missing > 0) problems.push({ kind: 'wal', id: r.id, message: `${what}: ${missing} of its ${s.content.length} data blobs are in no pack` });
      else if (raw !== s.size) problems.push({ kind: 'wal', id: r.id, message: `${what}: its blobs hold ${raw} bytes, the record says ${s.size}` });
    }
  }
  return records;
}

/** Per source, the segments whose best stored version (the one restores use) has data in no pack or a damaged one. */
function affectedWalSegments(repo: Repository, damaged: Set<string>, records: { id: string; body: WalRecordBody }[]): { source: string; segments: string[] }[] {
  const bySource = new Map<string, string[]>();
  for (const { source, segment } of bestWalSegments(records).values()) {
    const hit = segment.content.some((id) => {
      const loc = repo.index.findForRead('data', id);
      return !loc || damaged.has(loc.pack);
    });
    if (!hit) continue;
    let list = bySource.get(source);
    if (!list) bySource.set(source, (list = []));
    list.push(segment.partial ? `${segment.name} (partial)` : segment.name);
  }
  return [...bySource.entries()].sort(([a], [b]) => a.localeCompare(b)).map(([source, segments]) => ({ source, segments: segments.sort() }));
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
