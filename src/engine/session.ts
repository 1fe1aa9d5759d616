import { CairnError } from '../core/errors/index.js';
import type { BlobId, SnapshotId } from '../core/ids.js';
import { runBackup } from '../archiver/backup.js';
import { runMirroredBackup } from '../replication/mirrored-backup.js';
import { openBackend } from '../backend/open-backend.js';
import type { Backend } from '../backend/types.js';
import { Restorer } from '../restorer/restorer.js';
import { verifyRestore } from '../restorer/verify-restore.js';
import { treeSelection } from '../restorer/selected-tree.js';
import { runCheck } from '../verify/check.js';
import { runForget } from '../maintenance/forget.js';
import { runPrune } from '../maintenance/prune.js';
import { repairIndex } from '../maintenance/repair-index.js';
import { repairPacks } from '../maintenance/repair-packs.js';
import { repairSnapshots } from '../maintenance/repair-snapshots.js';
import { tagSnapshots } from '../maintenance/tag-snapshots.js';
import { rewriteSnapshots } from '../maintenance/rewrite-snapshots.js';
import { compileExcludes } from '../fs/exclude-matcher.js';
import { syncIndex } from '../repository/index-sync.js';
import { safeUser, type Repository } from '../repository/repository.js';
import * as keys from '../repository/key-manager.js';
import type { KdfParams } from '../crypto/key-slot.js';
import { snapshotInfo } from '../snapshot/snapshot.js';
import { filterSnapshots, resolveSnapshotRef, snapshotAtTime } from '../snapshot/select.js';
import { decodeIndexFile } from '../repository/index-file.js';
import { diffTrees, listNodes, matcher, listedNode, nodeAt } from './browse.js';
import { walkTree } from '../verify/tree-walk.js';
import { startPool } from '../pipeline/start-pool.js';
import { listLiveLocks, removeStaleLocks } from '../repository/lock.js';
import type * as T from './types.js';
import { requireFullAccess } from './require-full-access.js';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { SourceHost } from '../sources/types.js';
import { PostgresSource } from '../sources/postgres/postgres-source.js';
import { planPitrRetention } from '../sources/postgres/pg-retention.js';
import { S3Source } from '../sources/s3/s3-source.js';
import { SqliteSource } from '../sources/sqlite/sqlite-source.js';
import { planSqliteRetention } from '../sources/sqlite/sqlite-retention.js';
import { MariadbSource } from '../sources/mariadb/mariadb-source.js';
import { planMyRetention } from '../sources/mariadb/my-retention.js';
import { RedisSource } from '../sources/redis/redis-source.js';
import { planRedisRetention } from '../sources/redis/redis-pitr.js';
import type { RetryOptions } from '../backend/with-retry.js';

/** RepositorySession over an opened Repository: the engine facade's implementation. */
export class Session implements T.RepositorySession {
  private synced = false;

  constructor(
    private readonly repo: Repository,
    private readonly kdf?: KdfParams,
    /** Opens mirror repositories named in BackupOptions.mirrors (the engine's own, wrapped like every backend). */
    private readonly openBackend?: (location: string) => Backend,
    /** The engine's retry policy, for sources that talk to a store directly (S3). */
    private readonly retry?: RetryOptions,
  ) {}

  get id(): string {
    return this.repo.id;
  }
  get location(): string {
    return this.repo.backend.location;
  }
  get role(): T.KeyRole {
    return this.repo.keyRole;
  }

  private async ready(): Promise<Repository> {
    if (!this.synced) {
      await syncIndex(this.repo);
      this.synced = true;
    }
    return this.repo;
  }

  async snapshots(filter?: T.SnapshotFilter): Promise<T.SnapshotInfo[]> {
    const all = (await this.repo.listSnapshots()).map((s) => snapshotInfo(s.id, s.body));
    return filterSnapshots(all, filter);
  }

  async findSnapshot(ref: string, filter?: T.SnapshotFilter): Promise<T.SnapshotInfo> {
    return resolveSnapshotRef(await this.snapshots(filter), ref);
  }

