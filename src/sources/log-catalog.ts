import { chunkStream } from '../chunker/chunk-stream.js';
import { createCutFinder } from '../chunker/create-cut-finder.js';
import { CairnError } from '../core/errors/index.js';
import type { BlobId } from '../core/ids.js';
import { sha256Hex } from '../crypto/sha256.js';
import { BlobSaver } from '../repository/blob-saver.js';
import { defaultHost, type Repository } from '../repository/repository.js';
import { betterSegment, type WalRecordBody, type WalSegmentEntry } from '../snapshot/wal-record.js';

/** A stored log entry (a WAL segment, a binlog file, a frame batch) with the record naming it. */
export interface CatalogEntry extends WalSegmentEntry {
  recordId: string;
}

export type LogRecord = { id: string; body: WalRecordBody };

type CatalogClass<C> = (new (name: string, records: LogRecord[]) => C) & { readonly sourceType: string };

/**
 * The continuous log of one source as the repository holds it: every `wal/` record of
 * that source type and name, and for each entry name the best stored version (a
 * complete one over any partial; among partials the last received, which holds the
 * most — `betterSegment`, the rule every reader applies). Each source's catalog
 * (WalCatalog, BinlogCatalog, …) adds what its log's names mean, and its source type
 * as `static sourceType`.
 */
export class LogCatalog<E extends CatalogEntry = CatalogEntry> {
  readonly best = new Map<string, E>();

  constructor(
    readonly name: string,
    readonly records: LogRecord[],
  ) {
    for (const r of records) {
      for (const s of r.body.segments) {
        const cur = this.best.get(s.name);
        if (!cur || betterSegment(s, cur)) this.best.set(s.name, { ...s, recordId: r.id } as E);
      }
    }
  }

  /** A catalog of records already loaded (tests, tools). */
  static fromRecords<C>(this: new (name: string, records: LogRecord[]) => C, name: string, records: LogRecord[]): C {
    return new this(name, records);
  }

  /** The catalog of one source as the repository holds it now. */
  static async load<C>(this: CatalogClass<C>, repo: Repository, name: string): Promise<C> {
    return new this(name, await LogCatalog.recordsOf(repo, this.sourceType, name));
  }

  /** The records of one source, in listing order (oldest first). */
  static async recordsOf(repo: Repository, type: string, name: string): Promise<LogRecord[]> {
    return (await repo.listWalRecords()).filter((r) => r.body.source.type === type && r.body.source.name === name);
  }
}

/** One entry to store: its bytes and what the record says of them. */
export interface LogEntryFile {
  name: string;
  partial: boolean;
  bytes: Buffer;
  /** 0 for logs without timelines. */
  timeline?: number;
  firstCommit?: string;
  lastCommit?: string;
  meta?: WalSegmentEntry['meta'];
  /** When it arrived; default now (ms precision). SQLite stamps its own, in µs. */
  received?: string;
}

/**
 * Stores log entries as chunked, deduplicated data blobs (a growing partial entry stored
 * again costs only its new chunks), then one record naming them — after the index file
 * naming their packs, so a record never names data another host cannot find.
 */
export async function storeLogEntries(
  repo: Repository,
  source: { type: string; name: string; systemId: string; segmentSize: number },
  files: LogEntryFile[],
): Promise<LogRecord | null> {
  if (files.length === 0) return null;
  const saver = new BlobSaver(repo);
  const segments: WalSegmentEntry[] = [];
  try {
    for (const f of files) {
      const content: BlobId[] = [];
      const finder = createCutFinder(repo.config.chunker, repo.gear);
      for await (const chunk of chunkStream(once(f.bytes), finder)) content.push((await saver.save('data', chunk)).id);
      segments.push({
        name: f.name,
        timeline: f.timeline ?? 0,
        partial: f.partial,
        size: f.bytes.length,
        sha256: sha256Hex(f.bytes),
        content,
        received: f.received ?? repo.deps.clock.now().toISOString(),
        ...(f.firstCommit ? { firstCommit: f.firstCommit } : {}),
        ...(f.lastCommit ? { lastCommit: f.lastCommit } : {}),
        ...(f.meta ? { meta: f.meta } : {}),
      });
    }
    await saver.finish();
  } catch (err) {
    await saver.abandon();
    throw err;
  }
  const body: WalRecordBody = {
    version: 1,
    source: { type: source.type, name: source.name },
    systemId: source.systemId,
    segmentSize: source.segmentSize,
    created: repo.deps.clock.now().toISOString(),
    host: defaultHost(),
    segments,
  };
  return { id: await repo.saveWalRecord(body), body };
}

/** The bytes of one stored entry, checked against the size and hash recorded for it. */
export async function loadLogEntry(repo: Repository, s: WalSegmentEntry, what: string): Promise<Buffer> {
  const parts: Buffer[] = [];
  for (const id of s.content) parts.push(await repo.loadBlob('data', id));
  const bytes = Buffer.concat(parts);
  if (bytes.length !== s.size || sha256Hex(bytes) !== s.sha256) {
    throw new CairnError('REPO_CORRUPT', `${what} ${s.name} does not match its recorded size and hash`, {
      hint: 'run `cairn check --read-data`',
    });
  }
  return bytes;
}

async function* once(b: Buffer): AsyncIterable<Uint8Array> {
  yield b;
}
