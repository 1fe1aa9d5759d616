import Database from 'better-sqlite3';
import { mkdirSync } from 'node:fs';
import { open, type FileHandle } from 'node:fs/promises';
import { dirname } from 'node:path';
import type { BlobId, BlobType, PackId } from '../core/ids.js';

export interface BlobLocation {
  type: BlobType;
  id: BlobId;
  pack: PackId;
  offset: number;
  length: number;
  rawLength: number;
  compressed: boolean;
}

export interface PackRecord {
  id: PackId;
  size: number;
  encKeyId: number;
  salt: Buffer;
}

const SCHEMA_VERSION = 1;
const TYPE_CODE: Record<BlobType, number> = { data: 0, tree: 1 };
const CODE_TYPE: BlobType[] = ['data', 'tree'];

/**
 * The local index cache: which blob lives where. It is a SQLite file on local disk,
 * paged, so memory does not grow with repository size. It is only a cache: the
 * repository's index files (and, failing those, the packs themselves) are the truth,
 * and `sync` brings it up to date with them.
 *
 * Packs named in a gc mark are "condemned": lookups skip them, so a backup that
 * starts after prune's mark phase stores such blobs again instead of referencing
 * data that the sweep will delete.
 *
 * A pack that leaves the cache without having been condemned (gone from data/, left
 * out by `repair index`, or swept by a prune whose mark this cache never saw) may have
 * held blobs that snapshots still name: the cache's *loss generation* goes up, and
 * every snapshot recorded as fully stored under an earlier generation loses that
 * standing (see storedSnapshot).
 */
export class BlobIndex {
  private readonly db: Database.Database;
  private readonly stmt: {
    lookup: Database.Statement;
    lookupAny: Database.Statement;
    insertBlob: Database.Statement;
    insertPack: Database.Statement;
    insertPackIndex: Database.Statement;
    getPack: Database.Statement;
  };

  /** The file behind the cache; null when it lives in memory (workers cannot share it then). */
  readonly path: string | null;

  constructor(path: string) {
    this.path = path === ':memory:' ? null : path;
    if (path !== ':memory:') mkdirSync(dirname(path), { recursive: true });
    this.db = new Database(path);
    try {
      this.init();
    } catch (err) {
      this.db.close();
      throw err;
    }
    this.stmt = this.prepare();
  }

  private init(): void {
    // A cache from another schema version is not migrated: it is rebuilt.
    const version = this.db.pragma('user_version', { simple: true }) as number;
    if (version !== 0 && version !== SCHEMA_VERSION) throw new Error(`index cache schema ${version}, expected ${SCHEMA_VERSION}`);
    this.db.pragma('journal_mode = WAL');
    this.db.pragma('synchronous = NORMAL');
    this.db.pragma('cache_size = -16000'); // 16 MB page cache, whatever the repository size
    this.db.exec(`
      CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
      CREATE TABLE IF NOT EXISTS index_files (id TEXT PRIMARY KEY);
      CREATE TABLE IF NOT EXISTS packs (
        id TEXT PRIMARY KEY, size INTEGER NOT NULL, enc_key_id INTEGER NOT NULL, salt BLOB NOT NULL);
      CREATE TABLE IF NOT EXISTS pack_index (
        pack TEXT NOT NULL, index_id TEXT NOT NULL, PRIMARY KEY (pack, index_id)) WITHOUT ROWID;
      CREATE INDEX IF NOT EXISTS pack_index_by_index ON pack_index(index_id);
      CREATE TABLE IF NOT EXISTS blobs (
        id TEXT NOT NULL, type INTEGER NOT NULL, pack TEXT NOT NULL,
        offset INTEGER NOT NULL, length INTEGER NOT NULL, raw_length INTEGER NOT NULL, flags INTEGER NOT NULL,
        PRIMARY KEY (id, type, pack)) WITHOUT ROWID;
      CREATE INDEX IF NOT EXISTS blobs_by_pack ON blobs(pack);
      CREATE TABLE IF NOT EXISTS condemned (pack TEXT PRIMARY KEY);
      CREATE TABLE IF NOT EXISTS dir_memos (snapshot TEXT PRIMARY KEY, body BLOB NOT NULL);
      CREATE TABLE IF NOT EXISTS stored_snapshots (snapshot TEXT PRIMARY KEY, generation INTEGER NOT NULL, marks TEXT NOT NULL);
    `);
    this.db.pragma(`user_version = ${SCHEMA_VERSION}`);
    // Fails on a corrupt file (SQLITE_CORRUPT / SQLITE_NOTADB): the caller rebuilds.
    this.db.prepare('SELECT COUNT(*) FROM index_files').get();
  }

