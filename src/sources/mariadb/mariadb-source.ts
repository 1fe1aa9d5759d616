import { spawn } from 'node:child_process';
import { createReadStream, createWriteStream } from 'node:fs';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { CairnError } from '../../core/errors/index.js';
import type { Progress, SnapshotInfo } from '../../engine/types.js';
import { isoMicros } from '../../util/iso-micros.js';
import { mergeWindows } from '../merge-windows.js';
import { snapshotOptions } from '../snapshot-options.js';
import type { SourceHost } from '../types.js';
import { BinlogCatalog, loadBinlog, MARIADB } from './binlog-catalog.js';
import { isoSeconds, scanBinlog } from './binlog-events.js';
import { BinlogStreamer } from './binlog-streamer.js';
import { parseMyTarget, type MyTarget } from './binlog-target.js';
import { analyseMyPitr, isMyBase, type MyBase, type MyDumpMeta } from './mariadb-pitr.js';
import { filterDatabases } from './filter-databases.js';
import { assertEmptyDir, startTempServer, type TempServer } from './my-datadir.js';
import type * as T from './mariadb-types.js';
import { MyClient, myToolError, serverInfo, type ServerInfo } from './my-client.js';
import { placePhysicalBase } from './physical-restore.js';
import { takePhysicalCopy } from './physical-backup.js';
import { planRestore, type RestorePlan } from './restore-plan.js';
import { parseMyLocation, type MyLocation } from './my-location.js';

export const DUMP_FILE = 'all-databases.sql';
const SYSTEM_DBS = new Set(['mysql', 'information_schema', 'performance_schema', 'sys']);

/**
 * MariaDB/MySQL as a Cairn source (docs/sources/mariadb.md): logical dumps
 * (mariadb-dump --single-transaction with binlog coordinates) or physical copies
 * (mariadb-backup, `?method=physical`) as snapshots of type `mariadb`; the binlog (mariadb-binlog --raw --stop-never) as WAL catalog records of
 * type `mariadb`; windows, gaps and restore to a time, a binlog position or a GTID.
 */
export class MariadbSource {
  readonly type = MARIADB;
  readonly client = new MyClient();

