import type Database from 'better-sqlite3';
import { lstat, mkdir, mkdtemp, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, dirname, join } from 'node:path';
import BetterSqlite from 'better-sqlite3';
import { CairnError } from '../../core/errors/index.js';
import type * as T from '../../engine/types.js';
import { scanPacks, syncIndex } from '../../repository/index-sync.js';
import { RepoLock } from '../../repository/lock.js';
import { snapshotOptions } from '../snapshot-options.js';
import type { Source, SourceHost } from '../types.js';
import {
  analyseSqlite,
  genKey,
  loadBatchBytes,
  loadBatches,
  SQLITE,
  sqliteBases,
  storeBatches,
  type Gen,
  type PendingBatch,
  type SqliteBaseMeta,
} from './sqlite-catalog.js';
import { assertSqliteFile, copyUnderWriteLock, DEFAULT_LOCK_TIMEOUT_MS, openDb, readAt, readFramesAfter, sqliteError, walHeaderOf } from './sqlite-db.js';
import { FRAME_HEADER, frameOffset, type WalHeader } from './sqlite-wal.js';
import { abortableSleep } from '../../util/abortable-sleep.js';
import { isoMicros } from '../../util/iso-micros.js';

export const DEFAULT_FLUSH_INTERVAL_MS = 10_000;
const SEQ_TABLE = '_cairn_seq';

/**
 * SQLite as a Cairn source (docs/sources/sqlite.md): consistent copies taken under the
 * database's write lock as snapshots of type `sqlite`, and — for databases in WAL mode —
 * continuous capture of committed WAL frames (as Litestream does) stored as WAL catalog
 * records, for restore to a time.
 */
export class SqliteSource implements Source<T.SqliteBackupOptions, T.SqliteBackupResult, T.SqliteRestoreOptions, T.SqliteRestoreResult> {
  readonly type = SQLITE;

  async backup(host: SourceHost, opts: T.SqliteBackupOptions): Promise<T.SqliteBackupResult> {
    await assertSqliteFile(opts.path);
    const timeout = opts.lockTimeoutMs ?? DEFAULT_LOCK_TIMEOUT_MS;
    const db = openDb(opts.path, timeout);
    try {
      const name = opts.name ?? basename(opts.path);
      const { res, meta } = await storeBase(host, db, opts.path, name, timeout, opts);
      return { ...res, name, journalMode: meta.journalMode };
    } finally {
      db.close();
    }
  }

  async stream(host: SourceHost, opts: T.SqliteStreamOptions): Promise<T.SqliteStreamResult> {
    await assertSqliteFile(opts.path);
    return new SqliteStreamer(host, opts).run();
  }

  async pitr(host: SourceHost, name: string): Promise<T.SqlitePitrReport | null> {
    const bases = sqliteBases(await host.snapshots(), name);
    const { records, batches } = await loadBatches(host.repo, name);
    if (bases.length === 0 && records === 0) return null;
    const a = analyseSqlite(bases, batches);
    const continuous = bases.some((b) => b.meta.gen !== null) || batches.length > 0;
    return {
      name,
      continuous,
      ok: !a.gapAfterNewestBase && a.windows.length > 0,
      windows: continuous ? a.merged : a.windows.map((w) => ({ from: w.from, to: w.from })),
      bases: a.windows.map((w) => ({ snapshot: w.base.snapshot.id, time: w.base.snapshot.time, from: w.from, to: w.to, frames: w.chain.length, journalMode: w.base.meta.journalMode })),
      gaps: a.gaps,
      gapAfterNewestBase: a.gapAfterNewestBase,
      records,
      commits: batches.reduce((n, b) => n + b.sq.commits.length, 0),
    };
  }

