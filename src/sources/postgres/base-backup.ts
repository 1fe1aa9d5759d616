import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { CairnError } from '../../core/errors/index.js';
import type { Clock } from '../../core/clock.js';
import { isoMicros } from '../../util/iso-micros.js';
import type { PgClient } from './pg-client.js';
import { replicationUrl, type PgLocation } from './pg-location.js';
import { lsnSegment, segmentName } from './wal-name.js';

/** What a postgres snapshot records in `sourceMeta` (docs/repository-format.md). */
export interface PgBaseMeta {
  kind: 'base';
  systemId: string;
  timeline: number;
  serverVersion: string;
  segmentSize: number;
  startLsn: string;
  stopLsn: string;
  /** Segment of the start LSN: the first one recovery reads. */
  startSegment: string;
  /** Segment of the stop LSN: WAL from here on must come from the catalog. */
  stopSegment: string;
  /** backup_label START TIME, as written by the server. */
  startTime: string;
  /** When pg_basebackup had returned (this host's clock, UTC, microseconds): the earliest restorable time. */
  stopTime: string;
  /** The WAL the backup needs (start..stop) is inside the snapshot, in pg_wal/ (-X stream). */
  walIncluded: true;
}

export interface SystemIdentity {
  systemId: string;
  timeline: number;
  xlogpos: string;
  segmentSize: number;
}

/** IDENTIFY_SYSTEM and SHOW wal_segment_size over a replication connection. */
export async function identifySystem(client: PgClient, loc: PgLocation): Promise<SystemIdentity> {
  const { stdout } = await client.run('psql', ['-X', '-A', '-t', '-F', '|', '-d', replicationUrl(loc), '-c', 'IDENTIFY_SYSTEM', '-c', 'SHOW wal_segment_size'], {
    timeoutMs: 30_000,
  });
  const lines = stdout.split('\n').filter((l) => l.trim() !== '');
  const [systemId, timeline, xlogpos] = (lines[0] ?? '').split('|');
  if (!systemId || !timeline || !xlogpos) throw new CairnError('SOURCE_UNREACHABLE', `unexpected IDENTIFY_SYSTEM answer from ${loc.display}`);
  return { systemId, timeline: Number(timeline), xlogpos, segmentSize: parseSize(lines[1] ?? '16MB') };
}

function parseSize(s: string): number {
  const m = /^(\d+)\s*(kB|MB|GB)?$/.exec(s.trim());
  if (!m) return 16 * 1024 * 1024;
  const unit = m[2] === 'kB' ? 1024 : m[2] === 'MB' ? 1024 ** 2 : m[2] === 'GB' ? 1024 ** 3 : 1;
  return Number(m[1]) * unit;
}

/**
 * A base backup into `dir` (which must exist and be empty): plain format, the WAL it
 * needs streamed alongside (-X stream, so the snapshot is restorable on its own), fast
 * checkpoint. Returns the metadata restore and PITR need.
 */
export async function takeBaseBackup(client: PgClient, loc: PgLocation, dir: string, clock: Clock, signal?: AbortSignal): Promise<PgBaseMeta> {
  const id = await identifySystem(client, loc);
  if (signal?.aborted) throw new CairnError('CANCELLED', 'backup cancelled; nothing was committed');
  await client.run('pg_basebackup', ['-d', loc.url, '-D', dir, '-Fp', '-X', 'stream', '-c', 'fast', '--no-sync', '-l', 'cairn base backup']);
  const stopTime = isoMicros(clock.now());
  const label = await readFile(join(dir, 'backup_label'), 'utf8');
  const manifest = JSON.parse(await readFile(join(dir, 'backup_manifest'), 'utf8')) as { 'WAL-Ranges'?: { Timeline: number; 'Start-LSN': string; 'End-LSN': string }[] };
  const range = manifest['WAL-Ranges']?.at(-1);
  if (!range) throw new CairnError('SOURCE_UNREACHABLE', 'pg_basebackup wrote no WAL range in backup_manifest');
  const version = (await readFile(join(dir, 'PG_VERSION'), 'utf8')).trim();
  const startTime = /START TIME: (.*)/.exec(label)?.[1]?.trim() ?? '';
  const size = id.segmentSize;
  return {
    kind: 'base',
    systemId: id.systemId,
    timeline: range.Timeline,
    serverVersion: version,
    segmentSize: size,
    startLsn: range['Start-LSN'],
    stopLsn: range['End-LSN'],
    startSegment: segmentName(range.Timeline, lsnSegment(range['Start-LSN'], size), size),
    stopSegment: segmentName(range.Timeline, lsnSegment(range['End-LSN'], size), size),
    startTime,
    stopTime,
    walIncluded: true,
  };
}
