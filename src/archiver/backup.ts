import { CairnError } from '../core/errors/index.js';
import type { PackId, SnapshotId } from '../core/ids.js';
import { BlobSaver } from '../repository/blob-saver.js';
import { scanPacks, syncIndex } from '../repository/index-sync.js';
import { RepoLock } from '../repository/lock.js';
import { defaultHost, safeUser, type Repository } from '../repository/repository.js';
import type { SnapshotBody } from '../snapshot/snapshot.js';
import { snapshotInfo } from '../snapshot/snapshot.js';
import type { BackupOptions, BackupResult, SnapshotInfo } from '../engine/types.js';
import { resolveSnapshotRef } from '../snapshot/select.js';
import { Archiver, type ArchiveResult } from './archiver.js';
import { selectFiles, type FilesSelection } from './select-files.js';
import { DirMemo, DirMemoRecorder } from './dir-memo.js';
import { idNamesDigest } from '../fs/id-names.js';
import { scanTotals } from './scan-totals.js';
import { PROGRAM } from '../core/version.js';
import { fileWorkers } from '../pipeline/start-pool.js';
import { createCutFinder } from '../chunker/create-cut-finder.js';

/**
 * A non-files source staged into a directory (a database base backup): its contents
 * become the snapshot's root, recorded under the source's own type and name.
 */
export interface StagedSource {
  dir: string;
  source: { type: string; name: string };
  /** What the snapshot lists as its paths (e.g. the server URL without credentials). */
  paths: string[];
  meta?: Record<string, unknown>;
}

/**
 * A source that builds its trees itself, streaming into the saver with nothing staged on
 * disk (an S3 bucket): everything around the trees — lock, index refresh, parent
 * choice, index file, snapshot — is this function's, exactly as for files.
 */
export interface BuiltSource {
  source: { type: string; name: string };
  paths: string[];
  meta?: Record<string, unknown>;
  build(ctx: { saver: BlobSaver; parent: SnapshotInfo | null; reuseUnchanged: boolean; parentStored: boolean }): Promise<ArchiveResult & { meta?: Record<string, unknown> }>;
}

export function filesSourceName(paths: string[]): string {
  return paths.join(', ');
}

/**
 * One files backup, end to end: writer lock (never waits), index refresh (adopting
 * packs of killed backups), parent choice by mode, archive, pack upload + read-back,
 * index file, then — only when all that succeeded — the snapshot file.
 */