  async restore(host: SourceHost, opts: T.SqliteRestoreOptions): Promise<T.SqliteRestoreResult> {
    const bases = sqliteBases(await host.snapshots(), opts.source);
    const { batches } = await loadBatches(host.repo, opts.source);
    if (bases.length === 0) throw new CairnError('SNAPSHOT_NOT_FOUND', `no sqlite source named "${opts.source}" in this repository`, { hint: 'list sources with `cairn snapshots`' });
    const a = analyseSqlite(bases, batches);
    const at = opts.at === 'latest' ? null : opts.at;
    const inWindow = a.windows.filter((w) => at === null || (w.from <= at && at <= w.to));
    // Newest base whose window holds the time; 'latest': the window reaching furthest.
    const w = at === null ? [...a.windows].sort((x, y) => x.to.localeCompare(y.to) || x.from.localeCompare(y.from)).at(-1)! : inWindow.at(-1);
    if (!w) {
      const first = a.merged[0]!;
      if (at! < first.from) throw new CairnError('TIME_OUT_OF_RANGE', `${at} is before the first restorable time of ${opts.source} (${first.from})`);
      const gap = a.gaps.find((g) => g.from < at! && at! < g.to);
      if (gap) throw new CairnError('WAL_GAP', `${at} falls into a gap of ${opts.source} (${gap.from} .. ${gap.to}): frames were lost there`, { hint: 'choose a time inside a window shown by `cairn pitr`' });
      throw new CairnError('TIME_OUT_OF_RANGE', `${at} is after the last restorable time of ${opts.source} (${a.merged.at(-1)!.to})`, { hint: 'see `cairn pitr ' + opts.source + '`' });
    }
    // lstat: a symlink (dangling or a loop included) is something there too, never replaced.
    if (await lstat(opts.target).then(() => true, () => false)) throw new CairnError('USAGE', `--target ${opts.target} already exists`, { hint: 'restore into a new file' });
    const staging = await mkdtemp(join(tmpdir(), 'cairn-sqlite-restore-'));
    try {
      await host.restoreSnapshot(w.base.snapshot, staging, opts.signal ? { signal: opts.signal } : {});
      let db = await readFile(join(staging, 'db.sqlite'));
      const meta = w.base.meta;
      const ps = meta.pageSize;
      let dbPages = meta.dbPages;
      let restoredTo = w.from;
      let commits = 0;
      const baseKey = meta.gen ? genKey(meta.gen) : '';
      let pending: Buffer[] = [];
      outer: for (const b of w.chain) {
        const bytes = await loadBatchBytes(host.repo, b);
        const times = new Map(b.sq.commits.map((c) => [c[0], c]));
        const size = FRAME_HEADER + ps;
        for (let off = 0, i = b.sq.first; off + size <= bytes.length; off += size, i++) {
          if (genKey(b.sq.gen) === baseKey && i <= meta.frame) continue;
          pending.push(bytes.subarray(off, off + size));
          const c = times.get(i);
          if (!c) continue;
          if (at !== null && c[1] > at) break outer;
          for (const f of pending) {
            const page = f.readUInt32BE(0);
            const pos = (page - 1) * ps;
            if (pos + ps > db.length) {
              const grown = Buffer.alloc(pos + ps);
              db.copy(grown);
              db = grown;
            }
            f.copy(db, pos, FRAME_HEADER);
          }
          pending = [];
          dbPages = c[2];
          restoredTo = c[1];
          commits++;
        }
      }
      if (db.length > dbPages * ps) db = db.subarray(0, dbPages * ps);
      const tmp = `${opts.target}.cairn-tmp`;
      // The target's directory is created if missing, as for every other restore.
      await mkdir(dirname(opts.target), { recursive: true });
      await writeFile(tmp, db, { mode: 0o600 });
      let integrity = '';
      const check = new BetterSqlite(tmp);
      try {
        integrity = (check.pragma('integrity_check', { simple: true }) as string) ?? '';
      } finally {
        check.close();
      }
      await rename(tmp, opts.target);
      return { snapshot: w.base.snapshot, target: opts.target, targetTime: at, restoredTo, window: { from: w.from, to: w.to }, commits, bytes: db.length, integrity };
    } finally {
      await rm(staging, { recursive: true, force: true });
    }
  }
}

interface TakenCopy {
  bytes: Buffer;
  meta: SqliteBaseMeta;
}

type StoreOpts = { tags?: string[]; host?: string; onProgress?: (p: T.Progress) => void; signal?: AbortSignal };

/** Takes a copy under the write lock and stores it as a base snapshot. */
async function storeBase(host: SourceHost, db: Database.Database, path: string, name: string, timeout: number, opts: StoreOpts): Promise<{ res: T.BackupResult; meta: SqliteBaseMeta }> {
  const copy = takeCopy(host, db, path, timeout);
  return { res: await storeCopy(host, copy, name, opts), meta: copy.meta };
}

/**
 * A copy under the write lock (synchronous). `capturedAt` is read while the lock is
 * held: every commit the copy holds happened before it, none after.
 */
