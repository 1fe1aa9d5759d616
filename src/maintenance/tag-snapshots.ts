import { CairnError } from '../core/errors/index.js';
import type { SnapshotId } from '../core/ids.js';
import type { SnapshotFilter, TagChange, TagSnapshotsResult, SnapshotTagging } from '../engine/types.js';
import { RepoLock } from '../repository/lock.js';
import type { Repository } from '../repository/repository.js';
import { filterSnapshots, resolveSnapshotRef } from '../snapshot/select.js';
import { snapshotInfo, type SnapshotBody } from '../snapshot/snapshot.js';

/**
 * `tag`: adds, removes or sets the tags of snapshots, as restic's `tag` does (for
 * example to keep one past a `forget --keep-tag` policy). Snapshot files are immutable
 * and named by their content, so a changed snapshot is stored again with its new tags
 * (same tree, time, host, paths and source: retention and restores see the same
 * history) and the old file is removed; its id changes.
 *
 * Order, for crash safety: the new snapshot first, then the old one's removal. A run
 * cut off in between leaves both; running it again finds the stored copy (the same
 * body) and takes it instead of storing another, then removes the old one.
 */
export async function tagSnapshots(
  repo: Repository,
  refs: readonly string[],
  filter: SnapshotFilter | undefined,
  change: TagChange,
  opts: { dryRun?: boolean } = {},
): Promise<TagSnapshotsResult> {
  checkChange(change);
  // A writer, as a backup is: it adds snapshots naming stored trees.
  const lock = opts.dryRun ? null : await RepoLock.acquire(repo, 'writer');
  try {
    const all = await repo.listSnapshots();
    const infos = all.map((s) => snapshotInfo(s.id, s.body));
    // The filters narrow what ids and "latest" choose from, as for restore; no id: all of them.
    const candidates = filterSnapshots(infos, filter);
    const chosen = refs.length > 0 ? new Set(refs.map((ref) => resolveSnapshotRef(candidates, ref).id)) : new Set(candidates.map((s) => s.id));
    const stored = new Map(all.map((s) => [JSON.stringify(s.body), s.id]));
    const changed: SnapshotTagging[] = [];
    let unchanged = 0;
    for (const s of all) {
      if (!chosen.has(s.id)) continue;
      const tags = newTags(s.body.tags, change);
      if (sameList(tags, s.body.tags)) {
        unchanged++;
        continue;
      }
      const report: SnapshotTagging = { snapshot: s.id, tags: s.body.tags, newTags: tags, taggedAs: null };
      changed.push(report);
      if (opts.dryRun) continue;
      const body: SnapshotBody = { ...s.body, tags };
      const id = stored.get(JSON.stringify(body)) ?? (await repo.saveSnapshot(body));
      carryCacheRecords(repo, s.id, id);
      await repo.removeSnapshot(s.id);
      report.taggedAs = id;
    }
    return { dryRun: !!opts.dryRun, changed, unchanged };
  } finally {
    await lock?.release().catch(() => undefined);
  }
}

function checkChange(c: TagChange): void {
  if (c.set !== undefined && (c.add?.length || c.remove?.length)) {
    throw new CairnError('USAGE', '--set replaces all tags: give it alone, or use --add and --remove');
  }
  if (c.set === undefined && !c.add?.length && !c.remove?.length) {
    throw new CairnError('USAGE', 'nothing to change', { hint: 'give --add TAGS, --remove TAGS or --set TAGS (--set "" removes every tag)' });
  }
  for (const t of [...(c.set ?? []), ...(c.add ?? []), ...(c.remove ?? [])]) {
    if (t === '' || t.includes(',')) throw new CairnError('USAGE', `not a tag: ${JSON.stringify(t)}`);
  }
}

/** The tags after the change: --set's as given; else the old ones without --remove's, then --add's not yet there. */
function newTags(old: readonly string[], c: TagChange): string[] {
  if (c.set !== undefined) return [...new Set(c.set)];
  const out = old.filter((t) => !c.remove?.includes(t));
  for (const t of c.add ?? []) if (!out.includes(t)) out.push(t);
  return out;
}

function sameList(a: readonly string[], b: readonly string[]): boolean {
  return a.length === b.length && a.every((t, i) => t === b[i]);
}

/**
 * The local cache's records of the old snapshot (its directory memo, and that this
 * cache stored all of its blobs) are true of the new one, which has the same tree: the
 * next backup with it as parent stays as fast. Best effort, as any cache write.
 */
function carryCacheRecords(repo: Repository, from: SnapshotId, to: SnapshotId): void {
  try {
    const memo = repo.index.getDirMemo(from);
    if (memo) repo.index.putDirMemo(to, memo, from);
    const rec = repo.index.storedSnapshot(from);
    if (rec) repo.index.markStoredSnapshot(to, repo.index.lossGeneration, rec.marks);
  } catch {
    // The next backup looks its blobs up instead.
  }
}