export async function runBackup(
  repo: Repository,
  opts: BackupOptions,
  snapshots: () => Promise<SnapshotInfo[]>,
  hooks: { onPackStored?: (id: PackId, bytes: Buffer) => Promise<void>; as?: StagedSource; built?: BuiltSource } = {},
): Promise<BackupResult> {
  const now = repo.deps.clock.now();
  // Entries walked ahead (before the key was unlocked) date the snapshot from then.
  const started = opts.walkAhead && opts.walkAhead.startedAt < now ? opts.walkAhead.startedAt : now;
  const t0 = performance.now();
  const staged = hooks.as;
  const built = hooks.built;
  const sel = await selectFiles({ ...opts, paths: staged ? [staged.dir] : built ? [] : opts.paths });
  const paths = sel.paths;
  const mode = opts.mode ?? 'incremental';
  const host = opts.host ?? defaultHost();
  const source = staged ? staged.source : built ? built.source : { type: 'files', name: filesSourceName(paths) };

  // The JavaScript chunker gives the same cuts, only slower: say so once, then go on.
  createCutFinder(repo.config.chunker, repo.gear, {
    onFallback: (reason) => opts.onWarning?.({ path: '', code: 'SKIPPED', message: `native chunker unavailable (${reason}); using the JavaScript chunker` }),
  });
  const lock = opts.dryRun ? null : await RepoLock.acquire(repo, 'writer');
  const pool = opts.dryRun || built ? null : fileWorkers(repo);
  const saver = new BlobSaver(repo, { dryRun: !!opts.dryRun, pool, ...(hooks.onPackStored ? { onStored: hooks.onPackStored } : {}) });
  try {
    await syncIndex(repo);
    await lock?.recordMarksSeen();
    if (!opts.dryRun) await scanPacks(repo);

    const all = await snapshots();
    const parent = chooseParent(all, opts.parent, mode, host, source);
    const generation = repo.index.lossGeneration;
    const marksSeen = repo.gcMarksKnown;
    const parentStored = parentIsStored(repo, parent);
    const totals = opts.estimateTotals && !built
      ? scanTotals(paths, { filters: sel, ...(opts.signal ? { signal: opts.signal } : {}) })
      : undefined;
    const memo = !staged && !built && !opts.dryRun ? await dirMemoFor(repo, sel, parent, opts.atime === true) : null;
    const archiver = new Archiver(repo, saver, {
      paths,
      pool,
      ...(totals ? { totals } : {}),
      // A staging directory is freshly written each time: no file's metadata matches its parent's.
      parentTree: staged ? null : (parent?.tree ?? null),
      reuseUnchanged: mode !== 'full',
      parentStored,
      ...(staged ? { asRoot: true } : {}),
      filters: sel,
      ...(opts.atime ? { atime: true } : {}),
      ...(opts.onProgress ? { onProgress: opts.onProgress } : {}),
      ...(opts.onWarning ? { onWarning: opts.onWarning } : {}),
      ...(opts.signal ? { signal: opts.signal } : {}),
      ...(opts.walkAhead && !staged && !built ? { takeWalk: () => opts.walkAhead!.take(sel) } : {}),
      ...(memo ? { memo: memo.parent, record: memo.record } : {}),
    });
    const result = built ? await built.build({ saver, parent, reuseUnchanged: mode !== 'full', parentStored }) : await archiver.run();
    const sourceMeta = staged?.meta ?? (built ? { ...built.meta, ...(result as { meta?: Record<string, unknown> }).meta } : undefined);
    await saver.finish();
    // Every pack is stored: the workers' memory goes before the snapshot and the memo are written.
    await pool?.close();
    // The last moment to honour a cancel: after this the snapshot exists.
    if (opts.signal?.aborted) throw new CairnError('CANCELLED', 'backup cancelled; nothing was committed');

    const s = saver.stats;
    const body: SnapshotBody = {
      version: 1,
      time: started.toISOString(),
      host,
      user: safeUser(),
      uid: process.getuid?.() ?? 0,
      gid: process.getgid?.() ?? 0,
      source,
      paths: staged ? staged.paths : built ? built.paths : paths,
      tags: [...new Set(opts.tags ?? [])],
      // Without a parent every byte was read: that is a full backup, whatever was asked,
      // and a later differential backup can use it as its base.
      mode: parent ? mode : 'full',
      parent: parent?.id ?? null,
      tree: result.tree,
      program: PROGRAM,
      ...(sourceMeta ? { sourceMeta } : {}),
      summary: {
        ...result.summary,
        bytesAdded: s.bytesAdded,
        bytesAddedPacked: s.bytesAddedPacked,
        dataBlobs: s.dataBlobs,
        treeBlobs: s.treeBlobs,
        packs: s.packs,
        durationMs: Math.round(performance.now() - t0),
      },
    };
    const id: SnapshotId = lock
      ? await lock.commit(() => repo.saveSnapshot(body), (sid) => repo.removeSnapshot(sid))
      : ('0'.repeat(64) as SnapshotId);
    if (lock) markStored(repo, id, generation, marksSeen);
    // A differential backup's parent stays the parent of the next one: its memo is kept.
    if (memo) keepDirMemo(repo, id, memo.record, mode === 'incremental' ? (parent?.id ?? null) : null);
    return { snapshot: snapshotInfo(id, body), warnings: result.warnings, partial: result.partial };
  } catch (err) {
    await saver.abandon();
    throw err;
  } finally {
    await pool?.close();
    await lock?.release().catch(() => undefined);
  }
}