  async backup(host: SourceHost, opts: T.MyBackupOptions): Promise<T.MyBackupResult> {
    const loc = parseMyLocation(opts.url);
    const info = await serverInfo(this.client, loc);
    const name = opts.name ?? defaultName(info.hostname, info.port);
    const staging = await mkdtemp(join(tmpdir(), 'cairn-mariadb-'));
    try {
      const dir = join(staging, 'dump');
      if (loc.method === 'physical') return await this.backupPhysical(host, opts, loc, info, name, dir);
      await import('node:fs/promises').then((f) => f.mkdir(dir, { mode: 0o700 }));
      const startTime = host.clock.now().toISOString();
      // Uncompressed, so content-defined chunking finds the unchanged parts of the next dump.
      await this.client.run(
        'mariadb-dump',
        [...this.client.connArgs(loc), '--single-transaction', '--master-data=2', '--gtid', '--skip-dump-date', '--routines', '--events', '--triggers', '--all-databases', `--result-file=${join(dir, DUMP_FILE)}`],
        loc,
      );
      const stopTime = isoMicros(host.clock.now());
      const head = await readHead(join(dir, DUMP_FILE), 64 * 1024);
      const cm = /CHANGE MASTER TO MASTER_LOG_FILE='([^']+)', MASTER_LOG_POS=(\d+)/.exec(head);
      if (!cm) throw new CairnError('SOURCE_UNREACHABLE', 'mariadb-dump wrote no binlog coordinates (CHANGE MASTER TO comment)', { hint: 'check that binary logging is on and the user has RELOAD and REPLICATION CLIENT' });
      // The GTID position of exactly these coordinates (the dump prints it only at its end).
      const gtidRow = await this.client.query(loc, `SELECT BINLOG_GTID_POS('${cm[1]!.replace(/'/g, "''")}', ${Number(cm[2])})`).catch(() => []);
      const gtid = gtidRow[0]?.[0] && gtidRow[0][0] !== 'NULL' ? gtidRow[0][0] : null;
      const dbs = await this.databases(loc);
      const meta: MyDumpMeta = {
        kind: 'logical',
        serverId: String(info.serverId),
        serverVersion: info.version,
        binlogFile: cm[1]!,
        binlogPos: Number(cm[2]),
        gtid,
        startTime: startTime.replace(/\.(\d{3})Z$/, '.$1000Z'),
        stopTime,
        databases: dbs,
        dumpFile: DUMP_FILE,
      };
      return await this.store(host, opts, loc, info, name, dir, meta);
    } finally {
      await rm(staging, { recursive: true, force: true });
    }
  }

  /** `?method=physical`: a prepared mariadb-backup copy of the local data directory (physical-backup.ts). */
  private async backupPhysical(host: SourceHost, opts: T.MyBackupOptions, loc: MyLocation, info: ServerInfo, name: string, dir: string): Promise<T.MyBackupResult> {
    const startTime = isoMicros(host.clock.now());
    const copy = await takePhysicalCopy(this.client, loc, dir, info);
    const meta: MyDumpMeta = {
      kind: 'physical',
      serverId: String(info.serverId),
      serverVersion: info.version,
      binlogFile: copy.binlogFile,
      binlogPos: copy.binlogPos,
      gtid: copy.gtid,
      startTime,
      stopTime: isoMicros(host.clock.now()),
      databases: await this.databases(loc),
      datadir: copy.datadir,
      tool: copy.tool,
    };
    return this.store(host, opts, loc, info, name, dir, meta);
  }

  private async databases(loc: MyLocation): Promise<string[]> {
    return (await this.client.query(loc, 'SHOW DATABASES')).map((r) => r[0]!).filter((d) => !SYSTEM_DBS.has(d));
  }

  /** The staged dump or copy as a snapshot of type `mariadb`, its metadata in sourceMeta. */
  private async store(host: SourceHost, opts: T.MyBackupOptions, loc: MyLocation, info: ServerInfo, name: string, dir: string, meta: MyDumpMeta): Promise<T.MyBackupResult> {
    if (info.binlogFormat !== 'ROW') opts.onWarning?.({ path: '', code: 'SKIPPED', message: `binlog_format is ${info.binlogFormat}; ROW is recommended for exact point-in-time replay` });
    const res = await host.backupDirectory(
      dir,
      { source: { type: MARIADB, name }, paths: [loc.display], meta: { ...meta } },
      snapshotOptions(opts),
    );
    return { ...res, name };
  }

  async stream(host: SourceHost, opts: T.MyStreamOptions & { spoolRoot: string }): Promise<T.MyStreamResult> {
    const loc = parseMyLocation(opts.url);
    const info = await serverInfo(this.client, loc);
    const name = opts.name ?? defaultName(info.hostname, info.port);
    const spoolDir = opts.spoolDir ?? join(opts.spoolRoot, name.replace(/[^A-Za-z0-9_.-]/g, '_'), 'spool');
    const bases = await this.bases(host, name);
    const streamer = new BinlogStreamer(host.repo, this.client, loc, {
      name,
      serverId: String(info.serverId),
      clientServerId: clientServerId(name, info.serverId),
      spoolDir,
      firstFile: async () => {
        const onServer = (await this.client.query(loc, 'SHOW BINARY LOGS')).map((r) => r[0]!);
        const wanted = [...bases].sort((a, b) => a.meta.stopTime.localeCompare(b.meta.stopTime))[0]?.meta.binlogFile;
        if (wanted && onServer.includes(wanted)) return wanted;
        if (wanted) opts.onWarning?.(`binlog ${wanted} (of the oldest dump) is no longer on the server; starting at ${onServer[0]}: expect a gap`);
        if (!onServer[0]) throw new CairnError('SOURCE_UNREACHABLE', `SHOW BINARY LOGS on ${loc.display} returned nothing`);
        return onServer[0];
      },
      flushIntervalMs: opts.flushIntervalMs ?? 10_000,
      signal: opts.signal,
      onStarted: (file) => opts.onStarted?.({ name, file, spoolDir }),
      ...(opts.onFlush ? { onFlush: opts.onFlush } : {}),
      ...(opts.onWarning ? { onWarning: opts.onWarning } : {}),
    });
    const s = await streamer.run();
    return { name, ...s };
  }

  async bases(host: SourceHost, name: string): Promise<MyBase[]> {
    return (await host.snapshots())
      .filter((s) => s.source.type === MARIADB && s.source.name === name && isMyBase(s.sourceMeta))
      .map((s) => ({ snapshotId: s.id, time: s.time, meta: s.sourceMeta as unknown as MyDumpMeta }));
  }

  /** Null when the repository holds nothing of a mariadb source of that name. */
  async pitr(host: SourceHost, name: string): Promise<T.MyPitrReport | null> {
    const bases = await this.bases(host, name);
    const catalog = await BinlogCatalog.load(host.repo, name);
    if (bases.length === 0 && catalog.records.length === 0) return null;
    const a = analyseMyPitr(bases, catalog);
    return {
      type: 'mariadb',
      name,
      serverId: bases[0]?.meta.serverId ?? catalog.serverId ?? null,
      windows: mergeWindows(a.windows),
      bases: a.windows.map((w) => {
        const b = bases.find((x) => x.snapshotId === w.snapshot)!;
        const last = w.chain.at(-1);
        return { snapshot: w.snapshot, time: b.time, kind: b.meta.kind, binlogFile: b.meta.binlogFile, binlogPos: b.meta.binlogPos, gtid: b.meta.gtid, from: w.from, to: w.to, end: last ? `${last.name}:${last.size}` : null };
      }),
      gaps: a.gaps,
      gapAfterNewestBase: a.gapAfterNewestBase,
      files: catalog.best.size,
    };
  }

  async restore(host: SourceHost, opts: T.MyRestoreOptions): Promise<T.MyRestoreResult> {
    const target = parseMyTarget(opts);
    if ((opts.to === undefined) === (opts.target === undefined)) throw new CairnError('USAGE', 'give either --to mariadb://… or --target DIR');
    const sel = selection(opts);
    const all = await this.bases(host, opts.source);
    const catalog = await BinlogCatalog.load(host.repo, opts.source);
    // --to and --include-* load a dump; a physical base only ever becomes a whole new data directory.
    const plan = opts.to === undefined && !sel ? await planRestore(host.repo, opts.source, all, catalog, target) : await this.logicalPlan(host, opts, all, catalog, target);
    const base = plan.base;
    const w = plan.window;
    for (const db of sel?.keys() ?? []) {
      if (!base.meta.databases.includes(db)) throw new CairnError('PATH_NOT_FOUND', `database ${db} is not in dump ${w.snapshot.slice(0, 8)} (it has ${base.meta.databases.join(', ') || 'none'})`);
    }
    const wanted = sel ? [...sel.keys()] : base.meta.databases;
    const snapshot = (await host.snapshots()).find((s) => s.id === w.snapshot)!;
    const io = { ...(opts.onProgress ? { onProgress: opts.onProgress } : {}), ...(opts.signal ? { signal: opts.signal } : {}) };
    let temp: TempServer | null = null;
    let dest: MyLocation;
    const work = await mkdtemp(join(tmpdir(), 'cairn-mariadb-restore-'));
    // A physical base is staged next to the target: moving it into place is then a rename.
    const stage = base.meta.kind === 'physical' ? await mkdir(dirname(resolve(opts.target!)), { recursive: true }).then(() => mkdtemp(join(dirname(resolve(opts.target!)), '.cairn-mariadb-'))) : null;
    try {
      if (opts.target !== undefined) {
        await assertEmptyDir(opts.target);
        if (stage) {
          const defaultsFile = await placePhysicalBase(host, snapshot, opts.target, stage, io);
          temp = await startTempServer(opts.target, { defaultsFile });
        } else temp = await startTempServer(opts.target);
        dest = temp.loc;
      } else dest = parseMyLocation(opts.to!);
      if (base.meta.kind === 'logical') await this.loadDump(host, snapshot, base, dest, wanted, sel, work, io);
      const r = await this.replayBinlog(host, plan, dest, sel, work);
      return {
        snapshot,
        to: temp ? opts.target! : dest.display,
        ...(temp ? { target: opts.target! } : {}),
        targetTime: target.kind === 'time' && target.at !== 'latest' ? target.at : null,
        targetPosition: target.kind === 'position' ? { file: target.file, position: target.pos } : null,
        targetGtid: target.kind === 'gtid' ? target.gtid : null,
        window: { from: w.from, to: w.to },
        binlogFiles: r.used,
        stop: r.stop,
        gtid: r.gtid ?? base.meta.gtid,
        kind: base.meta.kind,
        databases: wanted,
      };
    } finally {
      await temp?.stop();
      await rm(work, { recursive: true, force: true });
      if (stage) await rm(stage, { recursive: true, force: true });
    }
  }

  /** The plan among logical dumps only; when only a physical base could serve, say what to do instead. */
  private async logicalPlan(host: SourceHost, opts: T.MyRestoreOptions, all: MyBase[], catalog: BinlogCatalog, target: MyTarget): Promise<RestorePlan> {
    try {
      return await planRestore(host.repo, opts.source, all.filter((b) => b.meta.kind === 'logical'), catalog, target);
    } catch (err) {
      const physical = await planRestore(host.repo, opts.source, all, catalog, target).catch(() => null);
      if (physical?.base.meta.kind === 'physical') {
        throw new CairnError('USAGE', `the base for this restore is physical (mariadb-backup ${physical.window.snapshot.slice(0, 8)}): it restores only as a whole new data directory, not ${opts.to !== undefined ? '--to a running server' : 'with --include-db/--include-table'}`, {
          hint: 'use --target DIR (then start a server on it, or dump from it what you need), or take a logical dump (cairn backup mariadb://… without ?method=physical)',
        });
      }
      throw err;
    }
  }

  /** Loads the dump (or the selected part of it) into a server that has none of the databases. */
  private async loadDump(host: SourceHost, snapshot: SnapshotInfo, base: MyBase, target: MyLocation, wanted: string[], sel: Map<string, Set<string> | null> | null, work: string, io: { onProgress?: (p: Progress) => void; signal?: AbortSignal }): Promise<void> {
    // Refuse before writing anything: the databases to restore must not exist on the target.
    const existing = (await this.client.query(target, 'SHOW DATABASES')).map((r) => r[0]!);
    const clash = wanted.filter((d) => existing.includes(d));
    if (clash.length > 0) {
      throw new CairnError('USAGE', `the target ${target.display} already has database${clash.length > 1 ? 's' : ''} ${clash.join(', ')}`, {
        hint: 'restore into an empty server (or drop them first); cairn never overwrites data',
      });
    }
    await host.restoreSnapshot(snapshot, join(work, 'dump'), io);
    const dump = join(work, 'dump', base.meta.dumpFile ?? DUMP_FILE);
    const load = sel ? join(work, 'filtered.sql') : dump;
    if (sel) await pipeline(createReadStream(dump), filterDatabases(sel), createWriteStream(load));
    await this.client.run('mariadb', [...this.client.connArgs(target)], target, { stdinFile: load });
  }

  /** Replays the binlog chain from the base's coordinates up to the plan's cut. */
  private async replayBinlog(host: SourceHost, plan: RestorePlan, target: MyLocation, sel: Map<string, Set<string> | null> | null, work: string): Promise<{ used: number; stop: T.MyRestoreResult['stop']; gtid: string | null }> {
    // One replay per database (mariadb-binlog takes one --database), per table for a table selection.
    const filters: string[][] = sel ? [...sel.entries()].flatMap(([db, tables]) => (tables ? [...tables].map((t) => [`--database=${db}`, `--table=${t}`]) : [[`--database=${db}`]])) : [[]];
    let stop: T.MyRestoreResult['stop'] = null;
    let gtid: string | null = null;
    let used = 0;
    for (const [i, f] of plan.window.chain.entries()) {
      const bytes = await loadBinlog(host.repo, f);
      const scan = scanBinlog(bytes);
      const start = i === 0 ? plan.base.meta.binlogPos : 4;
      let end: number;
      let last: boolean;
      if (plan.stopAt) {
        last = f.name === plan.stopAt.file;
        end = last ? plan.stopAt.pos : scan.safeEnd;
      } else {
        const excluded = plan.cutSec === null ? undefined : scan.groups.find((g) => g.start >= start && g.time > plan.cutSec!);
        end = excluded ? excluded.start : scan.safeEnd;
        last = excluded !== undefined;
      }
      if (end > start) {
        const file = join(work, f.name);
        await writeFile(file, bytes);
        for (const filter of filters) await this.replay(target, [`--start-position=${start}`, `--stop-position=${end}`, ...filter, file]);
        await rm(file, { force: true });
        used++;
        gtid = scan.groups.filter((g) => g.start >= start && g.end <= end).at(-1)?.gtid ?? gtid;
      }
      stop = { file: f.name, position: Math.max(end, start) };
      if (last) break;
    }
    return { used, stop, gtid };
  }

  /** `mariadb-binlog ARGS | mariadb` with TZ=UTC; fails on either side's error. */
  private replay(target: MyLocation, args: string[]): Promise<void> {
    return new Promise((resolve, reject) => {
      const dec = spawn('mariadb-binlog', args, { env: { ...process.env, TZ: 'UTC' }, stdio: ['ignore', 'pipe', 'pipe'] });
      const cli = this.client.spawn('mariadb', this.client.connArgs(target), target, ['pipe', 'ignore', 'pipe'] as ('ignore' | 'pipe')[]);
      let decErr = '';
      let cliErr = '';
      dec.stderr!.on('data', (d: Buffer) => (decErr += d.toString()));
      cli.stderr!.on('data', (d: Buffer) => (cliErr += d.toString()));
      dec.stdout!.pipe(cli.stdin!);
      let decCode: number | null | undefined;
      dec.on('error', reject);
      cli.on('error', reject);
      dec.on('exit', (c) => (decCode = c));
      cli.on('exit', (c) => {
        if (c !== 0) return reject(myToolError('mariadb (binlog replay)', cliErr));
        const finish = (): void => (decCode === 0 ? resolve() : reject(myToolError('mariadb-binlog', decErr || `exited ${decCode}`)));
        if (decCode !== undefined) finish();
        else dec.once('exit', (x) => ((decCode = x), finish()));
      });
    });
  }
}