  private prepare(): BlobIndex['stmt'] {
    return {
      lookup: this.db.prepare(
        `SELECT b.pack, b.offset, b.length, b.raw_length, b.flags FROM blobs b
         WHERE b.id = ? AND b.type = ? AND b.pack NOT IN (SELECT pack FROM condemned) LIMIT 1`,
      ),
      lookupAny: this.db.prepare(
        `SELECT pack, offset, length, raw_length, flags FROM blobs WHERE id = ? AND type = ? LIMIT 1`,
      ),
      insertBlob: this.db.prepare(
        `INSERT OR IGNORE INTO blobs (id, type, pack, offset, length, raw_length, flags) VALUES (?, ?, ?, ?, ?, ?, ?)`,
      ),
      insertPack: this.db.prepare(
        `INSERT OR IGNORE INTO packs (id, size, enc_key_id, salt) VALUES (?, ?, ?, ?)`,
      ),
      insertPackIndex: this.db.prepare(`INSERT OR IGNORE INTO pack_index (pack, index_id) VALUES (?, ?)`),
      getPack: this.db.prepare(`SELECT id, size, enc_key_id, salt FROM packs WHERE id = ?`),
    };
  }

  /**
   * Reads the cache file once, front to back, so the page cache holds it before a
   * run of lookups (check, restore) starts. Lookups jump around the file with
   * synchronous reads on the main thread; on a cold cache they cost ~15 µs each in
   * waits for the disk (~0.9 s of a check of a 40k-blob repository), while one
   * sequential read of the 14 MB file takes ~10 ms. Best effort: errors are ignored,
   * and only the first `maxBytes` are read, so a huge index does not evict everything.
   */
  async warm(maxBytes = 256 * 2 ** 20): Promise<void> {
    if (!this.path) return;
    let fh: FileHandle | undefined;
    try {
      fh = await open(this.path, 'r');
      const buf = Buffer.allocUnsafe(2 ** 20);
      for (let pos = 0; pos < maxBytes; ) {
        const { bytesRead } = await fh.read(buf, 0, buf.length, pos);
        if (bytesRead === 0) break;
        pos += bytesRead;
      }
    } catch {
      // Only a hint to the page cache.
    } finally {
      await fh?.close().catch(() => undefined);
    }
  }

  close(): void {
    if (this.db.open) this.db.close();
  }

  getMeta(key: string): string | undefined {
    const row = this.db.prepare('SELECT value FROM meta WHERE key = ?').get(key) as { value: string } | undefined;
    return row?.value;
  }

  setMeta(key: string, value: string): void {
    this.db.prepare('INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)').run(key, value);
  }

  /** The directory memo kept for a snapshot (see DirMemo), if any. */
  getDirMemo(snapshot: string): Buffer | undefined {
    const row = this.db.prepare('SELECT body FROM dir_memos WHERE snapshot = ?').get(snapshot) as { body: Buffer } | undefined;
    return row?.body;
  }

