import { CairnError } from '../../core/errors/index.js';

/**
 * WAL segment names: TTTTTTTT LLLLLLLL SSSSSSSS (timeline, log, segment-in-log, hex).
 * With segment size S there are 2^32 / S segments per "log", so the successor of
 * 0000000100000000000000FF (16 MiB segments) is 000000010000000100000000.
 */
export const SEGMENT_NAME = /^[0-9A-F]{24}$/;

export function isSegmentName(s: string): boolean {
  return SEGMENT_NAME.test(s);
}

export function segmentTimeline(name: string): number {
  return parseInt(name.slice(0, 8), 16);
}

/** Position of a segment on its timeline: log * perLog + seg. */
export function segmentNumber(name: string, segmentSize: number): number {
  if (!isSegmentName(name)) throw new CairnError('INTERNAL', `not a WAL segment name: ${name}`);
  const perLog = 0x1_0000_0000 / segmentSize;
  return parseInt(name.slice(8, 16), 16) * perLog + parseInt(name.slice(16, 24), 16);
}

export function segmentName(timeline: number, number: number, segmentSize: number): string {
  const perLog = 0x1_0000_0000 / segmentSize;
  const hex = (n: number) => n.toString(16).toUpperCase().padStart(8, '0');
  return hex(timeline) + hex(Math.floor(number / perLog)) + hex(number % perLog);
}

/** "0/3016610" → segment number for that LSN. */
export function lsnSegment(lsn: string, segmentSize: number): number {
  const m = /^([0-9A-Fa-f]+)\/([0-9A-Fa-f]+)$/.exec(lsn);
  if (!m) throw new CairnError('INTERNAL', `not an LSN: ${lsn}`);
  const value = BigInt(`0x${m[1]}`) * 0x1_0000_0000n + BigInt(`0x${m[2]}`);
  return Number(value / BigInt(segmentSize));
}

/**
 * System identifier and segment size from the long page header at the start of every
 * segment file (xlp_sysid at byte 24, xlp_seg_size at 32, little-endian), so a segment
 * handed to `wal-push` identifies its cluster without a connection.
 */
export function segmentHeader(bytes: Buffer): { systemId: string; segmentSize: number; timeline: number } {
  if (bytes.length < 40) throw new CairnError('USAGE', 'file is too short to be a WAL segment');
  const magic = bytes.readUInt16LE(0);
  const info = bytes.readUInt16LE(2);
  if ((info & 0x0002) === 0 || magic < 0xd000 || magic > 0xdfff) {
    throw new CairnError('USAGE', 'file does not start with a WAL long page header (not a WAL segment?)');
  }
  return { timeline: bytes.readUInt32LE(4), systemId: bytes.readBigUInt64LE(24).toString(), segmentSize: bytes.readUInt32LE(32) };
}