  async snapshotAt(time: string, filter?: T.SnapshotFilter): Promise<T.SnapshotInfo> {
    return snapshotAtTime(await this.snapshots(filter), time);
  }

  async backup(opts: T.BackupOptions): Promise<T.BackupResult> {
    const res =
      opts.mirrors && opts.mirrors.length > 0
        ? await runMirroredBackup(this.repo, opts, () => this.snapshots(), this.openBackend ?? openBackend)
        : await runBackup(this.repo, opts, () => this.snapshots());
    this.synced = true;
    return res;
  }

  async *ls(snapshotRef: string, opts: T.LsOptions = {}): AsyncIterable<T.ListedNode> {
    const snap = await this.findSnapshot(snapshotRef);
    yield* listNodes(await this.ready(), snap.tree, opts.path ?? '/', !!opts.recursive);
  }

  async *find(opts: T.FindOptions): AsyncIterable<T.FindMatch> {
    let snaps = await this.snapshots(opts.filter);
    if (opts.snapshots && opts.snapshots.length > 0) snaps = opts.snapshots.map((r) => resolveSnapshotRef(snaps, r));
    const repo = await this.ready();
    const match = matcher(opts.patterns);
    for (const snapshot of snaps) {
      const found: T.FindMatch[] = [];
      await walkTree(repo, snapshot.tree, ({ path, node }) => {
        const l = listedNode(path, node);
        if (match(path, l.name)) found.push({ snapshot, node: l });
      });
      yield* found;
    }
  }

  async diff(refA: string, refB: string): Promise<T.DiffResult> {
    const all = await this.snapshots();
    const a = resolveSnapshotRef(all, refA);
    const b = resolveSnapshotRef(all, refB);
    return diffTrees(await this.ready(), a.tree, b.tree);
  }

  async restore(opts: T.RestoreOptions): Promise<T.RestoreResult> {
    const snapshot = opts.at ? await this.snapshotAt(opts.at, opts.filter) : await this.findSnapshot(opts.snapshot, opts.filter);
    const repo = await this.ready();
    // Before the pool starts: a malformed pattern is refused with nothing to clean up.
    const selection = treeSelection(opts.include, opts.exclude);
    const pool = startPool(repo);
    const restorer = new Restorer(repo, {
      target: opts.target,
      pool,
      selection,
      ...(opts.onProgress ? { onProgress: opts.onProgress } : {}),
      ...(opts.estimateTotals ? { estimateTotals: true } : {}),
      ...(opts.signal ? { signal: opts.signal } : {}),
    });
    try {
      const stats = await restorer.run(snapshot);
      const result: T.RestoreResult = { snapshot, files: stats.files, dirs: stats.dirs, bytes: stats.bytes, warnings: stats.warnings };
      if (opts.verify) result.verified = await verifyRestore(repo, snapshot.tree, opts.target, selection);
      return result;
    } finally {
      await pool?.close();
    }
  }

  async cat(kind: T.CatKind, ref: string): Promise<unknown> {
    const repo = await this.ready();
    switch (kind) {
      case 'config':
        return repo.config;
      case 'snapshot': {
        const s = await this.findSnapshot(ref);
        return repo.loadSnapshot(s.id as SnapshotId);
      }
      case 'tree': {
        if (/^[0-9a-f]{64}$/.test(ref)) return repo.loadTree(ref as BlobId);
        const [snapRef, path = '/'] = splitSnapPath(ref);
        const s = await this.findSnapshot(snapRef);
        const node = await nodeAt(repo, s.tree, path);
        if (node && node.type !== 'dir') throw new CairnError('USAGE', `${path} is not a directory`);
        return repo.loadTree(node?.subtree ?? s.tree);
      }
      case 'index': {
        const id = await resolveIndexId(repo, ref);
        return decodeIndexFile(await repo.loadSealed('index', id), id);
      }
      case 'key': {
        const slot = await keys.resolveKeyId(this.keyDeps(), ref);
        return { ...slot, wrapped: '(omitted)' };
      }
      case 'masterkey-ids':
        return repo.masterKey.encKeys.map((k) => ({ id: k.id, created: k.created, current: k.id === repo.masterKey.currentEncKey }));
      case 'file': {
        const [snapRef, path] = splitSnapPath(ref);
        const s = await this.findSnapshot(snapRef);
        const node = await nodeAt(repo, s.tree, path ?? '/');
        if (!node || node.type !== 'file') throw new CairnError('PATH_NOT_FOUND', `${path} is not a file in snapshot ${s.shortId}`);
        const parts: Buffer[] = [];
        for (const id of node.content ?? []) parts.push(await repo.loadBlob('data', id));
        return Buffer.concat(parts);
      }
    }
  }

