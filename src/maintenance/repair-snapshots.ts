import { isDamage } from '../core/errors/index.js';
import type { BlobId, SnapshotId } from '../core/ids.js';
import type { Progress, RepairSnapshotsResult, SnapshotRepair, WalRecordRepair } from '../engine/types.js';
import { BlobSaver } from '../repository/blob-saver.js';
import { syncIndex } from '../repository/index-sync.js';
import { RepoLock } from '../repository/lock.js';
import type { Repository } from '../repository/repository.js';
import { snapshotInfo, type SnapshotBody } from '../snapshot/snapshot.js';
import { resolveSnapshotRef } from '../snapshot/select.js';
import { displayName, encodeTreeFromNodes, type TreeNode } from '../snapshot/tree.js';
import type { WalRecordBody } from '../snapshot/wal-record.js';

/** The tag every repaired snapshot gets, so `snapshots --tag repaired` finds them. */
export const REPAIRED_TAG = 'repaired';

/** A tree after repair: its id (new when anything under it changed) and what went, relative to it. */
interface Repaired {
  id: BlobId;
  changed: boolean;
  removedFiles: string[];
  emptiedDirs: string[];
}

/**
 * `repair snapshots`: for snapshots that name data the repository no longer has (after
 * `repair packs` or `repair index` took a damaged or lost pack out of the index), writes
 * new snapshots without it, as restic's command does:
 *  - a file whose content names a blob in no pack is left out of the new snapshot
 *    (restic keeps what remains of it; a file here restores whole or not at all);
 *  - a directory whose listing cannot be read becomes an empty directory.
 * Each new snapshot keeps the original's time, host, paths and tags, plus the tag
 * "repaired". With `forget`, the original is removed once its repaired snapshot is
 * stored. A snapshot whose root listing cannot be read cannot be repaired; it is named.
 *
 * Order, for crash safety: the new trees' packs and index file first (BlobSaver.finish),
 * then each new snapshot file, then (forget) the original's. Killed before a snapshot
 * file, only unreferenced trees were added (prune removes them); after, the original
 * and its repaired copy both exist, and the next run takes that copy instead of
 * storing another.
 *
 * Without named snapshots, WAL catalog records (the continuous logs of database
 * sources) are repaired the same way: a record naming an entry (a WAL segment, a binlog
 * file, a batch of frames) whose data is lost is written again without that entry, in
 * the same order as snapshots (the new record, then with `forget` the original). A log
 * entry restores whole or not at all; point-in-time recovery then shows a gap there.
 *
 * Relies on the index: blobs still indexed but damaged in their pack are not seen
 * (`check --read-data`, then `repair packs`, take them out first).
 */
export async function repairSnapshots(
  repo: Repository,
  refs: readonly string[],
  opts: { forget?: boolean; dryRun?: boolean; onProgress?: (p: Progress) => void } = {},
): Promise<RepairSnapshotsResult> {
  // A writer, as a backup is: it adds trees and snapshots (a prune meanwhile keeps what
  // writers may still name). Removing originals needs no more than forget takes.
  const lock = opts.dryRun ? null : await RepoLock.acquire(repo, 'writer');
  try {
    await syncIndex(repo);
    const all = await repo.listSnapshots();
    // Ids or prefixes, as for forget; none: every snapshot.
    const infos = all.map((s) => snapshotInfo(s.id, s.body));
    const selected = new Set(refs.map((ref) => resolveSnapshotRef(infos, ref).id));
    const wanted = refs.length > 0 ? all.filter((s) => selected.has(s.id)) : all;
    const saver = opts.dryRun ? null : new BlobSaver(repo);
    const memo = new Map<BlobId, Promise<Repaired>>();
    const repairs: { id: SnapshotId; body: SnapshotBody; report: SnapshotRepair; tree: BlobId }[] = [];
    const unrepairable: SnapshotRepair[] = [];
    let done = 0;

    for (const s of wanted) {
      const report: SnapshotRepair = { snapshot: s.id, removedFiles: [], emptiedDirs: [], repairedAs: null };
      try {
        const root = await repairTree(repo, saver, memo, s.body.tree);
        report.removedFiles = root.removedFiles;
        report.emptiedDirs = root.emptiedDirs;
        if (root.changed) repairs.push({ id: s.id, body: s.body, report, tree: root.id });
      } catch (err) {
        // Only the root listing reaches here: below it, damage empties the directory.
        if (!isDamage(err)) throw err;
        unrepairable.push({ ...report, error: `its root listing cannot be read (${err.code}): nothing of it can be restored; forget it` });
      }
      opts.onProgress?.({ phase: 'repair', files: ++done, totalFiles: wanted.length, bytes: 0 });
    }
    await saver?.finish();

    // A run killed after storing a repaired snapshot but before forgetting its original
    // repairs that original again: the copy it stored then is taken, not stored twice.
    const sameAs = (b: SnapshotBody) => JSON.stringify([b.tree, b.time, b.host, b.paths, b.source]);
    const stored = new Map(all.filter((s) => s.body.tags.includes(REPAIRED_TAG)).map((s) => [sameAs(s.body), s.id]));
    for (const r of repairs) {
      if (opts.dryRun) continue;
      const tags = r.body.tags.includes(REPAIRED_TAG) ? r.body.tags : [...r.body.tags, REPAIRED_TAG];
      const body = { ...r.body, tree: r.tree, tags };
      r.report.repairedAs = stored.get(sameAs(body)) ?? (await repo.saveSnapshot(body));
      if (opts.forget) {
        await repo.removeSnapshot(r.id);
        r.report.forgotten = true;
      }
    }
    const records = refs.length > 0 ? [] : await repo.listWalRecords();
    const walRepaired = await repairWalRecords(repo, records, opts);
    return {
      dryRun: !!opts.dryRun,
      checked: wanted.length,
      repaired: repairs.map((r) => r.report),
      unrepairable,
      walChecked: records.length,
      walRepaired,
    };
  } finally {
    await lock?.release().catch(() => undefined);
  }
}

