import type { BlobId, SnapshotId } from '../core/ids.js';
import type { Progress, RewriteSnapshotsResult, SnapshotFilter, SnapshotRewrite } from '../engine/types.js';
import type { ExcludeFn } from '../fs/exclude-matcher.js';
import { BlobSaver } from '../repository/blob-saver.js';
import { syncIndex } from '../repository/index-sync.js';
import { RepoLock } from '../repository/lock.js';
import type { Repository } from '../repository/repository.js';
import { filterSnapshots, resolveSnapshotRef } from '../snapshot/select.js';
import { snapshotInfo, type SnapshotBody } from '../snapshot/snapshot.js';
import { displayName, encodeTreeFromNodes, nodeNameBytes, type TreeNode } from '../snapshot/tree.js';

/** The tag every rewritten snapshot gets, so `snapshots --tag rewritten` finds them. */
export const REWRITTEN_TAG = 'rewritten';

interface Rewritten {
  id: BlobId;
  changed: boolean;
  /** Paths (inside the snapshot) of the entries left out: the matching ones, not what was below them. */
  removed: string[];
}

/**
 * `rewrite`: stores new snapshots without the entries that exclude patterns match (a
 * secret or a huge file backed up by mistake), as restic's `rewrite --exclude` does.
 * Patterns are backup's, matched against the paths inside the snapshot; a matching
 * directory goes with everything below it. Each new snapshot keeps the original's
 * time, host, paths, source and tags, plus the tag "rewritten"; its summary, which
 * counted the left-out files, is dropped. With `forget` the original is removed once
 * its rewrite is stored. The left-out data stays in its packs until prune (with
 * maxUnused 0 for packs that also hold live data) takes it out.
 *
 * Order, for crash safety, as repair snapshots: the new trees' packs and index file,
 * then each new snapshot, then (forget) its original; a re-run takes a stored rewrite
 * (same tree, time, host, paths and source, tagged "rewritten") instead of storing a
 * second one.
 */
export async function rewriteSnapshots(
  repo: Repository,
  refs: readonly string[],
  filter: SnapshotFilter | undefined,
  exclude: ExcludeFn,
  opts: { forget?: boolean; dryRun?: boolean; onProgress?: (p: Progress) => void } = {},
): Promise<RewriteSnapshotsResult> {
  const lock = opts.dryRun ? null : await RepoLock.acquire(repo, 'writer');
  try {
    await syncIndex(repo);
    const all = await repo.listSnapshots();
    const candidates = filterSnapshots(
      all.map((s) => snapshotInfo(s.id, s.body)),
      filter,
    );
    const chosen = new Set(refs.length > 0 ? refs.map((ref) => resolveSnapshotRef(candidates, ref).id) : candidates.map((s) => s.id));
    const wanted = all.filter((s) => chosen.has(s.id));
    const saver = opts.dryRun ? null : new BlobSaver(repo);
    const memo = new Map<string, Promise<Rewritten>>();
    const rewrites: { id: SnapshotId; body: SnapshotBody; report: SnapshotRewrite; tree: BlobId }[] = [];
    let done = 0;
    try {
      for (const s of wanted) {
        const root = await rewriteTree(repo, saver, memo, exclude, s.body.tree, EMPTY, '');
        if (root.changed) rewrites.push({ id: s.id, body: s.body, tree: root.id, report: { snapshot: s.id, removed: root.removed, rewrittenAs: null } });
        opts.onProgress?.({ phase: 'rewrite', files: ++done, totalFiles: wanted.length, bytes: 0 });
      }
      await saver?.finish();
    } catch (err) {
      await saver?.abandon();
      throw err;
    }

    const sameAs = (b: SnapshotBody) => JSON.stringify([b.tree, b.time, b.host, b.paths, b.source]);
    const stored = new Map(all.filter((s) => s.body.tags.includes(REWRITTEN_TAG)).map((s) => [sameAs(s.body), s.id]));
    for (const r of rewrites) {
      if (opts.dryRun) continue;
      const { summary: _stale, ...rest } = r.body;
      const tags = r.body.tags.includes(REWRITTEN_TAG) ? r.body.tags : [...r.body.tags, REWRITTEN_TAG];
      const body: SnapshotBody = { ...rest, tree: r.tree, tags };
      r.report.rewrittenAs = stored.get(sameAs(body)) ?? (await repo.saveSnapshot(body));
      if (opts.forget) {
        await repo.removeSnapshot(r.id);
        r.report.forgotten = true;
      }
    }
    return { dryRun: !!opts.dryRun, checked: wanted.length, rewritten: rewrites.map((r) => r.report) };
  } finally {
    await lock?.release().catch(() => undefined);
  }
}

/**
 * A tree without what `exclude` matches below `dir` (the raw path of this directory
 * inside the snapshot, '' for the root). Memoized per tree and place: anchored patterns
 * make the same tree differ by where it is.
 */
function rewriteTree(
  repo: Repository,
  saver: BlobSaver | null,
  memo: Map<string, Promise<Rewritten>>,
  exclude: ExcludeFn,
  id: BlobId,
  dir: Buffer,
  shown: string,
): Promise<Rewritten> {
  const key = `${id}\0${dir.toString('latin1')}`;
  let p = memo.get(key);
  if (!p) {
    p = rebuild(repo, saver, memo, exclude, id, dir, shown);
    memo.set(key, p);
  }
  return p;
}

async function rebuild(
  repo: Repository,
  saver: BlobSaver | null,
  memo: Map<string, Promise<Rewritten>>,
  exclude: ExcludeFn,
  id: BlobId,
  dir: Buffer,
  shown: string,
): Promise<Rewritten> {
  const tree = await repo.loadTree(id);
  const out: Rewritten = { id, changed: false, removed: [] };
  const nodes: string[] = [];
  for (const node of tree.nodes) {
    const path = Buffer.concat([dir, SLASH, nodeNameBytes(node)]);
    const here = `${shown}/${displayName(node)}`;
    if (exclude(path, node.type === 'dir')) {
      out.removed.push(here);
      out.changed = true;
      continue;
    }
    if (node.type === 'dir' && node.subtree) {
      const sub = await rewriteTree(repo, saver, memo, exclude, node.subtree, path, here);
      if (sub.changed) {
        out.changed = true;
        out.removed.push(...sub.removed);
        nodes.push(JSON.stringify({ ...node, subtree: sub.id } satisfies TreeNode));
        continue;
      }
    }
    nodes.push(JSON.stringify(node));
  }
  if (out.changed) {
    const bytes = encodeTreeFromNodes(nodes);
    out.id = repo.hasher.id(bytes);
    if (saver) await saver.save('tree', bytes, out.id);
  }
  return out;
}

const SLASH = Buffer.from('/');
const EMPTY = Buffer.alloc(0);