  check(opts?: T.CheckOptions): Promise<T.CheckResult> {
    return runCheck(this.repo, opts);
  }

  async forget(opts: T.ForgetOptions): Promise<T.ForgetResult> {
    // A dry run deletes nothing, so an append-only host may preview a policy.
    if (!opts.dryRun) requireFullAccess(this.role, 'forget');
    const all = await this.snapshots();
    const hasPostgres = opts.policy && all.some((s) => s.source.type === 'postgres' || s.source.type === 'redis' || s.source.type === 'mariadb' || s.source.type === 'sqlite');
    if (!hasPostgres) {
      const result = await runForget(this.repo, all, opts);
      if (opts.prune && !opts.dryRun) result.prune = await this.prune({});
      return result;
    }
    // PostgreSQL sources: decide as usual, then keep what PITR needs and drop the WAL no
    // kept base backup needs (sources/postgres/pg-retention.ts).
    const result = await runForget(this.repo, all, { ...opts, dryRun: true });
    const walRecords = await this.repo.listWalRecords();
    const plan = planPitrRetention(result, all, walRecords, this.repo.deps.clock.now(), opts.policy?.keepWithin);
    // Redis sources: the same promise for their bases and command log (sources/redis/redis-pitr.ts).
    const redisPlan = planRedisRetention(result, all, walRecords, this.repo.deps.clock.now(), opts.policy?.keepWithin);
    plan.rescue.push(...redisPlan.rescue);
    plan.wal.push(...redisPlan.log);
    // SQLite sources: bases and frame records (sources/sqlite/sqlite-retention.ts).
    const sqlitePlan = planSqliteRetention(result, all, walRecords, this.repo.deps.clock.now(), opts.policy?.keepWithin);
    plan.rescue.push(...sqlitePlan.rescue);
    plan.wal.push(...sqlitePlan.wal);
    // MariaDB sources: dumps and binlog (sources/mariadb/my-retention.ts).
    const myPlan = planMyRetention(result, all, walRecords, this.repo.deps.clock.now(), opts.policy?.keepWithin);
    plan.rescue.push(...myPlan.rescue);
    plan.wal.push(...myPlan.wal);
    for (const r of plan.rescue) {
      for (const g of result.groups) {
        if (!g.remove.some((s) => s.id === r.snapshot.id)) continue;
        g.remove = g.remove.filter((s) => s.id !== r.snapshot.id);
        g.keep.push({ snapshot: r.snapshot, reasons: [r.reason] });
        g.keep.sort((a, b) => b.snapshot.time.localeCompare(a.snapshot.time));
      }
      result.removed = result.removed.filter((id) => id !== r.snapshot.id);
    }
    result.wal = plan.wal.map((w) => ({ source: w.source, removed: w.remove, kept: w.kept, keepFrom: w.keepFrom }));
    result.dryRun = !!opts.dryRun;
    if (!opts.dryRun) {
      for (const id of result.removed) await this.repo.removeSnapshot(id as SnapshotId);
      // Snapshots first: a crash in between leaves WAL that nothing needs, never a base without its WAL.
      for (const w of plan.wal) for (const id of w.remove) await this.repo.removeWalRecord(id);
      if (opts.prune) result.prune = await this.prune({});
    }
    return result;
  }

