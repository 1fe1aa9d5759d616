/**
 * Binlog files parsed just enough to cut them at transaction boundaries: a 4-byte magic
 * (0xfe 'bin') then v4 events, each with a 19-byte header — timestamp (4, seconds),
 * type (1), server id (4), event size (4), next position (4), flags (2).
 */
export const BINLOG_MAGIC = Buffer.from([0xfe, 0x62, 0x69, 0x6e]);

const QUERY_EVENT = 2;
const STOP_EVENT = 3;
const ROTATE_EVENT = 4;
const XID_EVENT = 16;
const GTID_EVENT = 162; // MariaDB GTID event: starts an event group

/** One transaction (event group): [start, end) in the file, its last event's time (unix seconds) and its GTID (D-S-N). */
export interface BinlogGroup {
  start: number;
  end: number;
  time: number;
  gtid: string;
}

export interface BinlogScan {
  /** Complete event groups in file order. */
  groups: BinlogGroup[];
  /** End of the last whole event (a growing file may end in the middle of one). */
  validEnd: number;
  /** End of the last complete group (or of the header events): where a replay of this file may stop. */
  safeEnd: number;
  /** The file ends with a rotate or stop event: the server will not write to it again. */
  closed: boolean;
}

export function isBinlog(buf: Buffer): boolean {
  return buf.length >= 4 && buf.subarray(0, 4).equals(BINLOG_MAGIC);
}

export function scanBinlog(buf: Buffer): BinlogScan {
  const groups: BinlogGroup[] = [];
  let pos = 4;
  let safeEnd = 4;
  let closed = false;
  let open: { start: number; time: number; last: number; standalone: boolean; gtid: string } | null = null;
  const closeGroup = (end: number): void => {
    if (open) groups.push({ start: open.start, end, time: open.time, gtid: open.gtid });
    open = null;
    safeEnd = end;
  };
  while (pos + 19 <= buf.length) {
    const time = buf.readUInt32LE(pos);
    const type = buf.readUInt8(pos + 4);
    const size = buf.readUInt32LE(pos + 9);
    if (size < 19 || pos + size > buf.length) break;
    const end = pos + size;
    if (type === GTID_EVENT) {
      // A GTID event with FL_STANDALONE (flags2 bit 0, after seq_no 8 + domain 4) starts a
      // single-statement group (DDL); otherwise the group is BEGIN … COMMIT (XID or a COMMIT query).
      if (open) closeGroup(pos);
      const standalone = size >= 19 + 13 && (buf.readUInt8(pos + 19 + 12) & 1) === 1;
      // Body: seq_no (8), domain_id (4); the server id is the event header's.
      const gtid = size >= 19 + 12 ? `${buf.readUInt32LE(pos + 19 + 8)}-${buf.readUInt32LE(pos + 5)}-${buf.readBigUInt64LE(pos + 19)}` : '';
      open = { start: pos, time, last: end, standalone, gtid };
    } else if (open) {
      open.time = Math.max(open.time, time);
      open.last = end;
      if (type === XID_EVENT || (type === QUERY_EVENT && (open.standalone || isEndQuery(buf, pos, size)))) closeGroup(end);
    } else if (type === STOP_EVENT || type === ROTATE_EVENT) {
      safeEnd = end;
    } else if (!open) {
      // Header events (format description, gtid list, binlog checkpoint) and events outside groups.
      safeEnd = end;
    }
    if (type === STOP_EVENT || type === ROTATE_EVENT) closed = true;
    pos = end;
  }
  return { groups, validEnd: pos, safeEnd, closed };
}

/** Where a replay of this file may stop at `pos` (exclusive), or why it may not. */
export type BinlogCut =
  | { ok: true }
  | { ok: false; reason: 'past-end'; safeEnd: number }
  | { ok: false; reason: 'not-event'; before: number; after: number }
  | { ok: false; reason: 'inside-transaction'; group: BinlogGroup };

/**
 * A cut must fall on an event boundary outside every transaction, and not after the
 * last complete transaction stored (a growing file's tail is not replayable yet).
 */
export function checkCut(buf: Buffer, scan: BinlogScan, pos: number): BinlogCut {
  if (pos > scan.safeEnd) return { ok: false, reason: 'past-end', safeEnd: scan.safeEnd };
  const inside = scan.groups.find((g) => g.start < pos && pos < g.end);
  if (inside) return { ok: false, reason: 'inside-transaction', group: inside };
  let at = 4;
  while (at < pos && at + 19 <= buf.length) {
    const size = buf.readUInt32LE(at + 9);
    if (size < 19) break;
    if (at + size > pos) return { ok: false, reason: 'not-event', before: at, after: at + size };
    at += size;
  }
  return at === pos ? { ok: true } : { ok: false, reason: 'not-event', before: at, after: at };
}

/** A Query event that ends a transactional group: COMMIT, ROLLBACK or XA END/PREPARE/COMMIT. */
function isEndQuery(buf: Buffer, pos: number, size: number): boolean {
  const body = pos + 19;
  const dbLen = buf.readUInt8(body + 8);
  const statusLen = buf.readUInt16LE(body + 11);
  const qStart = body + 13 + statusLen + dbLen + 1;
  const q = buf.subarray(qStart, Math.min(pos + size, qStart + 16)).toString('latin1').trim().toUpperCase();
  return q.startsWith('COMMIT') || q.startsWith('ROLLBACK') || q.startsWith('XA END') || q.startsWith('XA PREPARE') || q.startsWith('XA COMMIT');
}

/** The sequence number in a binlog file name (binlog.000042 → 42), or null. */
export function binlogNumber(name: string): number | null {
  const m = /\.(\d{6,})$/.exec(name);
  return m ? Number(m[1]) : null;
}

export function binlogBase(name: string): string {
  return name.replace(/\.\d{6,}$/, '');
}

/** The file after `name` in the server's sequence. */
export function nextBinlog(name: string): string {
  const m = /^(.*\.)(\d{6,})$/.exec(name);
  if (!m) return name;
  return `${m[1]}${String(Number(m[2]) + 1).padStart(m[2]!.length, '0')}`;
}

export function isoSeconds(t: number): string {
  return new Date(t * 1000).toISOString().replace(/\.\d{3}Z$/, '.000000Z');
}
