import type { BlobId } from '../core/ids.js';
import { CairnError } from '../core/errors/index.js';

/**
 * One WAL segment (or a partial one) as stored in a WAL catalog record
 * (docs/repository-format.md, "WAL catalog"). The bytes are ordinary data blobs
 * (chunked, deduplicated, compressed, encrypted), so a partial segment stored again
 * after it grew costs only its new chunks.
 */
export interface WalSegmentEntry {
  /** The 24-hex-digit segment file name, e.g. 000000010000000000000003 (never with `.partial`). */
  name: string;
  timeline: number;
  /** True for a segment still being written when it was stored; a complete one supersedes it. */
  partial: boolean;
  /** Bytes of the file as stored (a partial segment is zero-padded to the full size). */
  size: number;
  /** SHA-256 of the bytes, hex: tells a changed partial from an unchanged one. */
  sha256: string;
  /** Data blobs whose concatenation is the file. */
  content: BlobId[];
  /** When cairn read the file (ISO 8601). */
  received: string;
  /** Commit/abort timestamps of the first and last transaction end found in it (ISO 8601), if any. */
  firstCommit?: string;
  lastCommit?: string;
  /** Source-specific positions (SQLite: WAL generation, frame range, commits); readers of other sources ignore it. */
  meta?: Record<string, unknown>;
}

/** The body of a sealed `wal/<id>` file: the segments one flush of one source stored. */
export interface WalRecordBody {
  version: 1;
  source: { type: string; name: string };
  /** PostgreSQL system identifier (decimal string): segments of another cluster never mix. */
  systemId: string;
  /** WAL segment size in bytes (16 MiB by default). */
  segmentSize: number;
  created: string;
  host: string;
  segments: WalSegmentEntry[];
  /**
   * For a record written by `cairn copy` between repositories with different keys: the id
   * of the source record it copies (or that record's own `original`), so a later copy
   * skips it. Its segments' `content` are the destination's blob ids; every other field
   * is the source's.
   */
  original?: string;
}

export function parseWalRecordBody(body: unknown, id: string): WalRecordBody {
  const b = body as Partial<WalRecordBody> | null;
  if (!b || typeof b !== 'object' || !Array.isArray(b.segments) || typeof b.source?.name !== 'string') {
    throw new CairnError('REPO_CORRUPT', `WAL record ${id.slice(0, 8)} is malformed`);
  }
  if (b.version !== 1) throw new CairnError('REPO_VERSION', `WAL record ${id.slice(0, 8)} has unknown version ${String(b.version)}`);
  return b as WalRecordBody;
}

/** True when `a` is a better stored version of a segment than `b`: complete over partial, then the later received. */
export function betterSegment(a: WalSegmentEntry, b: WalSegmentEntry): boolean {
  if (a.partial !== b.partial) return !a.partial;
  return a.received > b.received;
}

/**
 * For each (source, segment name), the best stored version over the given records and
 * the record naming it: the rule every reader applies (docs/repository-format.md, "WAL
 * catalog records"). Records must be in listing order (oldest first), so ties resolve
 * the way WalCatalog resolves them. Keyed by `<source name>/<segment name>`.
 */
export function bestWalSegments(records: { id: string; body: WalRecordBody }[]): Map<string, { recordId: string; source: string; segment: WalSegmentEntry }> {
  const best = new Map<string, { recordId: string; source: string; segment: WalSegmentEntry }>();
  for (const r of records) {
    for (const s of r.body.segments) {
      const key = `${r.body.source.name}/${s.name}`;
      const cur = best.get(key);
      if (!cur || betterSegment(s, cur.segment)) best.set(key, { recordId: r.id, source: r.body.source.name, segment: s });
    }
  }
  return best;
}