  // ---- PostgreSQL ----------------------------------------------------------------

  private sourceHost(): SourceHost {
    return {
      repo: this.repo,
      clock: this.repo.deps.clock,
      snapshots: () => this.snapshots(),
      backupDirectory: async (dir, as, opts) => {
        const res = await runBackup(this.repo, { ...opts, paths: [dir] }, () => this.snapshots(), { as: { dir, ...as } });
        this.synced = true;
        return res;
      },
      backupTrees: async (as, opts, build) => {
        const res = await runBackup(this.repo, { ...opts, paths: [] }, () => this.snapshots(), { built: { ...as, build } });
        this.synced = true;
        return res;
      },
      restoreSnapshot: (snapshot, target, opts) => this.restore({ snapshot: snapshot.id, target, ...opts }),
    };
  }

  async backupPostgres(opts: T.PgBackupOptions): Promise<T.PgBackupResult> {
    return new PostgresSource().backup(this.sourceHost(), opts);
  }

  async streamPostgres(opts: T.PgStreamOptions): Promise<T.PgStreamResult> {
    const spoolRoot = join(this.repo.deps.cacheDir === ':memory:' ? tmpdir() : this.repo.deps.cacheDir, 'postgres', this.repo.id);
    return new PostgresSource().stream(this.sourceHost(), { ...opts, spoolRoot });
  }

  async walPush(opts: T.WalPushOptions): Promise<T.WalPushResult> {
    return new PostgresSource().walPush(this.sourceHost(), opts);
  }

  async pitr(name: string, opts?: { server?: string; maxSlotLagBytes?: number }): Promise<T.PitrReport> {
    return new PostgresSource().pitr(this.sourceHost(), name, opts);
  }

  async restorePostgres(opts: T.PgRestoreOptions): Promise<T.PgRestoreResult> {
    await this.ready();
    return new PostgresSource().restore(this.sourceHost(), opts);
  }

  // ---- Redis ---------------------------------------------------------------------

  async backupRedis(opts: T.RedisBackupOptions): Promise<T.RedisBackupResult> {
    return new RedisSource().backup(this.sourceHost(), opts);
  }

  async streamRedis(opts: T.RedisStreamOptions): Promise<T.RedisStreamResult> {
    return new RedisSource().stream(this.sourceHost(), opts);
  }

  async pitrRedis(name: string, opts?: { server?: string }): Promise<T.RedisPitrReport> {
    return new RedisSource().pitr(this.sourceHost(), name, opts);
  }

  async restoreRedis(opts: T.RedisRestoreOptions): Promise<T.RedisRestoreResult> {
    await this.ready();
    return new RedisSource().restore(this.sourceHost(), opts);
  }

  async sourceType(name: string): Promise<string | null> {
    const snap = (await this.snapshots()).find((s) => s.source.name === name && s.source.type !== 'files');
    if (snap) return snap.source.type;
    return (await this.repo.listWalRecords()).find((r) => r.body.source.name === name)?.body.source.type ?? null;
  }

  // ---- MariaDB / MySQL -------------------------------------------------------------

  async backupMariadb(opts: T.MyBackupOptions): Promise<T.MyBackupResult> {
    return new MariadbSource().backup(this.sourceHost(), opts);
  }

  async streamMariadb(opts: T.MyStreamOptions): Promise<T.MyStreamResult> {
    const spoolRoot = join(this.repo.deps.cacheDir === ':memory:' ? tmpdir() : this.repo.deps.cacheDir, 'mariadb', this.repo.id);
    return new MariadbSource().stream(this.sourceHost(), { ...opts, spoolRoot });
  }

  async pitrMariadb(name: string): Promise<T.MyPitrReport | null> {
    return new MariadbSource().pitr(this.sourceHost(), name);
  }