/**
 * Whether every blob the parent names can be taken as stored without looking each up:
 * only when this cache committed the parent itself and has lost no pack since
 * (BlobIndex.storedSnapshot), and no blob of it can be only in a pack a gc mark
 * condemns: each mark loaded now was either loaded by the parent's own backup (which
 * treated its packs as absent) or computed with the parent among its snapshots.
 * Otherwise the backup looks up each blob it reuses and stores again what is missing,
 * so that backing up after `repair index` dropped a lost pack heals the new snapshot,
 * as restic's does.
 */
function parentIsStored(repo: Repository, parent: SnapshotInfo | null): boolean {
  const rec = parent ? repo.index.storedSnapshot(parent.id) : undefined;
  if (!parent || !rec) return false;
  if (!repo.index.hasCondemned) return true;
  return repo.gcMarksKnown.every((mark) => rec.marks.includes(mark) || repo.gcMarkSnapshots.get(mark)?.has(parent.id) === true);
}

/** Best effort, as any cache write: without the record the next backup looks blobs up. */
function markStored(repo: Repository, snapshot: SnapshotId, generation: number, marks: readonly string[]): void {
  try {
    repo.index.markStoredSnapshot(snapshot, generation, marks);
  } catch {
    // slower next time, never wrong
  }
}

/**
 * The parent snapshot's directory memo, if this cache kept one for this selection, and
 * a recorder for this backup's. Memos are a cache: one that cannot be read is no memo.
 */
async function dirMemoFor(repo: Repository, sel: FilesSelection, parent: SnapshotInfo | null, atime: boolean): Promise<{ parent: DirMemo | null; record: DirMemoRecorder }> {
  // The size limit and markers only when given, so that memos kept before they existed still match.
  const config = JSON.stringify({
    program: PROGRAM,
    patterns: sel.patterns,
    oneFileSystem: sel.oneFileSystem,
    atime,
    owners: await idNamesDigest(),
    ...(sel.largerThan !== undefined ? { largerThan: sel.largerThan } : {}),
    ...(sel.ifPresent.length ? { ifPresent: sel.ifPresent } : {}),
  });
  let memo: DirMemo | null = null;
  try {
    const bytes = parent ? repo.index.getDirMemo(parent.id) : undefined;
    if (bytes) memo = DirMemo.decode(bytes, repo.hasher, config);
  } catch {
    memo = null;
  }
  return { parent: memo, record: new DirMemoRecorder(repo.hasher, config) };
}

/** Keeps the new snapshot's memo in place of its parent's; best effort, as any cache write. */
function keepDirMemo(repo: Repository, snapshot: SnapshotId, record: DirMemoRecorder, parent: SnapshotId | null): void {
  if (!record.complete || record.size === 0) return;
  try {
    repo.index.putDirMemo(snapshot, record.encode(), parent);
  } catch {
    // The next backup builds its trees from the parent's, as without a memo.
  }
}

function chooseParent(
  all: SnapshotInfo[],
  explicit: string | undefined,
  mode: BackupOptions['mode'],
  host: string,
  source: { type: string; name: string },
): SnapshotInfo | null {
  if (explicit) return resolveSnapshotRef(all, explicit);
  if (mode === 'full') return null;
  const sourceName = source.name;
  const same = all.filter((s) => s.host === host && s.source.type === source.type && s.source.name === sourceName);
  const candidates = mode === 'differential' ? same.filter((s) => s.mode === 'full') : same;
  const parent = candidates[candidates.length - 1] ?? null;
  if (mode === 'differential' && !parent) {
    throw new CairnError('SNAPSHOT_NOT_FOUND', `no full snapshot of ${sourceName} on ${host} to take a differential backup against`, {
      hint: 'run a backup with --mode full first',
    });
  }
  return parent;
}
