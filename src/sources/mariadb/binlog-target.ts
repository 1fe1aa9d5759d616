import { CairnError } from '../../core/errors/index.js';
import { binlogNumber } from './binlog-events.js';

/**
 * Where a restore of a mariadb source stops: a time (`--at`, or latest), a binlog
 * position (`--at-position FILE:POS`, exclusive) or a GTID (`--at-gtid D-S-N`, that
 * transaction included). Exactly one is given.
 */
export type MyTarget =
  | { kind: 'time'; at: string }
  | { kind: 'position'; file: string; pos: number }
  | { kind: 'gtid'; gtid: string };

export function parseMyTarget(o: { at?: string | undefined; atPosition?: string | undefined; atGtid?: string | undefined }): MyTarget {
  const given = [o.at !== undefined, o.atPosition !== undefined, o.atGtid !== undefined].filter(Boolean).length;
  if (given !== 1) {
    throw new CairnError('USAGE', given === 0 ? 'a mariadb restore needs --at TIME, --at-position FILE:POS or --at-gtid D-S-N' : 'give only one of --at, --at-position and --at-gtid', {
      hint: 'e.g. --at 2026-11-27T10:00:00Z, --at-position binlog.000003:1234 or --at-gtid 0-1-42',
    });
  }
  if (o.atPosition !== undefined) return { kind: 'position', ...parseBinlogPosition(o.atPosition) };
  if (o.atGtid !== undefined) return { kind: 'gtid', gtid: parseGtid(o.atGtid) };
  return { kind: 'time', at: o.at! };
}

/** `binlog.000003:1234` (as SHOW MASTER STATUS and `mariadb-binlog`'s `# at` lines show it). */
export function parseBinlogPosition(text: string): { file: string; pos: number } {
  const m = /^([A-Za-z0-9_.-]+):(\d{1,15})$/.exec(text.trim());
  if (!m || binlogNumber(m[1]!) === null || Number(m[2]) < 4) {
    throw new CairnError('USAGE', `--at-position "${text}" is not FILE:POS`, { hint: 'e.g. --at-position binlog.000003:1234 (a binlog file name and a byte position of at least 4)' });
  }
  return { file: m[1]!, pos: Number(m[2]) };
}

/** `D-S-N` (domain, server id, sequence number), normalised without leading zeros. */
export function parseGtid(text: string): string {
  const m = /^(\d{1,10})-(\d{1,10})-(\d{1,20})$/.exec(text.trim());
  if (!m || Number(m[1]) > 0xffffffff || Number(m[2]) > 0xffffffff || BigInt(m[3]!) > 0xffffffffffffffffn) {
    throw new CairnError('USAGE', `--at-gtid "${text}" is not a MariaDB GTID`, { hint: 'e.g. --at-gtid 0-1-42 (domain-server_id-sequence, as @@gtid_binlog_pos shows it)' });
  }
  return `${Number(m[1])}-${Number(m[2])}-${BigInt(m[3]!)}`;
}

/** Orders binlog coordinates: by file sequence number, then byte position. */
export function comparePosition(a: { file: string; pos: number }, b: { file: string; pos: number }): number {
  return (binlogNumber(a.file) ?? 0) - (binlogNumber(b.file) ?? 0) || a.pos - b.pos;
}