  /**
   * Keeps a snapshot's directory memo, in place of its parent's (the next backup of
   * that source has the new snapshot as its parent), and at most `keep` in all: one per
   * source backed up with this cache, the oldest dropped first.
   */
  putDirMemo(snapshot: string, body: Buffer, replaces: string | null, keep = 16): void {
    this.tx(() => {
      if (replaces) this.db.prepare('DELETE FROM dir_memos WHERE snapshot = ?').run(replaces);
      this.db.prepare('INSERT OR REPLACE INTO dir_memos (snapshot, body) VALUES (?, ?)').run(snapshot, body);
      this.db.prepare('DELETE FROM dir_memos WHERE rowid NOT IN (SELECT rowid FROM dir_memos ORDER BY rowid DESC LIMIT ?)').run(keep);
    });
  }

  /**
   * The loss generation: how many times this cache has seen packs go that were not
   * condemned (see the class comment). 0 for a new cache.
   */
  get lossGeneration(): number {
    return Number(this.getMeta('loss_generation') ?? 0);
  }

  /** Records that blobs may have been lost: no snapshot recorded so far is trusted whole. */
  noteLoss(): void {
    this.tx(() => {
      this.setMeta('loss_generation', String(this.lossGeneration + 1));
      this.db.prepare('DELETE FROM stored_snapshots').run();
    });
  }

  /**
   * Records that every blob of `snapshot` was in the index when it was committed, as
   * of loss generation `generation` (read before the backup made its choices), and
   * none only in a pack condemned by the gc marks `marks` (the ones the backup loaded:
   * it treated their packs as absent). Keeps the newest `keep` records.
   */
  markStoredSnapshot(snapshot: string, generation: number, marks: readonly string[], keep = 1000): void {
    if (generation !== this.lossGeneration) return;
    this.tx(() => {
      this.db
        .prepare('INSERT OR REPLACE INTO stored_snapshots (snapshot, generation, marks) VALUES (?, ?, ?)')
        .run(snapshot, generation, JSON.stringify(marks));
      this.db.prepare('DELETE FROM stored_snapshots WHERE rowid NOT IN (SELECT rowid FROM stored_snapshots ORDER BY rowid DESC LIMIT ?)').run(keep);
    });
  }

  /**
   * When this cache committed `snapshot` itself and has lost no pack since, the gc
   * marks its backup had loaded (its blobs are stored, none only in those marks'
   * packs); undefined for a snapshot made elsewhere or before a loss.
   */
  storedSnapshot(snapshot: string): { marks: string[] } | undefined {
    const row = this.db.prepare('SELECT generation, marks FROM stored_snapshots WHERE snapshot = ?').get(snapshot) as
      | { generation: number; marks: string }
      | undefined;
    return row && row.generation === this.lossGeneration ? { marks: JSON.parse(row.marks) as string[] } : undefined;
  }

  /** Location for backup dedup: never in a condemned pack. */
  find(type: BlobType, id: BlobId): BlobLocation | undefined {
    // Usually nothing is condemned: a plain primary-key lookup, ~5 µs instead of ~25.
    if (this.condemnedCount === 0) return this.toLocation(type, id, this.stmt.lookupAny.get(id, TYPE_CODE[type]));
    return this.toLocation(type, id, this.stmt.lookup.get(id, TYPE_CODE[type]));
  }

  private condemnedCount = 0;

  /** True when some pack is marked for deletion by prune. */
  get hasCondemned(): boolean {
    return this.condemnedCount > 0;
  }

  /** Location for reading: prefers live packs, but falls back to condemned ones (not yet swept). */
  findForRead(type: BlobType, id: BlobId): BlobLocation | undefined {
    return this.find(type, id) ?? this.toLocation(type, id, this.stmt.lookupAny.get(id, TYPE_CODE[type]));
  }

