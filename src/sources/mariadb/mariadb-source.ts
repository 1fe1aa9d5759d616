import { spawn } from 'node:child_process';
import { createReadStream, createWriteStream } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Transform, type TransformCallback } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { CairnError } from '../../core/errors/index.js';
import type { SourceHost } from '../types.js';
import { BinlogCatalog, loadBinlog, MARIADB } from './binlog-catalog.js';
import { isoSeconds, scanBinlog } from './binlog-events.js';
import { BinlogStreamer } from './binlog-streamer.js';
import { analyseMyPitr, chooseWindow, mergeMyWindows, type MyBase, type MyDumpMeta, type MyWindow } from './mariadb-pitr.js';
import { assertEmptyDir, startTempServer, type TempServer } from './my-datadir.js';
import type * as T from './mariadb-types.js';
import { MyClient, myToolError, serverInfo } from './my-client.js';
import { parseMyLocation, type MyLocation } from './my-location.js';

export const DUMP_FILE = 'all-databases.sql';
const SYSTEM_DBS = new Set(['mysql', 'information_schema', 'performance_schema', 'sys']);

/**
 * MariaDB/MySQL as a Cairn source (docs/sources/mariadb.md): logical dumps
 * (mariadb-dump --single-transaction with binlog coordinates) as snapshots of type
 * `mariadb`; the binlog (mariadb-binlog --raw --stop-never) as WAL catalog records of
 * type `mariadb`; windows, gaps and restore to a time into a target server.
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
      await import('node:fs/promises').then((f) => f.mkdir(dir, { mode: 0o700 }));
      const startTime = host.clock.now().toISOString();
      // Uncompressed, so content-defined chunking finds the unchanged parts of the next dump.
      await this.client.run(
        'mariadb-dump',
        [...this.client.connArgs(loc), '--single-transaction', '--master-data=2', '--gtid', '--skip-dump-date', '--routines', '--events', '--triggers', '--all-databases', `--result-file=${join(dir, DUMP_FILE)}`],
        loc,
      );
      const stopTime = host.clock.now().toISOString().replace(/\.(\d{3})Z$/, '.$1000Z');
      const head = await readHead(join(dir, DUMP_FILE), 64 * 1024);
      const cm = /CHANGE MASTER TO MASTER_LOG_FILE='([^']+)', MASTER_LOG_POS=(\d+)/.exec(head);
      if (!cm) throw new CairnError('SOURCE_UNREACHABLE', 'mariadb-dump wrote no binlog coordinates (CHANGE MASTER TO comment)', { hint: 'check that binary logging is on and the user has RELOAD and REPLICATION CLIENT' });
      // The GTID position of exactly these coordinates (the dump prints it only at its end).
      const gtidRow = await this.client.query(loc, `SELECT BINLOG_GTID_POS('${cm[1]!.replace(/'/g, "''")}', ${Number(cm[2])})`).catch(() => []);
      const gtid = gtidRow[0]?.[0] && gtidRow[0][0] !== 'NULL' ? gtidRow[0][0] : null;
      const dbs = (await this.client.query(loc, 'SHOW DATABASES')).map((r) => r[0]!).filter((d) => !SYSTEM_DBS.has(d));
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
      if (info.binlogFormat !== 'ROW') opts.onWarning?.({ path: '', code: 'SKIPPED', message: `binlog_format is ${info.binlogFormat}; ROW is recommended for exact point-in-time replay` });
      const res = await host.backupDirectory(
        dir,
        { source: { type: MARIADB, name }, paths: [loc.display], meta: { ...meta } },
        {
          ...(opts.mode ? { mode: opts.mode } : {}),
          ...(opts.tags ? { tags: opts.tags } : {}),
          ...(opts.host ? { host: opts.host } : {}),
          ...(opts.onProgress ? { onProgress: opts.onProgress } : {}),
          ...(opts.onWarning ? { onWarning: opts.onWarning } : {}),
          ...(opts.signal ? { signal: opts.signal } : {}),
        },
      );
      return { ...res, name };
    } finally {
      await rm(staging, { recursive: true, force: true });
    }
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
      .filter((s) => s.source.type === MARIADB && s.source.name === name && (s.sourceMeta as MyDumpMeta | undefined)?.kind === 'logical')
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
      windows: mergeMyWindows(a.windows),
      bases: a.windows.map((w) => {
        const b = bases.find((x) => x.snapshotId === w.snapshot)!;
        return { snapshot: w.snapshot, time: b.time, binlogFile: b.meta.binlogFile, binlogPos: b.meta.binlogPos, from: w.from, to: w.to };
      }),
      gaps: a.gaps,
      gapAfterNewestBase: a.gapAfterNewestBase,
      files: catalog.best.size,
    };
  }

  async restore(host: SourceHost, opts: T.MyRestoreOptions): Promise<T.MyRestoreResult> {
    const bases = await this.bases(host, opts.source);
    const catalog = await BinlogCatalog.load(host.repo, opts.source);
    const w = chooseWindow(opts.source, analyseMyPitr(bases, catalog), opts.at);
    const base = bases.find((b) => b.snapshotId === w.snapshot)!;
    if ((opts.to === undefined) === (opts.target === undefined)) throw new CairnError('USAGE', 'give either --to mariadb://… or --target DIR');
    const sel = selection(opts);
    for (const db of sel?.keys() ?? []) {
      if (!base.meta.databases.includes(db)) throw new CairnError('PATH_NOT_FOUND', `database ${db} is not in dump ${w.snapshot.slice(0, 8)} (it has ${base.meta.databases.join(', ') || 'none'})`);
    }
    const wanted = sel ? [...sel.keys()] : base.meta.databases;
    let temp: TempServer | null = null;
    let target: MyLocation;
    if (opts.target !== undefined) {
      await assertEmptyDir(opts.target);
      temp = await startTempServer(opts.target);
      target = temp.loc;
    } else target = parseMyLocation(opts.to!);
    try {
      const r = await this.load(host, opts, w, base, target, wanted);
      return temp ? { ...r, to: opts.target!, target: opts.target! } : r;
    } finally {
      await temp?.stop();
    }
  }

  private async load(host: SourceHost, opts: T.MyRestoreOptions, w: MyWindow, base: MyBase, target: MyLocation, wanted: string[]): Promise<T.MyRestoreResult> {
    const sel = selection(opts);
    // Refuse before writing anything: the databases to restore must not exist on the target.
    const existing = (await this.client.query(target, 'SHOW DATABASES')).map((r) => r[0]!);
    const clash = wanted.filter((d) => existing.includes(d));
    if (clash.length > 0) {
      throw new CairnError('USAGE', `the target ${target.display} already has database${clash.length > 1 ? 's' : ''} ${clash.join(', ')}`, {
        hint: 'restore into an empty server (or drop them first); cairn never overwrites data',
      });
    }
    const snapshot = (await host.snapshots()).find((s) => s.id === w.snapshot)!;
    const work = await mkdtemp(join(tmpdir(), 'cairn-mariadb-restore-'));
    try {
      await host.restoreSnapshot(snapshot, join(work, 'dump'), { ...(opts.onProgress ? { onProgress: opts.onProgress } : {}), ...(opts.signal ? { signal: opts.signal } : {}) });
      const dump = join(work, 'dump', base.meta.dumpFile);
      const load = sel ? join(work, 'filtered.sql') : dump;
      if (sel) await pipeline(createReadStream(dump), filterDatabases(sel), createWriteStream(load));
      // One replay per database (mariadb-binlog takes one --database), per table for a table selection.
      const filters: string[][] = sel ? [...sel.entries()].flatMap(([db, tables]) => (tables ? [...tables].map((t) => [`--database=${db}`, `--table=${t}`]) : [[`--database=${db}`]])) : [[]];
      await this.client.run('mariadb', [...this.client.connArgs(target)], target, { stdinFile: load });
      // Replay the binlog from the dump's coordinates up to the cut.
      const cutSec = opts.at === 'latest' ? null : Math.floor(Date.parse(opts.at) / 1000);
      let stop: T.MyRestoreResult['stop'] = null;
      let used = 0;
      for (const [i, f] of w.chain.entries()) {
        const bytes = await loadBinlog(host.repo, f);
        const scan = scanBinlog(bytes);
        const start = i === 0 ? base.meta.binlogPos : 4;
        const excluded = cutSec === null ? undefined : scan.groups.find((g) => g.start >= start && g.time > cutSec);
        const end = excluded ? excluded.start : scan.safeEnd;
        if (end > start) {
          const file = join(work, f.name);
          await writeFile(file, bytes);
          for (const filter of filters) await this.replay(target, [`--start-position=${start}`, `--stop-position=${end}`, ...filter, file]);
          used++;
        }
        stop = { file: f.name, position: end };
        if (excluded) break;
      }
      return {
        snapshot,
        to: target.display,
        targetTime: opts.at === 'latest' ? null : opts.at,
        window: { from: w.from, to: w.to },
        binlogFiles: used,
        stop,
        databases: wanted,
      };
    } finally {
      await rm(work, { recursive: true, force: true });
    }
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

/**
 * Keeps the header and footer of an --all-databases dump and the sections of the given
 * databases (each starts with a `-- Current Database: \`db\`` comment).
 */
