import type { ChildProcess } from 'node:child_process';
import { mkdir, readdir, readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { sha256Hex } from '../../crypto/sha256.js';
import { scanPacks, syncIndex } from '../../repository/index-sync.js';
import { RepoLock } from '../../repository/lock.js';
import type { Repository } from '../../repository/repository.js';
import { BinlogCatalog, storeBinlogs, type BinlogFile } from './binlog-catalog.js';
import { binlogNumber, isBinlog, isoSeconds, scanBinlog } from './binlog-events.js';
import { myToolError, type MyClient } from './my-client.js';
import type { MyLocation } from './my-location.js';
import { abortableSleep } from '../../util/abortable-sleep.js';
import { recordChildPid, stopLeftoverChild } from '../supervised-child.js';

const PID_FILE = 'mariadb-binlog.pid';

export interface BinlogStreamerOptions {
  name: string;
  serverId: string;
  /** The server id mariadb-binlog presents (must differ from every server and replica). */
  clientServerId: number;
  spoolDir: string;
  /** File to start from when nothing is stored yet. */
  firstFile: () => Promise<string>;
  flushIntervalMs: number;
  signal: AbortSignal;
  onFlush?: (files: string[]) => void;
  onWarning?: (m: string) => void;
  onStarted?: (file: string) => void;
}

export interface BinlogStreamSummary {
  flushes: number;
  records: number;
  filesStored: number;
  restarts: number;
}

/**
 * Continuous binlog capture: `mariadb-binlog --read-from-remote-server --raw
 * --stop-never` writes the server's binlog files, byte for byte, into a spool; every
 * flush interval the new and grown files are stored (a growing file up to its last
 * whole event) and named by one record. A closed file (ending in a rotate or stop
 * event) leaves the spool once stored. mariadb-binlog exits when the server restarts:
 * it is started again from the newest stored file (downloaded again from its start, so
 * a streamer killed at any point loses nothing as long as the server still has it).
 */
export class BinlogStreamer {
  private child: ChildProcess | null = null;
  private childError = '';
  private lock: RepoLock | null = null;
  private stored = new Map<string, { sha: string; size: number; complete: boolean }>();
  private readonly summary: BinlogStreamSummary = { flushes: 0, records: 0, filesStored: 0, restarts: 0 };

  constructor(
    private readonly repo: Repository,
    private readonly client: MyClient,
    private readonly loc: MyLocation,
    private readonly opts: BinlogStreamerOptions,
  ) {}

  async run(): Promise<BinlogStreamSummary> {
    const { signal } = this.opts;
    await mkdir(this.opts.spoolDir, { recursive: true, mode: 0o700 });
    await this.stopOrphan();
    const lock = await RepoLock.acquire(this.repo, 'writer');
    this.lock = lock;
    try {
      await syncIndex(this.repo);
      await lock.recordMarksSeen();
      await scanPacks(this.repo);
      const catalog = await BinlogCatalog.load(this.repo, this.opts.name);
      for (const s of catalog.best.values()) this.stored.set(s.name, { sha: s.sha256, size: s.size, complete: !s.partial });
      await this.flush(); // what a killed run left in the spool
      let failures = 0;
      while (!signal.aborted) {
        const from = await this.resumeFile();
        const startedAt = Date.now();
        const exited = this.startReader(from);
        if (this.summary.restarts === 0) this.opts.onStarted?.(from);
        await this.loopUntil(exited);
        if (signal.aborted) break;
        failures = Date.now() - startedAt > 30_000 ? 1 : failures + 1;
        const err = myToolError('mariadb-binlog', this.childError || 'exited');
        if (err.code === 'SOURCE_CONFIG' || failures > 30) throw err;
        this.opts.onWarning?.(`${err.message}; restarting mariadb-binlog`);
        this.summary.restarts++;
        await abortableSleep(Math.min(500 * failures, 5000), signal);
      }
      await this.stopReader();
      await this.flush();
      return this.summary;
    } finally {
      await this.stopReader();
      await lock.release().catch(() => undefined);
    }
  }

  /** The newest file stored or spooled; else where the first base backup starts (or the server's first file). */
  private async resumeFile(): Promise<string> {
    const names = [...this.stored.keys(), ...(await readdir(this.opts.spoolDir).catch(() => [] as string[]))].filter((n) => binlogNumber(n) !== null);
    names.sort((a, b) => binlogNumber(a)! - binlogNumber(b)!);
    return names.at(-1) ?? (await this.opts.firstFile());
  }

  private startReader(file: string): Promise<void> {
    this.childError = '';
    const args = [
      ...this.client.connArgs(this.loc),
      '--read-from-remote-server',
      '--raw',
      '--stop-never',
      `--stop-never-slave-server-id=${this.opts.clientServerId}`,
      `--result-file=${this.opts.spoolDir}/`,
      file,
    ];
    const child = this.client.spawn('mariadb-binlog', args, this.loc);
    this.child = child;
    recordChildPid(this.opts.spoolDir, PID_FILE, child.pid);
    child.stderr?.setEncoding('utf8');
    child.stderr?.on('data', (s: string) => (this.childError = (this.childError + s).slice(-4000)));
    return new Promise((resolve) => {
      child.on('error', (e) => {
        this.childError = e.message;
        resolve();
      });
      child.on('exit', () => resolve());
    });
  }

  /** A streamer killed with SIGKILL leaves its mariadb-binlog running: stop it (it writes into our spool). */
  private stopOrphan(): Promise<void> {
    return stopLeftoverChild({
      spoolDir: this.opts.spoolDir,
      pidFile: PID_FILE,
      tool: 'mariadb-binlog',
      signal: 'SIGTERM',
      graceMs: 5000,
      ...(this.opts.onWarning ? { onWarning: this.opts.onWarning } : {}),
    });
  }


  private async stopReader(): Promise<void> {
    const child = this.child;
    this.child = null;
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise<void>((r) => child.once('exit', () => r()));
    child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), 5_000);
    await exited;
    clearTimeout(timer);
  }

  private async loopUntil(exited: Promise<void>): Promise<void> {
    let done = false;
    void exited.then(() => (done = true));
    while (!done && !this.opts.signal.aborted) {
      await Promise.race([abortableSleep(this.opts.flushIntervalMs, this.opts.signal), exited]);
      await this.flush();
    }
  }

  async flush(): Promise<void> {
    const names = (await readdir(this.opts.spoolDir).catch(() => [] as string[])).filter((n) => binlogNumber(n) !== null);
    names.sort((a, b) => binlogNumber(a)! - binlogNumber(b)!);
    const files: BinlogFile[] = [];
    const closed: string[] = [];
    for (const f of names) {
      let raw: Buffer;
      try {
        raw = await readFile(join(this.opts.spoolDir, f));
      } catch {
        continue;
      }
      if (!isBinlog(raw)) continue;
      const scan = scanBinlog(raw);
      const bytes = raw.subarray(0, scan.validEnd);
      if (scan.closed) closed.push(f);
      const have = this.stored.get(f);
      // A file being downloaded again (after a restart) is shorter than what is stored: never store it backwards.
      if (have && (have.complete || bytes.length < have.size || (bytes.length === have.size && have.sha === sha256Hex(bytes)))) continue;
      const times = scan.groups.map((g) => g.time);
      files.push({
        name: f,
        partial: !scan.closed,
        bytes: Buffer.from(bytes),
        ...(times.length ? { firstCommit: isoSeconds(Math.min(...times)), lastCommit: isoSeconds(Math.max(...times)) } : {}),
      });
    }
    this.summary.flushes++;
    await syncIndex(this.repo);
    await this.lock?.recordMarksSeen();
    if (files.length > 0) {
      await storeBinlogs(this.repo, { name: this.opts.name, serverId: this.opts.serverId }, files);
      for (const f of files) this.stored.set(f.name, { sha: sha256Hex(f.bytes), size: f.bytes.length, complete: !f.partial });
      this.summary.records++;
      this.summary.filesStored += files.length;
    }
    // Closed files are durable in the repository now; the newest stays (the resume point).
    for (const f of closed) if (f !== names.at(-1)) await rm(join(this.opts.spoolDir, f), { force: true });
    this.opts.onFlush?.(files.map((f) => `${f.name}${f.partial ? ' (growing)' : ''}`));
  }
}
