import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { copyFile, mkdir, mkdtemp, rename, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import { CairnError } from '../../core/errors/index.js';
import type { BackupResult, Progress, SnapshotInfo } from '../../engine/types.js';
import { scanPacks, syncIndex } from '../../repository/index-sync.js';
import { RepoLock } from '../../repository/lock.js';
import { snapshotOptions } from '../snapshot-options.js';
import type { SourceHost } from '../types.js';
import { loadEntry, loadRedisLog, REDIS, storeLog, type LogCommand, type RedisBaseMeta } from './redis-log.js';
import { defaultRedisName, parseRedisLocation, type RedisLocation } from './redis-location.js';
import { analyseRedis, chooseWindow, selectCommands, type RedisBase } from './redis-pitr.js';
import { parseInfo, RedisLink, type StreamedCommand } from './replica-link.js';
import { RespError } from './resp.js';
import { abortableSleep, settledSignal } from '../../util/abortable-sleep.js';

export const DEFAULT_REDIS_FLUSH_MS = 10_000;

export interface RedisBackupOptions {
  url: string;
  name?: string;
  tags?: string[];
  host?: string;
  signal?: AbortSignal;
  onProgress?: (p: Progress) => void;
}
export interface RedisBackupResult extends BackupResult {
  name: string;
}
export interface RedisStreamOptions {
  url: string;
  name?: string;
  flushIntervalMs?: number;
  signal: AbortSignal;
  onStarted?: (i: { name: string; replid: string; offset: number; resumed: boolean }) => void;
  onFlush?: (f: { commands: number; recordId: string | null; offset: number }) => void;
  onWarning?: (m: string) => void;
}
export interface RedisStreamResult {
  name: string;
  flushes: number;
  records: number;
  commands: number;
  bases: number;
  reconnects: number;
  offset: number;
}
export interface RedisPitrReport {
  type: 'redis';
  name: string;
  ok: boolean;
  windows: { from: string; to: string }[];
  bases: { snapshot: string; replid: string; offset: number; from: string; to: string; endOffset: number }[];
  gaps: { from: string; to: string; reason: 'missing' | 'new-base'; fromOffset?: number; toOffset?: number }[];
  gapAfterNewestBase: boolean;
  records: number;
  /** With a server URL: how far the stored log is behind the master, and the connected replicas. */
  server?: { masterReplOffset: number; replid: string; storedOffset: number | null; lagBytes: number | null; replicas: { addr: string; offset: number; lagBytes: number }[] };
}
export interface RedisRestoreOptions {
  source: string;
  at: string;
  /** A directory to write dump.rdb into (must not hold one), or … */
  target?: string;
  /** … a running server to write the keys into (DUMP/RESTORE REPLACE). */
  to?: string;
  signal?: AbortSignal;
}
export interface RedisRestoreResult {
  snapshot: SnapshotInfo;
  targetTime: string | null;
  lastApplied: string | null;
  window: { from: string; to: string };
  commands: number;
  errors: number;
  target?: string;
  to?: string;
  keys?: number;
}

/**
 * Redis as a Cairn source (docs/sources/redis.md): an RDB taken over the replication
 * protocol (PSYNC; nothing written on the server's disk, no CONFIG change) as a snapshot
 * of type `redis`; `stream` stays connected as a replica and stores the command stream
 * with arrival times and offsets as `wal/` records; restore = base RDB + the commands up
 * to T replayed into a private redis-server, then SAVE.
 */
export class RedisSource {
  readonly type = REDIS;

  constructor(private readonly env: Record<string, string | undefined> = process.env) {}

  async backup(host: SourceHost, opts: RedisBackupOptions): Promise<RedisBackupResult> {
    const loc = parseRedisLocation(opts.url);
    const name = opts.name ?? defaultRedisName(loc);
    const staging = await mkdtemp(join(tmpdir(), 'cairn-redis-base-'));
    try {
      const link = await RedisLink.open(loc);
      let meta: RedisBaseMeta;
      try {
        const version = await serverVersion(link);
        const a = await link.psync(null, 0);
        if (!a.full) throw new CairnError('SOURCE_CONFIG', `redis at ${loc.display} did not send a full resync`);
        const bytes = await link.receiveRdb(join(staging, 'dump.rdb'), opts.signal);
        meta = { kind: 'base', replid: a.replid, offset: a.offset, serverVersion: version, time: host.clock.now().toISOString(), rdbBytes: bytes, origin: 'backup' };
      } finally {
        link.close();
      }
      const res = await host.backupDirectory(staging, { source: { type: REDIS, name }, paths: [loc.display], meta: { ...meta } }, snapshotOptions(opts));
      return { ...res, name };
    } finally {
      await rm(staging, { recursive: true, force: true });
    }
  }

  async stream(host: SourceHost, opts: RedisStreamOptions): Promise<RedisStreamResult> {
    const loc = parseRedisLocation(opts.url);
    const name = opts.name ?? defaultRedisName(loc);
    return new RedisStreamer(host, loc, name, opts).run();
  }

  private async bases(host: SourceHost, name: string): Promise<(RedisBase & { info: SnapshotInfo })[]> {
    return (await host.snapshots())
      .filter((s) => s.source.type === REDIS && s.source.name === name && (s.sourceMeta as RedisBaseMeta | undefined)?.kind === 'base')
      .map((s) => ({ snapshotId: s.id, meta: s.sourceMeta as unknown as RedisBaseMeta, info: s }));
  }

  async pitr(host: SourceHost, name: string, opts: { server?: string } = {}): Promise<RedisPitrReport> {
    const bases = await this.bases(host, name);
    const { records, entries } = await loadRedisLog(host.repo, name);
    if (bases.length === 0 && records.length === 0) throw new CairnError('SNAPSHOT_NOT_FOUND', `no redis source named "${name}" in this repository`);
    const a = analyseRedis(bases, entries);
    const report: RedisPitrReport = {
      type: 'redis',
      name,
      ok: !a.gapAfterNewestBase && a.windows.length > 0,
      windows: a.merged,
      bases: a.windows.map((w) => ({ snapshot: w.snapshot, replid: w.replid, offset: bases.find((b) => b.snapshotId === w.snapshot)!.meta.offset, from: w.from, to: w.to, endOffset: w.endOffset })),
      gaps: a.gaps,
      gapAfterNewestBase: a.gapAfterNewestBase,
      records: records.length,
    };
    if (opts.server) {
      const link = await RedisLink.open(parseRedisLocation(opts.server));
      try {
        const r = await link.callOk(['INFO', 'replication']);
        const info = parseInfo(Buffer.isBuffer(r) ? r.toString('utf8') : String(r));
        const master = Number(info.get('master_repl_offset') ?? 0);
        const replid = info.get('master_replid') ?? '';
        const stored = a.resume && a.resume.replid === replid ? a.resume.offset : null;
        const replicas: { addr: string; offset: number; lagBytes: number }[] = [];
        for (const [k, v] of info) {
          if (!/^slave\d+$/.test(k)) continue;
          const f = Object.fromEntries(v.split(',').map((p) => p.split('=') as [string, string]));
          replicas.push({ addr: `${f.ip}:${f.port}`, offset: Number(f.offset), lagBytes: master - Number(f.offset) });
        }
        report.server = { masterReplOffset: master, replid, storedOffset: stored, lagBytes: stored === null ? null : master - stored, replicas };
      } finally {
        link.close();
      }
    }
    return report;
  }

  async restore(host: SourceHost, opts: RedisRestoreOptions): Promise<RedisRestoreResult> {
    const bases = await this.bases(host, opts.source);
    const { entries } = await loadRedisLog(host.repo, opts.source);
    const a = analyseRedis(bases, entries);
    if (bases.length === 0 && entries.length === 0) throw new CairnError('SNAPSHOT_NOT_FOUND', `no redis source named "${opts.source}" in this repository`);
    const window = chooseWindow(opts.source, a, opts.at);
    const base = bases.find((b) => b.snapshotId === window.snapshot)!;
    if (opts.target && existsSync(join(opts.target, 'dump.rdb'))) {
      throw new CairnError('USAGE', `${join(opts.target, 'dump.rdb')} exists; cairn never overwrites a server's data`, { hint: 'restore into an empty directory' });
    }
    const server = findRedisServer(this.env);
    const at = opts.at === 'latest' ? null : opts.at;
    const loaded: LogCommand[][] = [];
    for (const e of window.chain) {
      if (at !== null && e.firstCommit && Date.parse(e.firstCommit) > Date.parse(at)) break; // arrival times only grow
      loaded.push(await loadEntry(host.repo, e));
    }
    const sel = selectCommands(window, base.meta.offset, loaded, at);
    // Everything above decides; nothing was written yet.
    const work = await mkdtemp(join(tmpdir(), 'cairn-redis-restore-'));
    let child: ChildProcess | null = null;
    try {
      await host.restoreSnapshot(base.info, join(work, 'base'), opts.signal ? { signal: opts.signal } : {});
      await mkdir(join(work, 'data'), { mode: 0o700 });
      await copyFile(join(work, 'base', 'dump.rdb'), join(work, 'data', 'dump.rdb'));
      const sock = join(work, 'redis.sock');
      child = spawn(server, ['--port', '0', '--unixsocket', sock, '--dir', join(work, 'data'), '--dbfilename', 'dump.rdb', '--save', '', '--appendonly', 'no', '--daemonize', 'no'], { stdio: ['ignore', 'ignore', 'pipe'] });
      const link = await waitForServer(sock, child);
      let errors = 0;
      try {
        errors = await replay(link, sel.commands);
        const result: RedisRestoreResult = {
          snapshot: base.info,
          targetTime: at,
          lastApplied: sel.lastApplied,
          window: { from: window.from, to: window.to },
          commands: sel.commands.length,
          errors,
        };
        if (opts.to) {
          result.keys = await copyKeys(link, parseRedisLocation(opts.to));
          result.to = parseRedisLocation(opts.to).display;
        }
        const saved = await link.call(['SAVE']);
        if (saved instanceof RespError) throw new CairnError('INTERNAL', `SAVE in the private redis-server failed: ${saved.message}`);
        if (opts.target) {
          await mkdir(opts.target, { recursive: true });
          const tmp = join(opts.target, `.dump.rdb.cairn-${process.pid}`);
          await copyFile(join(work, 'data', 'dump.rdb'), tmp);
          await rename(tmp, join(opts.target, 'dump.rdb'));
          result.target = opts.target;
        }
        return result;
      } finally {
        link.close();
      }
    } finally {
      if (child && child.exitCode === null) {
        const exited = new Promise((r) => child!.once('exit', r));
        child.kill('SIGKILL');
        await exited;
      }
      await rm(work, { recursive: true, force: true });
    }
  }
}

/** Replays raw commands on one connection, pipelined in batches; returns how many failed. */
async function replay(link: RedisLink, cmds: LogCommand[]): Promise<number> {
  let errors = 0;
  for (let i = 0; i < cmds.length; i += 1000) {
    const batch = cmds.slice(i, i + 1000);
    link.write(Buffer.concat(batch.map((c) => c.raw)));
    for (let j = 0; j < batch.length; j++) if ((await link.readValue()) instanceof RespError) errors++;
  }
  return errors;
}

/** Writes every key of the private server into a running one (DUMP/RESTORE … REPLACE ABSTTL). */
async function copyKeys(src: RedisLink, to: RedisLocation): Promise<number> {
  const dst = await RedisLink.open(to);
  let n = 0;
  try {
    const ks = parseInfo(String(await src.callOk(['INFO', 'keyspace'])));
    for (const db of [...ks.keys()].filter((k) => /^db\d+$/.test(k)).map((k) => Number(k.slice(2)))) {
      await src.callOk(['SELECT', db]);
      await dst.callOk(['SELECT', db]);
      let cursor = '0';
      do {
        const r = (await src.callOk(['SCAN', cursor, 'COUNT', 1000])) as [Buffer, Buffer[]];
        cursor = r[0].toString();
        for (const key of r[1]) {
          const dump = await src.call(['DUMP', key]);
          if (!Buffer.isBuffer(dump)) continue;
          const pttl = Number(await src.call(['PTTL', key]));
          const at = pttl > 0 ? Date.now() + pttl : 0;
          await dst.callOk(at > 0 ? ['RESTORE', key, at, dump, 'REPLACE', 'ABSTTL'] : ['RESTORE', key, 0, dump, 'REPLACE']);
          n++;
        }
      } while (cursor !== '0');
    }
  } finally {
    dst.close();
  }
  return n;
}

async function waitForServer(sock: string, child: ChildProcess): Promise<RedisLink> {
  let stderr = '';
  child.stderr?.setEncoding('utf8');
  child.stderr?.on('data', (s: string) => (stderr = (stderr + s).slice(-2000)));
  const loc = parseRedisLocation('redis://localhost:0');
  const deadline = Date.now() + 120_000;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new CairnError('SOURCE_CONFIG', `the private redis-server for the restore exited: ${stderr.trim().split('\n').at(-1) ?? ''}`);
    if (existsSync(sock)) {
      try {
        const link = await RedisLink.open(loc, { socketPath: sock });
        const r = await link.call(['PING']);
        if (!(r instanceof RespError)) return link; // -LOADING while it reads the RDB
        link.close();
      } catch {
        // not ready
      }
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new CairnError('SOURCE_CONFIG', 'the private redis-server for the restore did not start within 120 s');
}

export function findRedisServer(env: Record<string, string | undefined>): string {
  if (env.CAIRN_REDIS_SERVER) return env.CAIRN_REDIS_SERVER;
  for (const d of (env.PATH ?? '/usr/bin:/bin').split(delimiter)) if (d && existsSync(join(d, 'redis-server'))) return join(d, 'redis-server');
  if (existsSync('/usr/sbin/redis-server')) return '/usr/sbin/redis-server';
  throw new CairnError('SOURCE_CONFIG', 'redis-server is not installed: a redis restore replays the log in a private redis-server', {
    hint: 'install redis-server (the same major version as the source) or set CAIRN_REDIS_SERVER',
  });
}

async function serverVersion(link: RedisLink): Promise<string> {
  const r = await link.call(['INFO', 'server']);
  if (r instanceof RespError) return '?'; // a replication-only user may not run INFO
  return parseInfo(Buffer.isBuffer(r) ? r.toString('utf8') : String(r)).get('redis_version') ?? '?';
}

/**
 * Stays connected as a replica. The repository is the state: on start it resumes after
 * the furthest stored offset of the newest base (PSYNC replid offset+1 → +CONTINUE, no
 * gap); a +FULLRESYNC stores the RDB as a new base first (pitr then shows the gap).
 * Commands are kept in memory and stored every flush interval, and on stop.
 */
class RedisStreamer {
  private pending: LogCommand[] = [];
  private replid = '';
  private lock: RepoLock | null = null;
  private stats: RedisStreamResult;

  constructor(
    private readonly host: SourceHost,
    private readonly loc: RedisLocation,
    private readonly name: string,
    private readonly opts: RedisStreamOptions,
  ) {
    this.stats = { name, flushes: 0, records: 0, commands: 0, bases: 0, reconnects: 0, offset: 0 };
  }

  async run(): Promise<RedisStreamResult> {
    const { signal } = this.opts;
    const repo = this.host.repo;
    const lock = await RepoLock.acquire(repo, 'writer');
    this.lock = lock;
    try {
      await syncIndex(repo);
      await lock.recordMarksSeen();
      await scanPacks(repo);
      const bases = (await this.host.snapshots())
        .filter((s) => s.source.type === REDIS && s.source.name === this.name && (s.sourceMeta as RedisBaseMeta | undefined)?.kind === 'base')
        .map((s) => ({ snapshotId: s.id, meta: s.sourceMeta as unknown as RedisBaseMeta }));
      const { entries } = await loadRedisLog(repo, this.name);
      let position = analyseRedis(bases, entries).resume;
      let failures = 0;
      let first = true;
      while (!signal.aborted) {
        let link: RedisLink | null = null;
        try {
          link = await RedisLink.open(this.loc);
          const version = await serverVersion(link);
          const a = await link.psync(position?.replid ?? null, position?.offset ?? 0);
          if (a.full) {
            if (position) this.opts.onWarning?.(`redis answered FULLRESYNC instead of continuing at ${position.replid}:${position.offset + 1} (its backlog no longer holds it): storing a new base; \`cairn pitr ${this.name}\` shows the gap`);
            await this.flush(); // what the old link delivered belongs to the old chain
            await this.storeBase(link, a.replid, a.offset, version);
          } else if (a.replid !== position!.replid) {
            // PSYNC2 after a failover: the same history under a new id. Later entries carry it.
            this.opts.onWarning?.(`redis continues under a new replication id ${a.replid}`);
          }
          this.replid = a.replid;
          this.opts.onStarted?.({ name: this.name, replid: a.replid, offset: link.offset, resumed: !a.full });
          first = false;
          failures = 0;
          const closed = new Promise<Error>((resolve) => (link!.onClose = resolve));
          link.onCommand = (c: StreamedCommand) => {
            this.pending.push({ time: c.time, start: c.start, raw: c.raw });
            this.stats.offset = c.end;
          };
          this.stats.offset = link.offset;
          link.startStreaming();
          let ended: Error | null = null;
          void closed.then((e) => (ended = e));
          const closedSignal = settledSignal(closed);
          while (!signal.aborted && !ended) {
            await abortableSleep(this.opts.flushIntervalMs ?? DEFAULT_REDIS_FLUSH_MS, signal, closedSignal);
            await this.flush();
          }
          position = { replid: this.replid, offset: this.stats.offset };
          if (ended && !signal.aborted) throw ended;
        } catch (err) {
          link?.close();
          if (signal.aborted) break;
          const e = err instanceof CairnError ? err : new CairnError('SOURCE_UNREACHABLE', (err as Error).message);
          // A refusal at the first connection is a configuration problem: stop at once.
          if (first || e.code !== 'SOURCE_UNREACHABLE' || ++failures > 30) throw e;
          await this.flush();
          position = this.replid ? { replid: this.replid, offset: this.stats.offset } : position;
          this.opts.onWarning?.(`${e.message}; reconnecting`);
          this.stats.reconnects++;
          await abortableSleep(Math.min(200 * failures, 5000), signal);
          continue;
        } finally {
          link?.close();
        }
      }
      await this.flush();
      return this.stats;
    } finally {
      await lock.release().catch(() => undefined);
    }
  }

  private async storeBase(link: RedisLink, replid: string, offset: number, version: string): Promise<void> {
    const staging = await mkdtemp(join(tmpdir(), 'cairn-redis-base-'));
    try {
      const bytes = await link.receiveRdb(join(staging, 'dump.rdb'), this.opts.signal);
      const meta: RedisBaseMeta = { kind: 'base', replid, offset, serverVersion: version, time: this.host.clock.now().toISOString(), rdbBytes: bytes, origin: 'stream' };
      await this.host.backupDirectory(staging, { source: { type: REDIS, name: this.name }, paths: [this.loc.display], meta: { ...meta } }, { tags: ['stream'] });
      this.stats.bases++;
    } finally {
      await rm(staging, { recursive: true, force: true });
    }
  }

  private async flush(): Promise<void> {
    const cmds = this.pending;
    this.pending = [];
    this.stats.flushes++;
    await syncIndex(this.host.repo);
    await this.lock?.recordMarksSeen();
    let recordId: string | null = null;
    if (cmds.length > 0) {
      const last = cmds.at(-1)!;
      try {
        const rec = await storeLog(this.host.repo, this.name, this.replid, cmds, last.start + last.raw.length, this.host.clock.now());
        recordId = rec?.id ?? null;
      } catch (err) {
        this.pending = cmds.concat(this.pending); // tried again at the next flush
        throw err;
      }
      this.stats.records++;
      this.stats.commands += cmds.length;
    }
    this.opts.onFlush?.({ commands: cmds.length, recordId, offset: this.stats.offset });
  }
}