export function filterDatabases(keep: Set<string> | Map<string, Set<string> | null>): Transform {
  const sel: Map<string, Set<string> | null> = keep instanceof Map ? keep : new Map([...keep].map((d) => [d, null]));
  let rest = '';
  let on = true;
  let tables: Set<string> | null = null;
  let tableOn = true;
  const take = (line: string): string => {
    const m = /^-- Current Database: `((?:[^`]|``)+)`/.exec(line);
    const t = /^-- (?:Table structure for table|Dumping data for table|Temporary table structure for view|Final view structure for view) `((?:[^`]|``)+)`/.exec(line);
    if (m) {
      const db = m[1]!.replace(/``/g, '`');
      on = sel.has(db);
      tables = sel.get(db) ?? null;
      tableOn = true;
    } else if (t) tableOn = tables === null || tables.has(t[1]!.replace(/``/g, '`'));
    else if (/^-- Dumping (events|routines) for database/.test(line)) tableOn = tables === null;
    else if (/^\/\*!40103 SET TIME_ZONE=@OLD_TIME_ZONE \*\/;/.test(line)) {
      on = true; // footer
      tableOn = true;
    }
    return on && tableOn ? line + '\n' : '';
  };
  return new Transform({
    transform(chunk: Buffer, _enc, cb: TransformCallback) {
      const lines = (rest + chunk.toString('utf8')).split('\n');
      rest = lines.pop() ?? '';
      cb(null, lines.map(take).join(''));
    },
    flush(cb: TransformCallback) {
      cb(null, rest ? take(rest).replace(/\n$/, '') : '');
    },
  });
}

export { isoSeconds };

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
