import { chunkStream } from '../../chunker/chunk-stream.js';
import { createCutFinder } from '../../chunker/create-cut-finder.js';
import { CairnError } from '../../core/errors/index.js';
import type { BlobId } from '../../core/ids.js';
import { sha256Hex } from '../../crypto/sha256.js';
import { BlobSaver } from '../../repository/blob-saver.js';
import { defaultHost, type Repository } from '../../repository/repository.js';
import type { WalRecordBody, WalSegmentEntry } from '../../snapshot/wal-record.js';

export const REDIS = 'redis';

/**
 * One flush of the replication stream, stored as a segment of a `wal/` record of source
 * type `redis` (docs/repository-format.md, "Redis command log"). The bytes are a run of
 * frames: arrival time (float64 ms, BE), start offset (uint64 BE), length (uint32 BE),
 * then the command exactly as the master sent it (RESP).
 */
export interface RedisLogEntry extends WalSegmentEntry {
  /** `<replid>-<start offset, 20 digits>`. */
  name: string;
  replid: string;
  /** Replication offsets: the entry holds the stream bytes [startOffset, endOffset). */
  startOffset: number;
  endOffset: number;
  commands: number;
}

/** What a redis snapshot records in `sourceMeta`. */
export interface RedisBaseMeta {
  kind: 'base';
  /** The master's replication id and offset of the RDB (+FULLRESYNC). */
  replid: string;
  offset: number;
  serverVersion: string;
  /** When the RDB had arrived (ISO, ms): the earliest restorable time of this base. */
  time: string;
  rdbBytes: number;
  /** `backup` (cairn backup) or `stream` (the streamer's full resync). */
  origin: 'backup' | 'stream';
}

export interface LogCommand {
  time: number;
  start: number;
  raw: Buffer;
}

export function encodeFrames(cmds: LogCommand[]): Buffer {
  const parts: Buffer[] = [];
  for (const c of cmds) {
    const h = Buffer.alloc(20);
    h.writeDoubleBE(c.time, 0);
    h.writeBigUInt64BE(BigInt(c.start), 8);
    h.writeUInt32BE(c.raw.length, 16);
    parts.push(h, c.raw);
  }
  return Buffer.concat(parts);
}

export function decodeFrames(b: Buffer): LogCommand[] {
  const out: LogCommand[] = [];
  let p = 0;
  while (p < b.length) {
    if (p + 20 > b.length) throw new CairnError('REPO_CORRUPT', 'truncated redis command log');
    const time = b.readDoubleBE(p);
    const start = Number(b.readBigUInt64BE(p + 8));
    const len = b.readUInt32BE(p + 16);
    if (p + 20 + len > b.length) throw new CairnError('REPO_CORRUPT', 'truncated redis command log');
    out.push({ time, start, raw: b.subarray(p + 20, p + 20 + len) });
    p += 20 + len;
  }
  return out;
}

export function entryName(replid: string, start: number): string {
  return `${replid}-${String(start).padStart(20, '0')}`;
}

/**
 * Stores a run of commands as data blobs, then one `wal/` record naming them (after the
 * index file: a record never names a blob that is not verifiably stored).
 */
export async function storeLog(
  repo: Repository,
  name: string,
  replid: string,
  cmds: LogCommand[],
  endOffset: number,
  received: Date,
): Promise<{ id: string; body: WalRecordBody } | null> {
  if (cmds.length === 0) return null;
  const bytes = encodeFrames(cmds);
  const saver = new BlobSaver(repo);
  const content: BlobId[] = [];
  try {
    const finder = createCutFinder(repo.config.chunker, repo.gear);
    for await (const chunk of chunkStream(once(bytes), finder)) content.push((await saver.save('data', chunk)).id);
    await saver.finish();
  } catch (err) {
    await saver.abandon();
    throw err;
  }
  const entry: RedisLogEntry = {
    name: entryName(replid, cmds[0]!.start),
    timeline: 0,
    partial: false,
    size: bytes.length,
    sha256: sha256Hex(bytes),
    content,
    received: received.toISOString(),
    firstCommit: new Date(cmds[0]!.time).toISOString(),
    lastCommit: new Date(cmds.at(-1)!.time).toISOString(),
    replid,
    startOffset: cmds[0]!.start,
    endOffset,
    commands: cmds.length,
  };
  const body: WalRecordBody = {
    version: 1,
    source: { type: REDIS, name },
    systemId: replid,
    segmentSize: 0,
    created: received.toISOString(),
    host: defaultHost(),
    segments: [entry],
  };
  const id = await repo.saveWalRecord(body);
  return { id, body };
}

export async function loadEntry(repo: Repository, e: RedisLogEntry): Promise<LogCommand[]> {
  const parts: Buffer[] = [];
  for (const id of e.content) parts.push(await repo.loadBlob('data', id));
  const bytes = Buffer.concat(parts);
  if (bytes.length !== e.size || sha256Hex(bytes) !== e.sha256) {
    throw new CairnError('REPO_CORRUPT', `redis log entry ${e.name} does not match its recorded size and hash`, { hint: 'run `cairn check --read-data`' });
  }
  return decodeFrames(bytes);
}

/** Every log entry of a redis source, with the record naming it. */
export async function loadRedisLog(repo: Repository, name: string): Promise<{ records: { id: string; body: WalRecordBody }[]; entries: (RedisLogEntry & { recordId: string })[] }> {
  const records = (await repo.listWalRecords()).filter((r) => r.body.source.type === REDIS && r.body.source.name === name);
  const entries = records.flatMap((r) => (r.body.segments as RedisLogEntry[]).filter((s) => typeof s.startOffset === 'number').map((s) => ({ ...s, recordId: r.id })));
  return { records, entries };
}

async function* once(b: Buffer): AsyncIterable<Uint8Array> {
  yield b;
}
