import { mkdir, mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { CairnError, fromSystemError } from '../../core/errors/index.js';
import type * as T from '../../engine/types.js';
import { indexLeftoverPacks, syncIndex } from '../../repository/index-sync.js';
import { RepoLock } from '../../repository/lock.js';
import { sha256Hex } from '../../crypto/sha256.js';
import { snapshotOptions } from '../snapshot-options.js';
import type { Source, SourceHost } from '../types.js';
import { identifySystem, takeBaseBackup, type PgBaseMeta } from './base-backup.js';
import { PgClient } from './pg-client.js';
import { parsePgLocation, sqlUrl, type PgLocation } from './pg-location.js';
import { assertEmptyTarget, lookupUser, planRestore, prepareRecovery, startAndWait } from './pg-restore.js';
import { analysePitr, mergeWindows, type PitrBase } from './pitr-windows.js';
import { POSTGRES, storeSegments, WalCatalog } from './wal-catalog.js';
import { isSegmentName, segmentHeader } from './wal-name.js';
import { commitTimes } from './wal-scan.js';
import { WalStreamer } from './wal-streamer.js';

export const DEFAULT_FLUSH_INTERVAL_MS = 10_000;
export const DEFAULT_MAX_SLOT_LAG = 1024 ** 3;

/**
 * PostgreSQL as a Cairn source: base backups (pg_basebackup) as snapshots of type
 * `postgres`, continuous WAL (pg_receivewal through a slot, or archive_command with
 * `wal-push`) as WAL catalog records, PITR windows and restore to a time. See
 * docs/sources/postgres.md.
 */
export class PostgresSource implements Source<T.PgBackupOptions, T.PgBackupResult, T.PgRestoreOptions, T.PgRestoreResult> {
  readonly type = POSTGRES;
  readonly client: PgClient;

  constructor(env: Record<string, string | undefined> = process.env) {
    this.client = new PgClient(env);
  }

  async backup(host: SourceHost, opts: T.PgBackupOptions): Promise<T.PgBackupResult> {
    const loc = parsePgLocation(opts.url);
    const staging = await mkdtemp(join(tmpdir(), 'cairn-pg-base-'));
    try {
      const dataDir = join(staging, 'data');
      await mkdir(dataDir, { mode: 0o700 });
      const meta = await takeBaseBackup(this.client, loc, dataDir, host.clock, opts.signal);
      const name = opts.name ?? meta.systemId;
      await this.assertSameCluster(host, name, meta.systemId);
      const common = snapshotOptions(opts);
      const res = await host.backupDirectory(dataDir, { source: { type: POSTGRES, name }, paths: [loc.display], meta: { ...meta } }, common);
      const out: T.PgBackupResult = { ...res, name };
      if (opts.logical) {
        const dumps = join(staging, 'logical');
        await mkdir(dumps, { mode: 0o700 });
        const dbs = await this.databases(loc);
        for (const db of dbs) {
          const u = new URL(sqlUrl(loc));
          u.pathname = `/${encodeURIComponent(db)}`;
          // -Z0: an uncompressed custom-format dump, so that content-defined chunking finds
          // the unchanged parts of a database again (a compressed dump differs throughout
          // after any change); the repository compresses the chunks itself.
          await this.client.run('pg_dump', ['-Fc', '-Z0', '-d', u.toString(), '-f', join(dumps, `${db}.dump`)]);
        }
        const lres = await host.backupDirectory(
          dumps,
          { source: { type: POSTGRES, name }, paths: [loc.display], meta: { kind: 'logical', systemId: meta.systemId, serverVersion: meta.serverVersion, databases: dbs } },
          { ...common, tags: [...(opts.tags ?? []), 'logical'] },
        );
        out.logical = lres.snapshot;
      }
      return out;
    } finally {
      await rm(staging, { recursive: true, force: true });
    }
  }

  private async databases(loc: PgLocation): Promise<string[]> {
    const { stdout } = await this.client.run('psql', ['-X', '-A', '-t', '-d', sqlUrl(loc), '-c', 'SELECT datname FROM pg_database WHERE datallowconn AND NOT datistemplate ORDER BY 1']);
    return stdout.split('\n').map((l) => l.trim()).filter(Boolean);
  }

  /** A name belongs to one cluster: mixing two clusters' WAL under one name would corrupt PITR. */
  private async assertSameCluster(host: SourceHost, name: string, systemId: string): Promise<void> {
    const other = (await host.snapshots()).find((s) => s.source.type === POSTGRES && s.source.name === name && (s.sourceMeta as PgBaseMeta | undefined)?.systemId !== systemId);
    const catalog = await WalCatalog.load(host.repo, name);
    const otherWal = catalog.systemId !== undefined && catalog.systemId !== systemId;
    if (other || otherWal) {
      throw new CairnError('SOURCE_CONFIG', `source name "${name}" already holds backups of another PostgreSQL cluster`, {
        hint: 'give this server its own --name (the default is its system identifier)',
      });
    }
  }

  /** `spoolRoot/<name>/spool` is the spool unless opts.spoolDir names one. */
  async stream(host: SourceHost, opts: T.PgStreamOptions & { spoolRoot: string }): Promise<T.PgStreamResult> {
    const loc = parsePgLocation(opts.url);
    this.client.assertTool('pg_receivewal');
    const id = await identifySystem(this.client, loc);
    const name = opts.name ?? id.systemId;
    await this.assertSameCluster(host, name, id.systemId);
    const slot = opts.slot ?? slotName(name);
    const spoolDir = opts.spoolDir ?? join(opts.spoolRoot, name.replace(/[^A-Za-z0-9_.-]/g, '_'), 'spool');
    opts.onStarted?.({ name, slot, spoolDir, systemId: id.systemId });
    const streamer = new WalStreamer(host.repo, this.client, loc, {
      name,
      systemId: id.systemId,
      segmentSize: id.segmentSize,
      slot,
      spoolDir,
      flushIntervalMs: opts.flushIntervalMs ?? DEFAULT_FLUSH_INTERVAL_MS,
      signal: opts.signal,
      ...(opts.onFlush ? { onFlush: opts.onFlush } : {}),
      ...(opts.onWarning ? { onWarning: opts.onWarning } : {}),
    });
    const s = await streamer.run();
    return { name, slot, ...s };
  }

  /** archive_command: store one completed segment; idempotent (a retried push of the same bytes is a no-op). */
  async walPush(host: SourceHost, opts: T.WalPushOptions): Promise<T.WalPushResult> {
    const segment = basename(opts.file);
    let bytes: Buffer;
    try {
      bytes = await readFile(opts.file);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'ENOENT') throw new CairnError('SOURCE_NOT_FOUND', `WAL file ${opts.file} does not exist`);
      // archive_command passes %p, a file: anything else is the command line's mistake.
      if (code === 'EISDIR' || code === 'ENOTDIR' || code === 'ELOOP' || code === 'ENAMETOOLONG') {
        throw new CairnError('USAGE', `WAL file ${opts.file} cannot be read as a file (${code})`, {
          cause: err,
          hint: "archive_command = 'cairn wal-push --name NAME %p' passes the segment's path",
        });
      }
      throw fromSystemError(err, `WAL file ${opts.file}`);
    }
    if (!isSegmentName(segment)) {
      // Timeline history and backup history files: recovery does not need them from us
      // (cairn restores within one timeline), so accept them without storing.
      return { name: opts.name ?? '', segment, stored: false, recordId: null };
    }
    const header = segmentHeader(bytes);
    const name = opts.name ?? header.systemId;
    const lock = await RepoLock.acquire(host.repo, 'writer');
    try {
      await syncIndex(host.repo);
      await lock.recordMarksSeen();
      // A push killed after storing packs but before indexing them is retried by
      // PostgreSQL with the same segment: never deduplicate against packs only this cache knows.
      await indexLeftoverPacks(host.repo);
      const catalog = await WalCatalog.load(host.repo, name);
      if (catalog.systemId !== undefined && catalog.systemId !== header.systemId) {
        throw new CairnError('SOURCE_CONFIG', `source name "${name}" holds WAL of another cluster (system ${catalog.systemId})`, { hint: 'give this server its own --name' });
      }
      const have = catalog.best.get(segment);
      const hash = sha256Hex(bytes);
      if (have && !have.partial && have.sha256 === hash) return { name, segment, stored: false, recordId: have.recordId };
      if (have && !have.partial) {
        // Same name, other bytes: two servers with one system identifier (a restored copy
        // with archive_command still on, two promoted standbys) archive into one name.
        // Storing it would make the chain a mix of two histories; refusing makes
        // archive_command fail, PostgreSQL retry and log it, and an operator look.
        throw new CairnError('SOURCE_CONFIG', `archive mismatch: WAL segment ${segment} of "${name}" is already stored with other content (sha256 ${have.sha256.slice(0, 12)}…, this file ${hash.slice(0, 12)}…)`, {
          hint: 'two servers archive under one --name: give the other server its own --name (docs/sources/postgres.md, "Timelines")',
        });
      }
      const rec = await storeSegments(host.repo, { name, systemId: header.systemId, segmentSize: header.segmentSize }, [
        { name: segment, partial: false, bytes, ...(await commitTimes(this.client, segment, bytes)) },
      ]);
      return { name, segment, stored: true, recordId: rec?.id ?? null };
    } finally {
      await lock.release().catch(() => undefined);
    }
  }

  async pitr(host: SourceHost, name: string, opts: { server?: string; maxSlotLagBytes?: number } = {}): Promise<T.PitrReport> {
    const bases = await this.bases(host, name);
    const catalog = await WalCatalog.load(host.repo, name);
    if (bases.length === 0 && catalog.records.length === 0) {
      throw new CairnError('SNAPSHOT_NOT_FOUND', `no postgres source named "${name}" in this repository`, { hint: 'list sources with `cairn snapshots`; the name defaults to the system identifier' });
    }
    const a = analysePitr(bases, catalog);
    const report: T.PitrReport = {
      name,
      systemId: bases[0]?.meta.systemId ?? catalog.systemId ?? null,
      ok: !a.gapAfterNewestBase && a.windows.length > 0,
      windows: mergeWindows(a.windows),
      bases: a.windows.map((w) => ({ snapshot: w.snapshot, timeline: w.timeline, time: bases.find((b) => b.snapshotId === w.snapshot)!.time, from: w.from, to: w.to, lastSegment: w.lastSegment })),
      gaps: a.gaps.map(({ timeline, from, to, reason, after }) => ({ timeline, from, to, reason, after })),
      gapAfterNewestBase: a.gapAfterNewestBase,
      segments: catalog.best.size,
    };
    if (opts.server) {
      report.maxSlotLagBytes = opts.maxSlotLagBytes ?? DEFAULT_MAX_SLOT_LAG;
      report.slots = await this.slots(parsePgLocation(opts.server), report.maxSlotLagBytes);
    }
    return report;
  }

  private async slots(loc: PgLocation, max: number): Promise<NonNullable<T.PitrReport['slots']>> {
    // restart_lsn is the oldest WAL the slot makes the server keep; NULL for a slot that
    // reserves nothing yet. wal_status 'lost' means max_slot_wal_keep_size invalidated it.
    const q =
      "SELECT slot_name, active, COALESCE(pg_wal_lsn_diff(pg_current_wal_lsn(), restart_lsn), 0)::bigint, COALESCE(wal_status, '') FROM pg_replication_slots WHERE slot_type = 'physical' ORDER BY 1";
    const { stdout } = await this.client.run('psql', ['-X', '-A', '-t', '-F', '|', '-d', sqlUrl(loc), '-c', q], { timeoutMs: 15_000 });
    return stdout
      .split('\n')
      .filter((l) => l.includes('|'))
      .map((l) => {
        const [slot, active, bytes, status] = l.split('|');
        const retainedBytes = Number(bytes);
        return { name: slot!, active: active === 't', retainedBytes, tooMuch: retainedBytes > max, walStatus: status ? status : null };
      });
  }

  private async bases(host: SourceHost, name: string): Promise<PitrBase[]> {
    return (await host.snapshots())
      .filter((s) => s.source.type === POSTGRES && s.source.name === name && (s.sourceMeta as PgBaseMeta | undefined)?.kind === 'base')
      .map((s) => ({ snapshotId: s.id, time: s.time, meta: s.sourceMeta as unknown as PgBaseMeta }));
  }

  async restore(host: SourceHost, opts: T.PgRestoreOptions): Promise<T.PgRestoreResult> {
    const bases = await this.bases(host, opts.source);
    const catalog = await WalCatalog.load(host.repo, opts.source);
    const plan = planRestore(opts.source, analysePitr(bases, catalog), opts.at);
    // Everything above decides; nothing was written yet.
    await assertEmptyTarget(opts.target);
    if (opts.start) this.client.assertTool('pg_ctl');
    const snapshot = (await host.snapshots()).find((s) => s.id === plan.window.snapshot)!;
    const r = await host.restoreSnapshot(snapshot, opts.target, { ...(opts.onProgress ? { onProgress: opts.onProgress } : {}), ...(opts.signal ? { signal: opts.signal } : {}) });
    const owner = process.getuid?.() === 0 ? lookupUser('postgres') : null;
    await prepareRecovery(host.repo, opts.target, plan, { owner, ...(opts.start ? { port: opts.start.port } : {}) });
    const result: T.PgRestoreResult = {
      snapshot,
      target: opts.target,
      targetTime: plan.targetTime,
      window: { timeline: plan.window.timeline, from: plan.window.from, to: plan.window.to },
      segments: plan.segments.length,
      files: r.files,
      bytes: r.bytes,
    };
    if (opts.start) {
      await startAndWait(this.client, opts.target, { port: opts.start.port, owner, ...(opts.signal ? { signal: opts.signal } : {}) });
      result.started = { port: opts.start.port };
    }
    return result;
  }
}

/** A replication slot name: lower-case letters, digits and underscores, at most 63. */
export function slotName(name: string): string {
  return `cairn_${name.toLowerCase().replace(/[^a-z0-9_]/g, '_')}`.slice(0, 63);
}