/** A tree without what the index lacks; memoized per tree id (snapshots share most trees). */
function repairTree(repo: Repository, saver: BlobSaver | null, memo: Map<BlobId, Promise<Repaired>>, id: BlobId): Promise<Repaired> {
  let p = memo.get(id);
  if (!p) {
    p = rebuild(repo, saver, memo, id);
    memo.set(id, p);
  }
  return p;
}

async function rebuild(repo: Repository, saver: BlobSaver | null, memo: Map<BlobId, Promise<Repaired>>, id: BlobId): Promise<Repaired> {
  const tree = await repo.loadTree(id);
  const out: Repaired = { id, changed: false, removedFiles: [], emptiedDirs: [] };
  const nodes: string[] = [];
  for (const node of tree.nodes) {
    const here = `/${displayName(node)}`;
    if (node.type === 'file' && (node.content ?? []).some((b) => !repo.index.findForRead('data', b))) {
      out.removedFiles.push(here);
      out.changed = true;
      continue;
    }
    if (node.type === 'dir' && node.subtree) {
      let sub: Repaired;
      try {
        sub = await repairTree(repo, saver, memo, node.subtree);
      } catch (err) {
        if (!isDamage(err)) throw err;
        sub = { id: await store(repo, saver, encodeTreeFromNodes([])), changed: true, removedFiles: [], emptiedDirs: [''] };
      }
      if (sub.changed) {
        out.changed = true;
        for (const f of sub.removedFiles) out.removedFiles.push(here + f);
        for (const d of sub.emptiedDirs) out.emptiedDirs.push(here + d);
        nodes.push(JSON.stringify({ ...node, subtree: sub.id } satisfies TreeNode));
        continue;
      }
    }
    nodes.push(JSON.stringify(node));
  }
  if (out.changed) out.id = await store(repo, saver, encodeTreeFromNodes(nodes));
  return out;
}

async function store(repo: Repository, saver: BlobSaver | null, bytes: Buffer): Promise<BlobId> {
  const id = repo.hasher.id(bytes);
  if (saver) await saver.save('tree', bytes, id);
  return id;
}

/**
 * Records without the entries whose data the index lacks. A re-run after a cut-off
 * between saving a record and forgetting its original takes the stored copy: the same
 * body with fewer entries, found by content (record ids are salted like snapshot ids).
 */
async function repairWalRecords(
  repo: Repository,
  records: { id: string; body: WalRecordBody }[],
  opts: { forget?: boolean; dryRun?: boolean },
): Promise<WalRecordRepair[]> {
  const stored = new Map(records.map((r) => [JSON.stringify(r.body), r.id]));
  const out: WalRecordRepair[] = [];
  for (const r of records) {
    const lost = r.body.segments.filter((e) => e.content.some((b) => !repo.index.findForRead('data', b)));
    if (lost.length === 0) continue;
    const report: WalRecordRepair = {
      record: r.id,
      source: `${r.body.source.type} ${r.body.source.name}`,
      droppedEntries: lost.map((e) => (e.partial ? `${e.name} (partial)` : e.name)),
      repairedAs: null,
    };
    out.push(report);
    if (opts.dryRun) continue;
    const kept = r.body.segments.filter((e) => !lost.includes(e));
    if (kept.length > 0) {
      const body: WalRecordBody = { ...r.body, segments: kept };
      report.repairedAs = stored.get(JSON.stringify(body)) ?? (await repo.saveWalRecord(body));
    }
    if (opts.forget) {
      await repo.removeWalRecord(r.id);
      report.forgotten = true;
    }
  }
  return out;
}