  async restoreMariadb(opts: T.MyRestoreOptions): Promise<T.MyRestoreResult> {
    await this.ready();
    return new MariadbSource().restore(this.sourceHost(), opts);
  }

  // ---- S3 bucket source ---------------------------------------------------------

  async backupS3(opts: T.S3BackupOptions): Promise<T.S3BackupResult> {
    return new S3Source(this.retry ? { retry: this.retry } : {}).backup(this.sourceHost(), opts);
  }

  async restoreS3(opts: T.S3RestoreOptions): Promise<T.S3RestoreResult> {
    await this.ready();
    return new S3Source(this.retry ? { retry: this.retry } : {}).restore(this.sourceHost(), opts);
  }

  // ---- SQLite source ---------------------------------------------------------------

  async backupSqlite(opts: T.SqliteBackupOptions): Promise<T.SqliteBackupResult> {
    return new SqliteSource().backup(this.sourceHost(), opts);
  }

  async streamSqlite(opts: T.SqliteStreamOptions): Promise<T.SqliteStreamResult> {
    return new SqliteSource().stream(this.sourceHost(), opts);
  }

  async pitrSqlite(name: string): Promise<T.SqlitePitrReport | null> {
    return new SqliteSource().pitr(this.sourceHost(), name);
  }

  async restoreSqlite(opts: T.SqliteRestoreOptions): Promise<T.SqliteRestoreResult> {
    await this.ready();
    return new SqliteSource().restore(this.sourceHost(), opts);
  }

  async prune(opts?: T.PruneOptions): Promise<T.PruneResult> {
    if (!opts?.dryRun) requireFullAccess(this.role, 'prune');
    return runPrune(this.repo, opts);
  }

  async stats(snapshotRef?: string): Promise<T.StatsResult> {
    const repo = await this.ready();
    const c = repo.index.counts();
    const snaps = await this.snapshots();
    const out: T.StatsResult = {
      snapshots: snaps.length,
      packs: c.packs,
      blobs: c.blobs,
      storedBytes: c.storedBytes,
      rawBytes: c.rawBytes,
      compressionRatio: c.storedBytes > 0 ? c.rawBytes / c.storedBytes : 1,
    };
    if (snapshotRef) {
      const s = resolveSnapshotRef(snaps, snapshotRef);
      let size = 0;
      await walkTree(repo, s.tree, ({ node }) => {
        if (node.type === 'file') size += node.size ?? 0;
      });
      out.restoreSize = size;
    }
    return out;
  }

  private keyDeps(): keys.KeyManagerDeps {
    return {
      backend: this.repo.backend,
      repoId: this.repo.id,
      masterKey: this.repo.masterKey,
      currentKeyId: this.repo.keyId,
      random: this.repo.deps.random,
      now: () => this.repo.deps.clock.now(),
      ...(this.kdf ? { kdf: this.kdf } : {}),
      user: safeUser(),
    };
  }

  listKeys(): Promise<T.KeyInfo[]> {
    return keys.listKeys(this.keyDeps());
  }
  async addKey(newPassword: string, opts?: { label?: string; host?: string; user?: string; role?: T.KeyRole }): Promise<T.KeyInfo> {
    requireFullAccess(this.role, 'key add');
    return keys.addKey(this.keyDeps(), newPassword, opts);
  }
  async removeKey(id: string): Promise<void> {
    requireFullAccess(this.role, 'key remove');
    return keys.removeKey(this.keyDeps(), id);
  }
  async changePassword(newPassword: string): Promise<T.KeyInfo> {
    requireFullAccess(this.role, 'key passwd');
    return keys.changePassword(this.keyDeps(), newPassword);
  }

  async repairIndex(opts?: { onProgress?: (p: T.Progress) => void }): Promise<T.RepairResult> {
    requireFullAccess(this.role, 'repair index');
    return repairIndex(this.repo, opts);
  }

