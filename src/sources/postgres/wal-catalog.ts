import { chunkStream } from '../../chunker/chunk-stream.js';
import { createCutFinder } from '../../chunker/create-cut-finder.js';
import { CairnError } from '../../core/errors/index.js';
import type { BlobId } from '../../core/ids.js';
import { sha256Hex } from '../../crypto/sha256.js';
import { BlobSaver } from '../../repository/blob-saver.js';
import { defaultHost, type Repository } from '../../repository/repository.js';
import type { WalRecordBody, WalSegmentEntry } from '../../snapshot/wal-record.js';
import { isSegmentName, segmentNumber, segmentTimeline } from './wal-name.js';

export const POSTGRES = 'postgres';

/** A catalog entry with the record that names it. */
export interface CatalogSegment extends WalSegmentEntry {
  recordId: string;
}

/**
 * The WAL of one source as the repository holds it: every record of that name, and
 * for each segment the best stored version (a complete one over any partial; among
 * partials the last received, which holds the most).
 */
export class WalCatalog {
  readonly best = new Map<string, CatalogSegment>();

  private constructor(
    readonly name: string,
    readonly records: { id: string; body: WalRecordBody }[],
  ) {
    for (const r of records) {
      for (const s of r.body.segments) {
        const cur = this.best.get(s.name);
        if (!cur || better(s, cur)) this.best.set(s.name, { ...s, recordId: r.id });
      }
    }
  }

  /** A catalog of records already loaded (tests, tools). */
  static fromRecords(name: string, records: { id: string; body: WalRecordBody }[]): WalCatalog {
    return new WalCatalog(name, records);
  }

  static async load(repo: Repository, name: string): Promise<WalCatalog> {
    const all = await repo.listWalRecords();
    return new WalCatalog(
      name,
      all.filter((r) => r.body.source.type === POSTGRES && r.body.source.name === name),
    );
  }

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

function better(a: WalSegmentEntry, b: WalSegmentEntry): boolean {
  if (a.partial !== b.partial) return !a.partial;
  return a.received > b.received;
}

export interface SegmentFile {
  name: string;
  partial: boolean;
  bytes: Buffer;
  firstCommit?: string;
  lastCommit?: string;
}

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
  if (files.length === 0) return null;
  const saver = new BlobSaver(repo);
  const segments: WalSegmentEntry[] = [];
  try {
    for (const f of files) {
      if (!isSegmentName(f.name)) throw new CairnError('INTERNAL', `not a WAL segment name: ${f.name}`);
      const content: BlobId[] = [];
      const finder = createCutFinder(repo.config.chunker, repo.gear);
      for await (const chunk of chunkStream(once(f.bytes), finder)) content.push((await saver.save('data', chunk)).id);
      segments.push({
        name: f.name,
        timeline: segmentTimeline(f.name),
        partial: f.partial,
        size: f.bytes.length,
        sha256: sha256Hex(f.bytes),
        content,
        received: repo.deps.clock.now().toISOString(),
        ...(f.firstCommit ? { firstCommit: f.firstCommit } : {}),
        ...(f.lastCommit ? { lastCommit: f.lastCommit } : {}),
      });
    }
    await saver.finish();
  } catch (err) {
    await saver.abandon();
    throw err;
  }
  const body: WalRecordBody = {
    version: 1,
    source: { type: POSTGRES, name: source.name },
    systemId: source.systemId,
    segmentSize: source.segmentSize,
    created: repo.deps.clock.now().toISOString(),
    host: defaultHost(),
    segments,
  };
  const id = await repo.saveWalRecord(body);
  return { id, body };
}

/** The bytes of one stored segment, checked against the hash recorded for it. */
export async function loadSegment(repo: Repository, s: WalSegmentEntry): Promise<Buffer> {
  const parts: Buffer[] = [];
  for (const id of s.content) parts.push(await repo.loadBlob('data', id));
  const bytes = Buffer.concat(parts);
  if (bytes.length !== s.size || sha256Hex(bytes) !== s.sha256) {
    throw new CairnError('REPO_CORRUPT', `WAL segment ${s.name} does not match its recorded size and hash`, {
      hint: 'run `cairn check --read-data`',
    });
  }
  return bytes;
}

async function* once(b: Buffer): AsyncIterable<Uint8Array> {
  yield b;
}