  /**
   * The ids among `ids` that are in no pack at all (condemned packs count as holding
   * them, as for findForRead). One query for a whole tree's blobs: check asks this for
   * ~100k blobs, and a call per blob costs more at the JS boundary than in SQLite.
   */
  unindexed(type: BlobType, ids: readonly BlobId[]): BlobId[] {
    if (ids.length === 0) return [];
    this.unindexedStmt ??= this.db
      .prepare(`SELECT j.value FROM json_each(?) j WHERE NOT EXISTS (SELECT 1 FROM blobs b WHERE b.id = j.value AND b.type = ?)`)
      .pluck();
    return this.unindexedStmt.all(JSON.stringify(ids), TYPE_CODE[type]) as BlobId[];
  }

  private unindexedStmt: Database.Statement | undefined;

  private toLocation(type: BlobType, id: BlobId, row: unknown): BlobLocation | undefined {
    if (!row) return undefined;
    const r = row as { pack: string; offset: number; length: number; raw_length: number; flags: number };
    return {
      type,
      id,
      pack: r.pack as PackId,
      offset: r.offset,
      length: r.length,
      rawLength: r.raw_length,
      compressed: (r.flags & 1) === 1,
    };
  }

  getPack(id: PackId): PackRecord | undefined {
    const r = this.stmt.getPack.get(id) as { id: string; size: number; enc_key_id: number; salt: Buffer } | undefined;
    return r ? { id: r.id as PackId, size: r.size, encKeyId: r.enc_key_id, salt: r.salt } : undefined;
  }

  /** Records a pack and its blobs; `indexId` is null while no index file names it yet. */
  addPack(pack: PackRecord, blobs: Omit<BlobLocation, 'pack'>[], indexId: string | null): void {
    this.tx(() => {
      this.stmt.insertPack.run(pack.id, pack.size, pack.encKeyId, pack.salt);
      for (const b of blobs) {
        this.stmt.insertBlob.run(b.id, TYPE_CODE[b.type], pack.id, b.offset, b.length, b.rawLength, b.compressed ? 1 : 0);
      }
      if (indexId) this.stmt.insertPackIndex.run(pack.id, indexId);
    });
  }

  markIndexed(packIds: PackId[], indexId: string): void {
    this.tx(() => {
      for (const p of packIds) this.stmt.insertPackIndex.run(p, indexId);
      this.db.prepare('INSERT OR IGNORE INTO index_files (id) VALUES (?)').run(indexId);
    });
  }

  addIndexFile(id: string): void {
    this.db.prepare('INSERT OR IGNORE INTO index_files (id) VALUES (?)').run(id);
  }

  indexFiles(): Set<string> {
    return new Set((this.db.prepare('SELECT id FROM index_files').all() as { id: string }[]).map((r) => r.id));
  }

  /**
   * Forgets an index file that disappeared from the repository; packs no index names
   * any more go too (a loss unless condemned, see the class comment).
   */
  dropIndexFile(id: string): void {
    this.tx(() => {
      const packs = this.db.prepare('SELECT pack FROM pack_index WHERE index_id = ?').all(id) as { pack: string }[];
      this.db.prepare('DELETE FROM pack_index WHERE index_id = ?').run(id);
      this.db.prepare('DELETE FROM index_files WHERE id = ?').run(id);
      let lost = false;
      for (const { pack } of packs) {
        const still = this.db.prepare('SELECT 1 FROM pack_index WHERE pack = ? LIMIT 1').get(pack);
        if (!still) lost = this.removePackRows(pack as PackId) || lost;
      }
      if (lost) this.noteLoss();
    });
  }

  /** Forgets a pack (a loss unless condemned, see the class comment). */
  removePack(id: PackId): void {
    this.tx(() => {
      if (this.removePackRows(id)) this.noteLoss();
    });
  }

  /**
   * Forgets every pack and index file without counting a loss: for `repair index`,
   * which has removed the packs it did not find again (removePack) and reads the rest
   * back in.
   */
  clearPacks(): void {
    this.tx(() => {
      for (const t of ['blobs', 'pack_index', 'packs', 'index_files']) this.db.prepare(`DELETE FROM ${t}`).run();
    });
  }