function takeCopy(host: SourceHost, db: Database.Database, path: string, timeout: number): TakenCopy {
  let journalMode: string;
  try {
    journalMode = String(db.pragma('journal_mode', { simple: true })).toLowerCase();
    db.exec('BEGIN IMMEDIATE');
  } catch (err) {
    throw sqliteError(err, path, timeout);
  }
  let copy;
  const capturedAt = isoMicros(host.clock.now());
  try {
    copy = copyUnderWriteLock(path, journalMode);
  } finally {
    db.exec('COMMIT');
  }
  return { bytes: copy.bytes, meta: { kind: 'base', format: 1, path, pageSize: copy.pageSize, journalMode, capturedAt, gen: copy.gen, frame: copy.frame, chk: copy.chk, dbPages: copy.dbPages } };
}

async function storeCopy(host: SourceHost, copy: TakenCopy, name: string, opts: StoreOpts): Promise<T.BackupResult> {
  const staging = await mkdtemp(join(tmpdir(), 'cairn-sqlite-base-'));
  try {
    await writeFile(join(staging, 'db.sqlite'), copy.bytes, { mode: 0o600 });
    return await host.backupDirectory(staging, { source: { type: SQLITE, name }, paths: [copy.meta.path], meta: { ...copy.meta } }, snapshotOptions(opts));
  } finally {
    await rm(staging, { recursive: true, force: true });
  }
}

/**
 * Continuous capture (docs/sources/sqlite.md, "How capture works"). A read transaction
 * on `pin` keeps SQLite from restarting the WAL, so every committed frame stays in the
 * file until read. Periodically, holding the write lock on `w`, the tail is read to the
 * end, the pin dropped, a PASSIVE checkpoint run, and a row written to _cairn_seq: that
 * write restarts the WAL (salt1 + 1) when the checkpoint was complete. A header whose
 * salts changed otherwise means frames we did not see: a new base is taken.
 */
class SqliteStreamer {
  private readonly timeout: number;
  private pin!: Database.Database;
  private w!: Database.Database;
  private h!: WalHeader;
  private gen!: Gen;
  private pos = 0;
  private chk: [number, number] = [0, 0];
  private pending: PendingBatch[] = [];
  private prev: { gen: Gen; last: number } | undefined;
  private needBase = false;
  private lastRead = 0;
  private failure: unknown;
  private name: string;
  private readonly out: T.SqliteStreamResult;

  constructor(
    private readonly host: SourceHost,
    private readonly opts: T.SqliteStreamOptions,
  ) {
    this.timeout = opts.lockTimeoutMs ?? DEFAULT_LOCK_TIMEOUT_MS;
    this.name = opts.name ?? basename(opts.path);
    this.out = { name: this.name, flushes: 0, records: 0, frames: 0, commits: 0, bases: [], lostFrames: 0, maxReadGapMs: 0 };
  }

  async run(): Promise<T.SqliteStreamResult> {
    const { path, signal } = this.opts;
    this.pin = openDb(path, this.timeout);
    this.w = openDb(path, this.timeout);
    const lock = await RepoLock.acquire(this.host.repo, 'writer');
    let timer: NodeJS.Timeout | undefined;
    try {
      const mode = String(this.pin.pragma('journal_mode', { simple: true })).toLowerCase();
      if (mode !== 'wal') {
        throw new CairnError('SOURCE_CONFIG', `${path} is in journal_mode=${mode}: continuous capture needs WAL mode`, {
          hint: 'run `PRAGMA journal_mode=WAL` on it once, or use `cairn backup sqlite://…` for snapshots only (docs/sources/sqlite.md)',
        });
      }
      await syncIndex(this.host.repo);
      await lock.recordMarksSeen();
      await scanPacks(this.host.repo);
      // Resume is judged before we write anything: our own write could restart a fully
      // checkpointed WAL and make the stored position unreachable.
      this.guard(() => this.w.exec(`CREATE TABLE IF NOT EXISTS ${SEQ_TABLE} (id INTEGER PRIMARY KEY, t TEXT)`));
      const resumed = await this.resume();
      if (!resumed) this.guard(() => this.seqWrite());
      this.repin();
      const poll = this.opts.pollIntervalMs ?? 100;
      // Frames carry no time: a commit's time is when it is first read. Reading runs on
      // its own timer, so it goes on while a flush or a base is being stored.
      timer = setInterval(() => {
        try {
          this.tick();
        } catch (err) {
          this.failure ??= err;
        }
      }, poll);
      if (resumed) this.tick();
      else await this.newBase();
      this.opts.onStarted?.({ name: this.name, resumed, base: this.out.bases.at(-1) ?? null });
      const flushEvery = this.opts.flushIntervalMs ?? DEFAULT_FLUSH_INTERVAL_MS;
      const ckptEvery = this.opts.checkpointIntervalMs ?? 60_000;
      const ckptBytes = this.opts.checkpointBytes ?? 16 * 1024 * 1024;
      let lastFlush = Date.now();
      let lastCkpt = Date.now();
      while (!signal.aborted) {
        await abortableSleep(poll, signal);
        if (this.failure) throw this.failure;
        this.tick();
        if (this.needBase) await this.newBase();
        if (Date.now() - lastCkpt >= ckptEvery || frameOffset(this.pos + 1, this.h.pageSize) > ckptBytes) {
          this.checkpoint();
          if (this.needBase) await this.newBase();
          lastCkpt = Date.now();
        }
        if (Date.now() - lastFlush >= flushEvery) {
          await this.flush();
          await syncIndex(this.host.repo);
          await lock.recordMarksSeen();
          lastFlush = Date.now();
        }
      }
      clearInterval(timer);
      timer = undefined;
      if (this.failure) throw this.failure;
      this.tick();
      if (this.needBase) {
        await this.newBase();
        this.tick();
      }
      await this.flush();
      return this.out;
    } finally {
      if (timer) clearInterval(timer);
      try {
        if (this.pin.inTransaction) this.pin.exec('COMMIT');
      } catch {
        // closing anyway
      }
      this.pin.close();
      this.w.close();
      await lock.release().catch(() => undefined);
    }
  }

