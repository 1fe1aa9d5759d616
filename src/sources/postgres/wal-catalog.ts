import { CairnError } from '../../core/errors/index.js';
import type { Repository } from '../../repository/repository.js';
import type { WalRecordBody, WalSegmentEntry } from '../../snapshot/wal-record.js';
import { isSegmentName, segmentNumber, segmentTimeline } from './wal-name.js';
import { LogCatalog, loadLogEntry, storeLogEntries, type CatalogEntry, type LogEntryFile } from '../log-catalog.js';

export const POSTGRES = 'postgres';

/** A catalog entry with the record that names it. */
export type CatalogSegment = CatalogEntry;

/** The WAL of one postgres source as the repository holds it (LogCatalog), by segment name. */
export class WalCatalog extends LogCatalog<CatalogSegment> {
  static readonly sourceType = POSTGRES;

  get systemId(): string | undefined {
    return this.records[0]?.body.systemId;
  }

  get segmentSize(): number {
    return this.records[0]?.body.segmentSize ?? 16 * 1024 * 1024;
  }

  /** Segments of one timeline, by position. */
  onTimeline(timeline: number): Map<number, CatalogSegment> {
    const out = new Map<number, CatalogSegment>();
    for (const s of this.best.values()) if (segmentTimeline(s.name) === timeline) out.set(segmentNumber(s.name, this.segmentSize), s);
    return out;
  }
}

/** A segment file to store (its timeline comes from its name). */
export type SegmentFile = Pick<LogEntryFile, 'name' | 'partial' | 'bytes' | 'firstCommit' | 'lastCommit'>;

/**
 * Stores segment files as data blobs (chunked and deduplicated like file content) and
 * then one WAL record naming them. The record is written only after the index file
 * that names its packs (BlobSaver.finish), so a record never names a blob that is not
 * verifiably stored. Returns the record id, or null when there was nothing to store.
 */
export async function storeSegments(
  repo: Repository,
  source: { name: string; systemId: string; segmentSize: number },
  files: SegmentFile[],
): Promise<{ id: string; body: WalRecordBody } | null> {
  for (const f of files) if (!isSegmentName(f.name)) throw new CairnError('INTERNAL', `not a WAL segment name: ${f.name}`);
  return storeLogEntries(
    repo,
    { type: POSTGRES, ...source },
    files.map((f) => ({ ...f, timeline: segmentTimeline(f.name) })),
  );
}

/** The bytes of one stored segment, checked against the hash recorded for it. */
export function loadSegment(repo: Repository, s: WalSegmentEntry): Promise<Buffer> {
  return loadLogEntry(repo, s, 'WAL segment');
}
