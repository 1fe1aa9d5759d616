import type { ChildProcess } from 'node:child_process';
import { readdir, readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { sha256Hex } from '../../crypto/sha256.js';
import type { Repository } from '../../repository/repository.js';
import { BinlogCatalog, storeBinlogs, type BinlogFile } from './binlog-catalog.js';
import { binlogNumber, isBinlog, isoSeconds, scanBinlog } from './binlog-events.js';
import { myToolError, type MyClient } from './my-client.js';
import type { MyLocation } from './my-location.js';
import { SupervisedStreamer, type SupervisedTool } from '../supervised-streamer.js';

/** mariadb-binlog exits when the server restarts and stops cleanly on SIGTERM. */
const MARIADB_BINLOG: SupervisedTool = {
  name: 'mariadb-binlog',
  pidFile: 'mariadb-binlog.pid',
  stopSignal: 'SIGTERM',
  stopGraceMs: 5000,
  maxFailures: 30,
  backoffStepMs: 500,
  error: (stderr) => myToolError('mariadb-binlog', stderr),
};

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
  private readonly supervisor: SupervisedStreamer;
  private from = '';
  private stored = new Map<string, { sha: string; size: number; complete: boolean }>();
  private readonly summary: BinlogStreamSummary = { flushes: 0, records: 0, filesStored: 0, restarts: 0 };

  constructor(
    private readonly repo: Repository,
    private readonly client: MyClient,
    private readonly loc: MyLocation,
    private readonly opts: BinlogStreamerOptions,
  ) {
    this.supervisor = new SupervisedStreamer(repo, MARIADB_BINLOG, opts, {
      resume: () => this.resume(),
      beforeStart: async () => {
        this.from = await this.resumeFile();
      },
      start: (restarts) => this.startReader(restarts),
      flush: () => this.flush(),
    });
  }

  async run(): Promise<BinlogStreamSummary> {
    this.summary.restarts = await this.supervisor.run();
    return this.summary;
  }

  private async resume(): Promise<void> {
    const catalog = await BinlogCatalog.load(this.repo, this.opts.name);
    for (const s of catalog.best.values()) this.stored.set(s.name, { sha: s.sha256, size: s.size, complete: !s.partial });
    await this.flush(); // what a killed run left in the spool
  }

  /** The newest file stored or spooled; else where the first base backup starts (or the server's first file). */
  private async resumeFile(): Promise<string> {
    const names = [...this.stored.keys(), ...(await readdir(this.opts.spoolDir).catch(() => [] as string[]))].filter((n) => binlogNumber(n) !== null);
    names.sort((a, b) => binlogNumber(a)! - binlogNumber(b)!);
    return names.at(-1) ?? (await this.opts.firstFile());
  }

  private startReader(restarts: number): ChildProcess {
    const args = [
      ...this.client.connArgs(this.loc),
      '--read-from-remote-server',
      '--raw',
      '--stop-never',
      `--stop-never-slave-server-id=${this.opts.clientServerId}`,
      `--result-file=${this.opts.spoolDir}/`,
      this.from,
    ];
    const child = this.client.spawn('mariadb-binlog', args, this.loc);
    if (restarts === 0) this.opts.onStarted?.(this.from);
    return child;
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
    await this.supervisor.syncRepository();
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
