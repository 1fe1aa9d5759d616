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
}

export function parseWalRecordBody(body: unknown, id: string): WalRecordBody {
  const b = body as Partial<WalRecordBody> | null;
  if (!b || typeof b !== 'object' || !Array.isArray(b.segments) || typeof b.source?.name !== 'string') {
    throw new CairnError('REPO_CORRUPT', `WAL record ${id.slice(0, 8)} is malformed`);
  }
  if (b.version !== 1) throw new CairnError('REPO_VERSION', `WAL record ${id.slice(0, 8)} has unknown version ${String(b.version)}`);
  return b as WalRecordBody;
}