  async repairPacks(ids: readonly string[], opts: { dryRun?: boolean; onProgress?: (p: T.Progress) => void } = {}): Promise<T.RepairPacksResult> {
    if (!opts.dryRun) requireFullAccess(this.role, 'repair packs');
    return repairPacks(this.repo, ids, opts);
  }

  async repairSnapshots(ids: readonly string[], opts: { forget?: boolean; dryRun?: boolean; onProgress?: (p: T.Progress) => void } = {}): Promise<T.RepairSnapshotsResult> {
    // Writing snapshots is what an append-only key may do; removing them is not.
    if (opts.forget && !opts.dryRun) requireFullAccess(this.role, 'repair snapshots --forget');
    return repairSnapshots(this.repo, ids, opts);
  }

  async tag(ids: readonly string[], change: T.TagChange, opts: { filter?: T.SnapshotFilter; dryRun?: boolean } = {}): Promise<T.TagSnapshotsResult> {
    // Each change removes a snapshot file, as forget does.
    if (!opts.dryRun) requireFullAccess(this.role, 'tag');
    return tagSnapshots(this.repo, ids, opts.filter, change, { dryRun: !!opts.dryRun });
  }

  async rewrite(
    ids: readonly string[],
    opts: { excludes: string[]; filter?: T.SnapshotFilter; forget?: boolean; dryRun?: boolean; onProgress?: (p: T.Progress) => void },
  ): Promise<T.RewriteSnapshotsResult> {
    // Writing snapshots is what an append-only key may do; removing them is not.
    if (opts.forget && !opts.dryRun) requireFullAccess(this.role, 'rewrite --forget');
    const patterns = opts.excludes.filter((p) => p !== '');
    if (patterns.length === 0) {
      throw new CairnError('USAGE', 'rewrite needs at least one exclude pattern', { hint: 'e.g. cairn rewrite --exclude /home/ann/.ssh --forget' });
    }
    return rewriteSnapshots(this.repo, ids, opts.filter, compileExcludes(patterns), {
      ...(opts.forget ? { forget: true } : {}),
      ...(opts.dryRun ? { dryRun: true } : {}),
      ...(opts.onProgress ? { onProgress: opts.onProgress } : {}),
    });
  }

  async unlock(opts: { all?: boolean } = {}): Promise<T.UnlockResult> {
    // Stale locks are ignored by everyone already; --all can remove live ones, which
    // would let a prune delete data a running backup still needs.
    if (opts.all) requireFullAccess(this.role, 'unlock --all');
    const removed = await removeStaleLocks(this.repo, opts);
    const live = (await listLiveLocks(this.repo)).map((l) => ({
      id: l.id,
      kind: l.body.kind,
      host: l.body.host,
      pid: l.body.pid,
      created: l.body.created,
    }));
    return { removed, live };
  }

  async close(): Promise<void> {
    await this.repo.close();
  }
}

/** "SNAP:/path" → [SNAP, /path]. */
function splitSnapPath(ref: string): [string, string | undefined] {
  const i = ref.indexOf(':');
  return i < 0 ? [ref, undefined] : [ref.slice(0, i), ref.slice(i + 1) || '/'];
}

/**
 * An index file's id from a full id or a unique prefix, as for snapshots. Anything but
 * hex is USAGE (it would otherwise reach the backend as a path); no match is
 * INDEX_NOT_FOUND.
 */
async function resolveIndexId(repo: Repository, ref: string): Promise<string> {
  if (!/^[0-9a-f]{1,64}$/.test(ref)) {
    throw new CairnError('USAGE', `not an index id or id prefix: ${JSON.stringify(ref)}`, { hint: "index file ids are the names of the files under the repository's index/ directory" });
  }
  const matches = (await repo.listIds('index')).filter((id) => id.startsWith(ref));
  if (matches.length === 0) throw new CairnError('INDEX_NOT_FOUND', `no index file id starts with ${ref}`);
  if (matches.length > 1) throw new CairnError('USAGE', `index id prefix ${ref} matches ${matches.length} index files: give more of it`);
  return matches[0]!;
}