  private guard<R>(f: () => R): R {
    try {
      return f();
    } catch (err) {
      throw sqliteError(err, this.opts.path, this.timeout);
    }
  }

  private seqWrite(): void {
    this.w.prepare(`INSERT OR REPLACE INTO ${SEQ_TABLE} (id, t) VALUES (1, ?)`).run(new Date().toISOString());
  }

  private repin(): void {
    this.guard(() => {
      if (this.pin.inTransaction) this.pin.exec('COMMIT');
      this.pin.exec('BEGIN');
      this.pin.prepare(`SELECT count(*) FROM ${SEQ_TABLE}`).get();
    });
  }

  /**
   * Continues from the newest stored frame batch when the WAL still holds its last frame
   * unchanged, else from the newest base's position (so a base taken by `cairn backup`
   * after the last flush does not cut the older window short).
   */
  private async resume(): Promise<boolean> {
    const bases = sqliteBases(await this.host.snapshots(), this.name);
    const { batches } = await loadBatches(this.host.repo, this.name);
    const base = bases.at(-1);
    if (!base) return false;
    const last = batches.at(-1);
    const candidates: { gen: Gen; pos: number; chk: [number, number] }[] = [];
    if (last) candidates.push({ gen: last.sq.gen, pos: last.sq.last, chk: last.sq.chk });
    if (base.meta.gen && base.meta.chk) candidates.push({ gen: base.meta.gen, pos: base.meta.frame, chk: base.meta.chk });
    const h = walHeaderOf(this.opts.path);
    if (candidates.length === 0 || !h) return this.lost(false, 'the WAL is gone');
    let why = 'the WAL was reset (checkpointed) while cairn was not capturing';
    for (const at of candidates) {
      if (h.salt1 !== at.gen.salt1 || h.salt2 !== at.gen.salt2) continue;
      if (at.pos > 0) {
        const fh = readAt(`${this.opts.path}-wal`, frameOffset(at.pos, h.pageSize), FRAME_HEADER);
        if (fh.length < FRAME_HEADER || fh.readUInt32BE(16) !== at.chk[0] || fh.readUInt32BE(20) !== at.chk[1]) {
          why = 'the WAL no longer holds the last captured frame';
          continue;
        }
      }
      this.h = h;
      this.gen = at.gen;
      this.pos = at.pos;
      this.chk = at.chk;
      return true;
    }
    return this.lost(false, why);
  }

  private lost(count: boolean, why: string): false {
    if (count || this.out.bases.length === 0) this.out.lostFrames++;
    this.opts.onWarning?.(`frames of ${this.opts.path} were lost (${why}): starting a new base; \`cairn pitr ${this.name}\` shows the gap`);
    return false;
  }