export function defaultName(hostname: string, port: number): string {
  return `${hostname}-${port}`.replace(/[^A-Za-z0-9_.-]/g, '_');
}

/** A stable server id for mariadb-binlog, unlikely to collide with real servers. */
function clientServerId(name: string, serverId: number): number {
  let h = 0;
  for (const c of name) h = (h * 31 + c.charCodeAt(0)) >>> 0;
  const id = 4_000_000_000 + (h % 200_000_000);
  return id === serverId ? id + 1 : id;
}

async function readHead(file: string, n: number): Promise<string> {
  const fh = await import('node:fs/promises').then((f) => f.open(file, 'r'));
  try {
    const buf = Buffer.alloc(n);
    const { bytesRead } = await fh.read(buf, 0, n, 0);
    return buf.subarray(0, bytesRead).toString('utf8');
  } finally {
    await fh.close();
  }
}

export { isoSeconds };
// Re-exported: tests and tools import it from here.
export { filterDatabases };

/** --include-db and --include-table as database → tables (null: the whole database); null when neither is given. */
function selection(opts: T.MyRestoreOptions): Map<string, Set<string> | null> | null {
  if (!opts.includeDb?.length && !opts.includeTable?.length) return null;
  const sel = new Map<string, Set<string> | null>();
  for (const db of opts.includeDb ?? []) sel.set(db, null);
  for (const dt of opts.includeTable ?? []) {
    const i = dt.indexOf('.');
    if (i <= 0 || i === dt.length - 1) throw new CairnError('USAGE', `--include-table "${dt}": expected DATABASE.TABLE`);
    const db = dt.slice(0, i);
    if (sel.has(db) && sel.get(db) === null) continue;
    const set = sel.get(db) ?? new Set<string>();
    set.add(dt.slice(i + 1));
    sel.set(db, set);
  }
  return sel;
}