  /** Deletes a pack's rows; true when it was known and not condemned (a possible loss). */
  private removePackRows(id: PackId): boolean {
    const known = this.stmt.getPack.get(id) !== undefined;
    const condemned = this.db.prepare('SELECT 1 FROM condemned WHERE pack = ?').get(id) !== undefined;
    this.db.prepare('DELETE FROM blobs WHERE pack = ?').run(id);
    this.db.prepare('DELETE FROM pack_index WHERE pack = ?').run(id);
    this.db.prepare('DELETE FROM packs WHERE id = ?').run(id);
    return known && !condemned;
  }

  /** Packs the cache knows but no index file in the repository names (e.g. after a killed backup). */
  unindexedPacks(): PackId[] {
    return (
      this.db
        .prepare('SELECT id FROM packs WHERE id NOT IN (SELECT pack FROM pack_index)')
        .all() as { id: string }[]
    ).map((r) => r.id as PackId);
  }

  packIds(): PackId[] {
    return (this.db.prepare('SELECT id FROM packs').all() as { id: string }[]).map((r) => r.id as PackId);
  }

  *iteratePacks(): IterableIterator<PackRecord> {
    for (const r of this.db.prepare('SELECT id, size, enc_key_id, salt FROM packs ORDER BY id').iterate() as IterableIterator<{
      id: string;
      size: number;
      enc_key_id: number;
      salt: Buffer;
    }>) {
      yield { id: r.id as PackId, size: r.size, encKeyId: r.enc_key_id, salt: r.salt };
    }
  }

  blobsInPack(pack: PackId): BlobLocation[] {
    const rows = this.db
      .prepare('SELECT id, type, offset, length, raw_length, flags FROM blobs WHERE pack = ? ORDER BY offset')
      .all(pack) as { id: string; type: number; offset: number; length: number; raw_length: number; flags: number }[];
    return rows.map((r) => ({
      id: r.id as BlobId,
      type: CODE_TYPE[r.type]!,
      pack,
      offset: r.offset,
      length: r.length,
      rawLength: r.raw_length,
      compressed: (r.flags & 1) === 1,
    }));
  }

  hasPack(id: PackId): boolean {
    return this.stmt.getPack.get(id) !== undefined;
  }

  setCondemned(packs: Iterable<string>): void {
    this.tx(() => {
      this.db.prepare('DELETE FROM condemned').run();
      const ins = this.db.prepare('INSERT OR IGNORE INTO condemned (pack) VALUES (?)');
      for (const p of packs) ins.run(p);
    });
    this.condemnedCount = (this.db.prepare('SELECT COUNT(*) AS n FROM condemned').get() as { n: number }).n;
  }

  counts(): { packs: number; blobs: number; storedBytes: number; rawBytes: number } {
    const p = this.db.prepare('SELECT COUNT(*) AS n, COALESCE(SUM(size), 0) AS s FROM packs').get() as { n: number; s: number };
    // A blob can sit in two packs (after a repack): count distinct ids.
    const b = this.db
      .prepare('SELECT COUNT(*) AS n, COALESCE(SUM(raw), 0) AS r FROM (SELECT MAX(raw_length) AS raw FROM blobs GROUP BY id, type)')
      .get() as { n: number; r: number };
    return { packs: p.n, blobs: b.n, storedBytes: p.s, rawBytes: b.r };
  }

  /**
   * Runs fn in one write transaction (much faster for bulk inserts, atomic on crash).
   * BEGIN IMMEDIATE: the write lock is taken first, waiting (busy timeout) while another
   * process sharing this cache writes. A deferred transaction that read first and wrote
   * second failed at once with "database is locked" (SQLITE_BUSY_SNAPSHOT, which no
   * busy timeout waits out) whenever another process had committed in between: two
   * restores syncing the same cache did.
   */
  tx<T>(fn: () => T): T {
    return this.db.transaction(fn).immediate();
  }

  /** Direct handle for set computations (prune, check) that must stay on disk. */
  get database(): Database.Database {
    return this.db;
  }
}