  /**
   * A new base: the copy is taken synchronously under the write lock and the capture
   * position moved to it at once; storing it is asynchronous, and the timer keeps
   * reading frames after that position meanwhile.
   */
  private async newBase(): Promise<void> {
    for (let i = 0; ; i++) {
      const copy = takeCopy(this.host, this.w, this.opts.path, this.timeout);
      if (copy.meta.gen && copy.meta.chk) {
        this.gen = copy.meta.gen;
        this.pos = copy.meta.frame;
        this.chk = copy.meta.chk;
        this.h = walHeaderOf(this.opts.path)!;
        this.prev = undefined;
        this.needBase = false;
        const res = await storeCopy(this.host, copy, this.name, {});
        this.out.bases.push(res.snapshot.id);
        return;
      }
      if (i > 3) throw new CairnError('SOURCE_CONFIG', `the WAL of ${this.opts.path} stays empty: cannot position the capture`);
      this.guard(() => this.seqWrite());
      this.repin();
    }
  }

  /** Reads newly committed frames (synchronous; a changed generation asks for a new base). */
  private tick(): void {
    if (this.needBase || !this.gen) return;
    const now = Date.now();
    if (this.lastRead > 0 && now - this.lastRead > this.out.maxReadGapMs) this.out.maxReadGapMs = now - this.lastRead;
    this.lastRead = now;
    const h = walHeaderOf(this.opts.path);
    if (!h || h.salt1 !== this.gen.salt1 || h.salt2 !== this.gen.salt2) {
      this.lost(true, 'the WAL changed generation while pinned');
      this.needBase = true;
      return;
    }
    this.h = h;
    this.readTail();
  }

  private readTail(): void {
    const frames = readFramesAfter(this.opts.path, this.h, this.pos, this.chk);
    if (frames.length === 0) return;
    const now = isoMicros(this.host.clock.now());
    let b = this.pending.at(-1);
    if (!b || genKey(b.sq.gen) !== genKey(this.gen) || b.sq.last !== this.pos) {
      b = { sq: { gen: { ...this.gen }, pageSize: this.h.pageSize, first: this.pos + 1, last: this.pos, chk: this.chk, commits: [], ...(this.prev && this.pos === 0 ? { prev: this.prev } : {}) }, bytes: Buffer.alloc(0) };
      this.pending.push(b);
    }
    b.bytes = Buffer.concat([b.bytes, ...frames.map((f) => f.bytes)]);
    for (const f of frames) if (f.dbPages > 0) b.sq.commits.push([f.index, now, f.dbPages]);
    const last = frames.at(-1)!;
    b.sq.last = last.index;
    b.sq.chk = last.chk;
    this.pos = last.index;
    this.chk = last.chk;
    this.out.frames += frames.length;
    this.out.commits += frames.filter((f) => f.dbPages > 0).length;
  }

  private checkpoint(): void {
    if (this.needBase) return;
    const before = { gen: { ...this.gen }, last: 0 };
    this.guard(() => this.w.exec('BEGIN IMMEDIATE'));
    try {
      this.readTail(); // nobody commits now: this is the end of the generation
      before.last = this.pos;
      this.pin.exec('COMMIT');
      this.pin.pragma('wal_checkpoint(PASSIVE)');
      this.seqWrite();
    } finally {
      this.w.exec('COMMIT');
    }
    this.repin();
    const h = walHeaderOf(this.opts.path);
    if (h && h.salt1 === this.gen.salt1 && h.salt2 === this.gen.salt2) return; // appended: same generation
    if (h && h.salt1 === ((this.gen.salt1 + 1) >>> 0)) {
      this.prev = before;
      this.gen = { salt1: h.salt1, salt2: h.salt2 };
      this.h = h;
      this.pos = 0;
      this.chk = h.chk;
      return;
    }
    this.lost(true, 'the WAL moved on by more than one generation during a checkpoint');
    this.needBase = true;
  }

  private async flush(): Promise<void> {
    this.out.flushes++;
    const batches = this.pending.filter((b) => b.sq.commits.length > 0);
    this.pending = [];
    const id = await storeBatches(this.host.repo, { name: this.name, path: this.opts.path, pageSize: this.h?.pageSize ?? 4096 }, batches);
    if (id) this.out.records++;
    this.opts.onFlush?.({ frames: batches.reduce((n, b) => n + (b.sq.last - b.sq.first + 1), 0), commits: batches.reduce((n, b) => n + b.sq.commits.length, 0), recordId: id });
  }
}
