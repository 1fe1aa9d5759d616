import { CairnError } from '../core/errors/index.js';
import type { PackId, SnapshotId } from '../core/ids.js';
import { compileExcludes, readExcludeFile } from '../fs/exclude-matcher.js';
import { BlobSaver } from '../repository/blob-saver.js';
import { scanPacks, syncIndex } from '../repository/index-sync.js';
import { RepoLock } from '../repository/lock.js';
import { defaultHost, safeUser, type Repository } from '../repository/repository.js';
import type { SnapshotBody } from '../snapshot/snapshot.js';
import { snapshotInfo } from '../snapshot/snapshot.js';
import type { BackupOptions, BackupResult, SnapshotInfo } from '../engine/types.js';
import { resolveSnapshotRef } from '../snapshot/select.js';
import { Archiver, normalisePaths } from './archiver.js';
import { scanTotals } from './scan-totals.js';
import { PROGRAM } from '../core/version.js';
import { fileWorkers } from '../pipeline/start-pool.js';
import { createCutFinder } from '../chunker/create-cut-finder.js';

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
  hooks: { onPackStored?: (id: PackId, bytes: Buffer) => Promise<void> } = {},
): Promise<BackupResult> {
  const started = repo.deps.clock.now();
  const t0 = performance.now();
  const paths = await normalisePaths(opts.paths);
  const mode = opts.mode ?? 'incremental';
  const host = opts.host ?? defaultHost();
  const source = { type: 'files', name: filesSourceName(paths) };

  const patterns = [...(opts.excludes ?? [])];
  for (const f of opts.excludeFiles ?? []) patterns.push(...(await readExcludeFile(f)));
  const exclude = patterns.length > 0 ? compileExcludes(patterns) : undefined;

  // The JavaScript chunker gives the same cuts, only slower: say so once, then go on.
  createCutFinder(repo.config.chunker, repo.gear, {
    onFallback: (reason) => opts.onWarning?.({ path: '', code: 'SKIPPED', message: `native chunker unavailable (${reason}); using the JavaScript chunker` }),
  });
  const lock = opts.dryRun ? null : await RepoLock.acquire(repo, 'writer');
  const pool = opts.dryRun ? null : fileWorkers(repo);
  const saver = new BlobSaver(repo, { dryRun: !!opts.dryRun, pool, ...(hooks.onPackStored ? { onStored: hooks.onPackStored } : {}) });
  try {
    await syncIndex(repo);
    await lock?.recordMarksSeen();
    if (!opts.dryRun) await scanPacks(repo);

    const all = await snapshots();
    const parent = chooseParent(all, opts.parent, mode, host, source.name);
    const totals = opts.estimateTotals
      ? scanTotals(paths, { ...(exclude ? { exclude } : {}), ...(opts.oneFileSystem ? { oneFileSystem: true } : {}), ...(opts.signal ? { signal: opts.signal } : {}) })
      : undefined;
    const archiver = new Archiver(repo, saver, {
      paths,
      pool,
      ...(totals ? { totals } : {}),
      parentTree: parent?.tree ?? null,
      reuseUnchanged: mode !== 'full',
      ...(exclude ? { exclude } : {}),
      ...(opts.oneFileSystem ? { oneFileSystem: true } : {}),
      ...(opts.onProgress ? { onProgress: opts.onProgress } : {}),
      ...(opts.onWarning ? { onWarning: opts.onWarning } : {}),
      ...(opts.signal ? { signal: opts.signal } : {}),
    });
    const result = await archiver.run();
    await saver.finish();
    lock?.assertFresh();
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
      paths,
      tags: [...new Set(opts.tags ?? [])],
      // Without a parent every byte was read: that is a full backup, whatever was asked,
      // and a later differential backup can use it as its base.
      mode: parent ? mode : 'full',
      parent: parent?.id ?? null,
      tree: result.tree,
      program: PROGRAM,
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
    const id: SnapshotId = opts.dryRun ? ('0'.repeat(64) as SnapshotId) : await repo.saveSnapshot(body);
    // Again after the save: one that hung past the lock staleness (the refresh hangs with
    // it) may have let a prune take this process for dead and sweep what it references.
    try {
      lock?.assertFresh();
    } catch (err) {
      await repo.removeSnapshot(id).catch(() => undefined);
      throw err;
    }
    return { snapshot: snapshotInfo(id, body), warnings: result.warnings, partial: result.partial };
  } catch (err) {
    await saver.abandon();
    throw err;
  } finally {
    await pool?.close();
    await lock?.release().catch(() => undefined);
  }
}

function chooseParent(
  all: SnapshotInfo[],
  explicit: string | undefined,
  mode: BackupOptions['mode'],
  host: string,
  sourceName: string,
): SnapshotInfo | null {
  if (explicit) return resolveSnapshotRef(all, explicit);
  if (mode === 'full') return null;
  const same = all.filter((s) => s.host === host && s.source.type === 'files' && s.source.name === sourceName);
  const candidates = mode === 'differential' ? same.filter((s) => s.mode === 'full') : same;
  const parent = candidates[candidates.length - 1] ?? null;
  if (mode === 'differential' && !parent) {
    throw new CairnError('SNAPSHOT_NOT_FOUND', `no full snapshot of ${sourceName} on ${host} to take a differential backup against`, {
      hint: 'run a backup with --mode full first',
    });
  }
  return parent;
}
