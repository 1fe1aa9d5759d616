import type { Repository } from '../../repository/repository.js';
import type { WalSegmentEntry } from '../../snapshot/wal-record.js';
import { binlogNumber } from './binlog-events.js';
import { LogCatalog, loadLogEntry, storeLogEntries, type CatalogEntry, type LogEntryFile } from '../log-catalog.js';

export const MARIADB = 'mariadb';

export type CatalogBinlog = CatalogEntry;

/**
 * The binlog of one source as the repository holds it (LogCatalog): records of source
 * type `mariadb`, each naming binlog files — complete ones and versions of the growing
 * current one (`partial`).
 */
export class BinlogCatalog extends LogCatalog<CatalogBinlog> {
  static readonly sourceType = MARIADB;

  get serverId(): string | undefined {
    return this.records[0]?.body.systemId;
  }

  /** Stored files by sequence number. */
  byNumber(): Map<number, CatalogBinlog> {
    const out = new Map<number, CatalogBinlog>();
    for (const s of this.best.values()) {
      const n = binlogNumber(s.name);
      if (n !== null) out.set(n, s);
    }
    return out;
  }

  /** The newest stored file (by sequence number). */
  newest(): CatalogBinlog | undefined {
    return [...this.byNumber().entries()].sort((a, b) => a[0] - b[0]).at(-1)?.[1];
  }
}

/** A binlog file to store: whole, or a growing one up to its last whole event (`partial`). */
export type BinlogFile = Pick<LogEntryFile, 'name' | 'partial' | 'bytes' | 'firstCommit' | 'lastCommit'>;

/** Stores binlog files as data blobs, then one record naming them (after the index file naming their packs). */
export async function storeBinlogs(repo: Repository, source: { name: string; serverId: string }, files: BinlogFile[]): Promise<string | null> {
  const rec = await storeLogEntries(repo, { type: MARIADB, name: source.name, systemId: source.serverId, segmentSize: 0 }, files);
  return rec?.id ?? null;
}

export function loadBinlog(repo: Repository, s: WalSegmentEntry): Promise<Buffer> {
  return loadLogEntry(repo, s, 'binlog file');
}
