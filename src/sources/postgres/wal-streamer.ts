import type { ChildProcess } from 'node:child_process';
import { mkdir, readdir, readFile, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { CairnError } from '../../core/errors/index.js';
import { sha256Hex } from '../../crypto/sha256.js';
import { scanPacks, syncIndex } from '../../repository/index-sync.js';
import { RepoLock } from '../../repository/lock.js';
import type { Repository } from '../../repository/repository.js';
import type { PgClient } from './pg-client.js';
import { pgToolError } from './pg-client.js';
import type { PgLocation } from './pg-location.js';
import { storeSegments, WalCatalog, type SegmentFile } from './wal-catalog.js';
import { isSegmentName, segmentHeader } from './wal-name.js';
import { commitTimes } from './wal-scan.js';
import { abortableSleep, settledSignal } from '../../util/abortable-sleep.js';
import { recordChildPid, stopLeftoverChild } from '../supervised-child.js';

const RECEIVER_PID = 'pg_receivewal.pid';

export interface StreamerOptions {
  name: string;
  systemId: string;
  segmentSize: number;
  slot: string;
  /** Where pg_receivewal writes; reused across restarts. */
  spoolDir: string;
  flushIntervalMs: number;
  signal: AbortSignal;
  onFlush?: (f: FlushInfo) => void;
  onWarning?: (message: string) => void;
}

export interface FlushInfo {
  segments: string[];
  partial: string | null;
  recordId: string | null;
}

export interface StreamSummary {
  flushes: number;
  records: number;
  segmentsStored: number;
  restarts: number;
}

/**
 * Continuous WAL capture: pg_receivewal (through a replication slot, so the server
 * keeps WAL while we are down) writes into a spool directory; every flush interval the
 * new and changed files — complete segments and the growing `.partial` — are stored as
 * blobs and named by one WAL record. A complete segment is deleted from the spool only
 * after the record naming it is stored. pg_receivewal resumes from the newest file in
 * the spool (or the slot), so a killed streamer loses nothing: the next run uploads
 * what is spooled and continues. A pg_receivewal that dies (server restart) is started
 * again after a pause; one that fails at once for a configuration reason stops us.
 */
export class WalStreamer {
  private child: ChildProcess | null = null;
  private childError = '';
  private lock: RepoLock | null = null;
  private stored = new Map<string, string>(); // file name → sha256 of what is stored
  private readonly summary: StreamSummary = { flushes: 0, records: 0, segmentsStored: 0, restarts: 0 };

  constructor(
    private readonly repo: Repository,
    private readonly client: PgClient,
    private readonly loc: PgLocation,
    private readonly opts: StreamerOptions,
  ) {}

  async run(): Promise<StreamSummary> {
    const { signal } = this.opts;
    this.client.assertTool('pg_receivewal');
    await mkdir(this.opts.spoolDir, { recursive: true, mode: 0o700 });
    await this.stopOrphan();
    await this.client.run('pg_receivewal', ['-d', this.loc.url, '-S', this.opts.slot, '--create-slot', '--if-not-exists'], { timeoutMs: 60_000 });
    const lock = await RepoLock.acquire(this.repo, 'writer');
    this.lock = lock;
    try {
      await syncIndex(this.repo);
      await lock.recordMarksSeen();
      // Packs of a streamer killed before it indexed them: named now, never trusted unnamed.
      await scanPacks(this.repo);
      // What earlier runs stored: unchanged spool files are not stored again.
      const catalog = await WalCatalog.load(this.repo, this.opts.name);
      for (const s of catalog.best.values()) this.stored.set(s.partial ? `${s.name}.partial` : s.name, s.sha256);
      let failures = 0;
      while (!signal.aborted) {
        const startedAt = Date.now();
        const exited = this.startReceiver();
        await this.loopUntil(exited);
        if (signal.aborted) break;
        const ranFor = Date.now() - startedAt;
        failures = ranFor > 30_000 ? 1 : failures + 1;
        const err = pgToolError('pg_receivewal', this.childError || 'exited');
        if (err.code === 'SOURCE_CONFIG' || failures > 5) throw err;
        this.opts.onWarning?.(`${err.message}; restarting pg_receivewal`);
        this.summary.restarts++;
        await abortableSleep(Math.min(1000 * failures, 5000), signal);
      }
      await this.stopReceiver();
      await this.flush(); // what arrived last goes in before we exit
      return this.summary;
    } finally {
      await this.stopReceiver();
      await lock.release().catch(() => undefined);
    }
  }

  private startReceiver(): Promise<void> {
    this.childError = '';
    const child = this.client.spawn('pg_receivewal', ['-d', this.loc.url, '-S', this.opts.slot, '-D', this.opts.spoolDir, '--synchronous', '-n', '--no-password']);
    this.child = child;
    recordChildPid(this.opts.spoolDir, RECEIVER_PID, child.pid);
    child.stderr?.setEncoding('utf8');
    child.stderr?.on('data', (s: string) => {
      this.childError = (this.childError + s).slice(-4000);
    });
    return new Promise((resolve) => {
      child.on('error', (e) => {
        this.childError = e.message;
        resolve();
      });
      child.on('exit', () => resolve());
    });
  }

  /**
   * A streamer killed with SIGKILL leaves its pg_receivewal running (no Node API makes a
   * child die with its parent); that orphan keeps the slot busy. Its pid is in the spool:
   * if it is still a pg_receivewal writing here, stop it (it flushes on SIGINT) first.
   */
  private stopOrphan(): Promise<void> {
    return stopLeftoverChild({
      spoolDir: this.opts.spoolDir,
      pidFile: RECEIVER_PID,
      tool: 'pg_receivewal',
      signal: 'SIGINT',
      graceMs: 10000,
      ...(this.opts.onWarning ? { onWarning: this.opts.onWarning } : {}),
    });
  }


  private async stopReceiver(): Promise<void> {
    const child = this.child;
    this.child = null;
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise<void>((r) => child.once('exit', () => r()));
    child.kill('SIGINT'); // pg_receivewal flushes and exits cleanly on SIGINT
    const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
    await exited;
    clearTimeout(timer);
  }

  /** Flushes every interval until the receiver exits or we are stopped. */
  private async loopUntil(exited: Promise<void>): Promise<void> {
    const done = settledSignal(exited);
    while (!done.aborted && !this.opts.signal.aborted) {
      await abortableSleep(this.opts.flushIntervalMs, this.opts.signal, done);
      await this.flush();
    }
  }

  /** Stores new and changed spool files; deletes complete ones once their record is stored. */
  async flush(): Promise<void> {
    const names = (await readdir(this.opts.spoolDir).catch(() => [] as string[])).sort();
    const files: SegmentFile[] = [];
    const complete: string[] = [];
    for (const f of names) {
      const partial = f.endsWith('.partial');
      const name = partial ? f.slice(0, -'.partial'.length) : f;
      if (!isSegmentName(name)) continue;
      let bytes: Buffer;
      try {
        bytes = await readFile(join(this.opts.spoolDir, f));
      } catch {
        continue; // renamed from .partial under us: picked up next time
      }
      if (bytes.length !== this.opts.segmentSize) continue;
      const header = segmentHeader(bytes);
      if (header.systemId !== this.opts.systemId) {
        throw new CairnError('SOURCE_CONFIG', `spooled segment ${f} belongs to another cluster (system ${header.systemId}, expected ${this.opts.systemId})`, {
          hint: `remove ${this.opts.spoolDir} or give this server another --name`,
        });
      }
      if (!partial) complete.push(f);
      const hash = sha256Hex(bytes);
      if (this.stored.get(f) === hash) continue;
      if (!partial && this.stored.has(f)) {
        // A complete segment is final: other bytes under its name mean another server of
        // the same system identifier wrote this timeline too. Never mix two histories.
        throw new CairnError('SOURCE_CONFIG', `WAL segment ${f} of "${this.opts.name}" is already stored with other content: two servers write under this name`, {
          hint: 'give the other server its own --name (docs/sources/postgres.md, "Timelines")',
        });
      }
      files.push({ name, partial, bytes, ...(await commitTimes(this.client, name, bytes)) });
    }
    this.summary.flushes++;
    // Every flush, even an idle one, syncs and publishes the gc marks it now knows (it
    // deduplicates only after this point), so a prune can sweep while this streamer runs
    // for weeks: a writer lock without a mark holds that mark's sweep back (LockBody.marksSeen).
    await syncIndex(this.repo);
    await this.lock?.recordMarksSeen();
    let recordId: string | null = null;
    if (files.length > 0) {
      const rec = await storeSegments(this.repo, { name: this.opts.name, systemId: this.opts.systemId, segmentSize: this.opts.segmentSize }, files);
      recordId = rec?.id ?? null;
      for (const f of files) this.stored.set(f.partial ? `${f.name}.partial` : f.name, sha256Hex(f.bytes));
      this.summary.records++;
      this.summary.segmentsStored += files.length;
    }
    // Complete segments are durable in the repository now. Keep the newest one: it tells
    // pg_receivewal where to resume should the .partial be gone.
    for (const f of complete.slice(0, -1)) await rm(join(this.opts.spoolDir, f), { force: true });
    this.opts.onFlush?.({ segments: files.map((f) => f.name), partial: files.find((f) => f.partial)?.name ?? null, recordId });
  }
}

export async function spoolSize(dir: string): Promise<number> {
  let n = 0;
  for (const f of await readdir(dir).catch(() => [] as string[])) n += (await stat(join(dir, f)).catch(() => ({ size: 0 }))).size;
  return n;
}
