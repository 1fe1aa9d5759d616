import { readdir, readFile, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { CairnError } from '../../core/errors/index.js';
import { sha256Hex } from '../../crypto/sha256.js';
import type { Repository } from '../../repository/repository.js';
import type { PgClient } from './pg-client.js';
import { pgToolError } from './pg-client.js';
import type { PgLocation } from './pg-location.js';
import { storeSegments, WalCatalog, type SegmentFile } from './wal-catalog.js';
import { isSegmentName, segmentHeader } from './wal-name.js';
import { commitTimes } from './wal-scan.js';
import { SupervisedStreamer, type SupervisedTool } from '../supervised-streamer.js';

/**
 * pg_receivewal exits when the server restarts; on SIGINT it flushes and exits cleanly.
 * One left running by a killed streamer keeps the replication slot busy.
 */
const PG_RECEIVEWAL: SupervisedTool = {
  name: 'pg_receivewal',
  pidFile: 'pg_receivewal.pid',
  stopSignal: 'SIGINT',
  stopGraceMs: 10_000,
  maxFailures: 5,
  backoffStepMs: 1000,
  error: (stderr) => pgToolError('pg_receivewal', stderr),
};

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
  private readonly supervisor: SupervisedStreamer;
  private stored = new Map<string, string>(); // file name → sha256 of what is stored
  private readonly summary: StreamSummary = { flushes: 0, records: 0, segmentsStored: 0, restarts: 0 };

  constructor(
    private readonly repo: Repository,
    private readonly client: PgClient,
    private readonly loc: PgLocation,
    private readonly opts: StreamerOptions,
  ) {
    this.supervisor = new SupervisedStreamer(repo, PG_RECEIVEWAL, opts, {
      prepare: () => this.client.run('pg_receivewal', ['-d', this.loc.url, '-S', this.opts.slot, '--create-slot', '--if-not-exists'], { timeoutMs: 60_000 }).then(() => undefined),
      resume: () => this.resume(),
      start: () => this.client.spawn('pg_receivewal', ['-d', this.loc.url, '-S', this.opts.slot, '-D', this.opts.spoolDir, '--synchronous', '-n', '--no-password']),
      flush: () => this.flush(),
    });
  }

  async run(): Promise<StreamSummary> {
    this.client.assertTool('pg_receivewal');
    this.summary.restarts = await this.supervisor.run();
    return this.summary;
  }

  /** What earlier runs stored: unchanged spool files are not stored again. */
  private async resume(): Promise<void> {
    const catalog = await WalCatalog.load(this.repo, this.opts.name);
    for (const s of catalog.best.values()) this.stored.set(s.partial ? `${s.name}.partial` : s.name, s.sha256);
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
    await this.supervisor.syncRepository();
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
