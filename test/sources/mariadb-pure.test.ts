import { Readable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import type { ForgetResult, SnapshotInfo } from '../../src/engine/types.js';
import type { WalRecordBody, WalSegmentEntry } from '../../src/snapshot/wal-record.js';
import { BinlogCatalog } from '../../src/sources/mariadb/binlog-catalog.js';
import { BINLOG_MAGIC, nextBinlog, scanBinlog } from '../../src/sources/mariadb/binlog-events.js';
import { analyseMyPitr, chooseWindow, type MyBase, type MyDumpMeta } from '../../src/sources/mariadb/mariadb-pitr.js';
import { filterDatabases } from '../../src/sources/mariadb/mariadb-source.js';
import { planMyRetention } from '../../src/sources/mariadb/my-retention.js';
import { parseMyLocation } from '../../src/sources/mariadb/my-location.js';

/** v4 binlog events: 19-byte header (timestamp, type, server id, size, next position, flags) + body. */
function binlog(events: { t: number; type: number; body?: Buffer }[]): Buffer {
  const parts: Buffer[] = [BINLOG_MAGIC];
  let pos = 4;
  for (const e of events) {
    const body = e.body ?? Buffer.alloc(8);
    const h = Buffer.alloc(19);
    h.writeUInt32LE(e.t, 0);
    h.writeUInt8(e.type, 4);
    h.writeUInt32LE(1, 5);
    h.writeUInt32LE(19 + body.length, 9);
    h.writeUInt32LE(pos + 19 + body.length, 13);
    parts.push(h, body);
    pos += 19 + body.length;
  }
  return Buffer.concat(parts);
}
function query(q: string, db = 'shop'): Buffer {
  const post = Buffer.alloc(13);
  post.writeUInt8(db.length, 8);
  return Buffer.concat([post, Buffer.from(db + '\0' + q, 'latin1')]);
}
const FDE = 15, GTID = 162, QUERY = 2, TABLE_MAP = 19, WRITE_ROWS = 30, XID = 16, ROTATE = 4;
/** A GTID event body with FL_STANDALONE (a DDL group). */
const standalone = () => Buffer.from([0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1]);
/** A statement-format transaction: BEGIN, the statement as a query, XID. */
const stmtTrx = (t: number) => [
  { t, type: GTID, body: Buffer.alloc(13) },
  { t, type: QUERY, body: query('BEGIN') },
  { t, type: QUERY, body: query('INSERT INTO t VALUES (1)') },
  { t, type: XID },
];
const trx = (t: number) => [
  { t, type: GTID, body: Buffer.alloc(13) },
  { t, type: QUERY, body: query('BEGIN') },
  { t, type: TABLE_MAP },
  { t, type: WRITE_ROWS },
  { t, type: XID },
];

describe('binlog event scan', () => {
  it('finds transaction groups, their times and where a replay may stop', () => {
    const buf = binlog([{ t: 100, type: FDE, body: Buffer.alloc(40) }, ...trx(101), { t: 102, type: GTID, body: standalone() }, { t: 102, type: QUERY, body: query('CREATE TABLE x (a int)') }, ...stmtTrx(103), ...trx(105)]);
    const s = scanBinlog(buf);
    expect(s.groups.map((g) => g.time)).toEqual([101, 102, 103, 105]);
    expect(s.validEnd).toBe(buf.length);
    expect(s.safeEnd).toBe(buf.length);
    expect(s.closed).toBe(false);
    expect(s.groups[1]!.end).toBe(s.groups[2]!.start); // the DDL is a group of its own
    // The statement-format transaction is one group up to its XID (not cut after the INSERT query).
    expect(s.groups[2]!.end - s.groups[2]!.start).toBe(32 + 42 + 61 + 27); // GTID, BEGIN, INSERT, XID
  });

  it('a growing file: a torn last event and an unfinished transaction are not replayable', () => {
    const whole = binlog([{ t: 100, type: FDE, body: Buffer.alloc(40) }, ...trx(101), ...trx(102)]);
    const first = scanBinlog(whole).groups[0]!;
    const torn = whole.subarray(0, whole.length - 3); // the XID of the second transaction is cut
    const s = scanBinlog(torn);
    expect(s.groups).toHaveLength(1);
    expect(s.safeEnd).toBe(first.end);
    expect(s.validEnd).toBeLessThan(torn.length);
  });

  it('a file ending in a rotate event is closed', () => {
    expect(scanBinlog(binlog([{ t: 1, type: FDE }, ...trx(2), { t: 3, type: ROTATE }])).closed).toBe(true);
    expect(nextBinlog('binlog.000009')).toBe('binlog.000010');
  });
});

function seg(name: string, partial: boolean, last: string | undefined, received = '2026-01-01T00:00:00.000Z'): WalSegmentEntry {
  return { name, timeline: 0, partial, size: 1, sha256: name, content: [], received, ...(last ? { firstCommit: last, lastCommit: last } : {}) };
}
function rec(id: string, segments: WalSegmentEntry[]): { id: string; body: WalRecordBody } {
  return { id, body: { version: 1, source: { type: 'mariadb', name: 'db1' }, systemId: '1', segmentSize: 0, created: '', host: 'h', segments } };
}
function dump(id: string, stop: string, file: string): MyBase {
  const meta: MyDumpMeta = { kind: 'logical', serverId: '1', serverVersion: '10.11', binlogFile: file, binlogPos: 300, gtid: null, startTime: stop, stopTime: stop, databases: ['shop'], dumpFile: 'all-databases.sql' };
  return { snapshotId: id, time: stop, meta };
}

describe('mariadb PITR windows', () => {
  it('a chain of consecutive files from the dump, ending at the last event second', () => {
    const cat = BinlogCatalog.fromRecords('db1', [rec('r1', [seg('binlog.000001', false, '2026-01-01T00:01:00.000000Z'), seg('binlog.000002', true, '2026-01-01T00:02:00.000000Z')])]);
    const a = analyseMyPitr([dump('s1', '2026-01-01T00:00:30.000000Z', 'binlog.000001')], cat);
    expect(a.gaps).toEqual([]);
    expect(a.windows[0]).toMatchObject({ from: '2026-01-01T00:00:30.000000Z', to: '2026-01-01T00:02:00.999999Z' });
    expect(chooseWindow('db1', a, '2026-01-01T00:01:30.000000Z').snapshot).toBe('s1');
    expect(() => chooseWindow('db1', a, '2026-01-01T00:03:00.000000Z')).toThrow(expect.objectContaining({ code: 'TIME_OUT_OF_RANGE' }));
    expect(() => chooseWindow('db1', a, '2025-12-31T00:00:00.000000Z')).toThrow(expect.objectContaining({ code: 'TIME_OUT_OF_RANGE' }));
  });

  it('a missing file, or a file stored only partly before a later one, is a gap; a restore past it is refused', () => {
    const missing = BinlogCatalog.fromRecords('db1', [rec('r1', [seg('binlog.000001', false, '2026-01-01T00:01:00.000000Z'), seg('binlog.000003', false, '2026-01-01T00:03:00.000000Z')])]);
    const a = analyseMyPitr([dump('s1', '2026-01-01T00:00:30.000000Z', 'binlog.000001')], missing);
    expect(a.gapAfterNewestBase).toBe(true);
    expect(a.gaps).toEqual([{ from: 'binlog.000002', to: 'binlog.000002', reason: 'missing', after: '2026-01-01T00:01:00.999999Z' }]);
    expect(() => chooseWindow('db1', a, '2026-01-01T00:02:30.000000Z')).toThrow(expect.objectContaining({ code: 'WAL_GAP' }));
    const partial = BinlogCatalog.fromRecords('db1', [rec('r1', [seg('binlog.000001', true, '2026-01-01T00:01:00.000000Z'), seg('binlog.000002', false, '2026-01-01T00:03:00.000000Z')])]);
    expect(analyseMyPitr([dump('s1', '2026-01-01T00:00:30.000000Z', 'binlog.000001')], partial).gaps[0]).toMatchObject({ from: 'binlog.000001', reason: 'partial' });
    // A complete version stored later supersedes the partial one.
    const healed = BinlogCatalog.fromRecords('db1', [
      rec('r1', [seg('binlog.000001', true, '2026-01-01T00:01:00.000000Z')]),
      rec('r2', [seg('binlog.000001', false, '2026-01-01T00:01:10.000000Z'), seg('binlog.000002', false, '2026-01-01T00:03:00.000000Z')]),
    ]);
    expect(analyseMyPitr([dump('s1', '2026-01-01T00:00:30.000000Z', 'binlog.000001')], healed).gaps).toEqual([]);
  });
});

describe('mariadb retention (forget --keep-within)', () => {
  function info(b: MyBase): SnapshotInfo {
    return { id: b.snapshotId, shortId: b.snapshotId.slice(0, 8), time: b.time, host: 'h', paths: ['mariadb://x/'], tags: [], tree: 't', source: { type: 'mariadb', name: 'db1' }, sourceMeta: { ...b.meta } } as unknown as SnapshotInfo;
  }
  it('keeps the dump the window starts from and the binlog from its file on; drops older binlog', () => {
    const d1 = info(dump('s1', '2026-01-01T00:00:00.000000Z', 'binlog.000001'));
    const d2 = info(dump('s2', '2026-01-20T00:00:00.000000Z', 'binlog.000005'));
    const d3 = info(dump('s3', '2026-02-10T00:00:00.000000Z', 'binlog.000009'));
    // The policy (keep-within 30d from the newest snapshot) would drop d1 and d2.
    const decision: ForgetResult = { groups: [{ key: { host: 'h', paths: [] }, keep: [{ snapshot: d3, reasons: ['within'] }], remove: [d1, d2] }], removed: [], dryRun: true };
    const records = [rec('old', [seg('binlog.000001', false, undefined), seg('binlog.000002', false, undefined)]), rec('mid', [seg('binlog.000004', false, undefined), seg('binlog.000005', false, undefined)]), rec('new', [seg('binlog.000009', true, undefined)])];
    const plan = planMyRetention(decision, [d1, d2, d3], records, new Date('2026-02-25T00:00:00Z'), '30d');
    expect(plan.rescue.map((r) => r.snapshot.id)).toEqual(['s2']); // newest dump ending before now − 30d
    expect(plan.wal).toEqual([{ source: 'db1', remove: ['old'], kept: 2, keepFrom: 'binlog.000005' }]);
  });
});

describe('per-database filter of an --all-databases dump', () => {
  it('keeps the header, the footer and the named databases only', async () => {
    const dumpText = [
      '-- MariaDB dump',
      '/*!40101 SET NAMES utf8mb4 */;',
      '',
      '-- Current Database: `mysql`',
      'CREATE DATABASE mysql;',
      '-- Current Database: `shop`',
      'CREATE DATABASE shop;',
      'INSERT INTO t VALUES (1);',
      '-- Current Database: `other`',
      'CREATE DATABASE other;',
      '/*!40103 SET TIME_ZONE=@OLD_TIME_ZONE */;',
      '-- Dump completed',
      '',
    ].join('\n');
    let out = '';
    for await (const c of Readable.from([Buffer.from(dumpText.slice(0, 70)), Buffer.from(dumpText.slice(70))]).pipe(filterDatabases(new Set(['shop'])))) out += String(c);
    expect(out).toContain('SET NAMES');
    expect(out).toContain('CREATE DATABASE shop;\nINSERT INTO t VALUES (1);');
    expect(out).not.toContain('mysql;');
    expect(out).not.toContain('other');
    expect(out).toContain('-- Dump completed');
  });
});

describe('per-table filter', () => {
  it('keeps the database header and the named tables only', async () => {
    const text = ['-- Current Database: `shop`', 'CREATE DATABASE shop;', 'USE `shop`;', '-- Table structure for table `t`', 'CREATE TABLE t (a int);', '-- Dumping data for table `t`', 'INSERT INTO t VALUES (1);', '-- Table structure for table `u`', 'CREATE TABLE u (a int);', '-- Dumping data for table `u`', 'INSERT INTO u VALUES (2);', "-- Dumping routines for database 'shop'", 'CREATE PROCEDURE p() BEGIN END;', '/*!40103 SET TIME_ZONE=@OLD_TIME_ZONE */;', ''].join('\n');
    let out = '';
    for await (const c of Readable.from([Buffer.from(text)]).pipe(filterDatabases(new Map([['shop', new Set(['t'])]])))) out += String(c);
    expect(out).toContain('USE `shop`;');
    expect(out).toContain('INSERT INTO t VALUES (1);');
    expect(out).not.toContain('CREATE TABLE u');
    expect(out).not.toContain('INSERT INTO u');
    expect(out).not.toContain('PROCEDURE');
    expect(out).toContain('TIME_ZONE=@OLD_TIME_ZONE');
  });
});

describe('mariadb:// and mysql:// URLs', () => {
  it('parses user, password, host and port; never shows the password', () => {
    const l = parseMyLocation('mysql://backup:s3cr%40t@db1:3307/');
    expect(l).toMatchObject({ host: 'db1', port: 3307, user: 'backup', password: 's3cr@t' });
    expect(l.display).not.toContain('s3cr');
    expect(parseMyLocation('mariadb://root@127.0.0.1/').port).toBe(3306);
  });
});
