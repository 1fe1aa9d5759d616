import { describe, expect, it } from 'vitest';
import { isCairnError } from '../../src/core/errors/index.js';
import { parsePitrTime } from '../../src/cli/parse-pitr-time.js';
import type { PgBaseMeta } from '../../src/sources/postgres/base-backup.js';
import { analysePitr, mergeWindows, type PitrBase } from '../../src/sources/postgres/pitr-windows.js';
import { lsnOffset, partialExtent, planRestore } from '../../src/sources/postgres/pg-restore.js';
import { WalCatalog } from '../../src/sources/postgres/wal-catalog.js';
import { isSegmentName, lsnSegment, segmentHeader, segmentName, segmentNumber, segmentTimeline } from '../../src/sources/postgres/wal-name.js';
import { parseCommitTimes } from '../../src/sources/postgres/wal-scan.js';
import type { WalRecordBody, WalSegmentEntry } from '../../src/snapshot/wal-record.js';

/**
 * The pure parts of the PostgreSQL source: PITR windows and gaps from base backups and
 * WAL records, the --at parser, WAL file names and headers. No server, no repository.
 */

const MB16 = 16 * 1024 * 1024;
const seg = (n: number, tl = 1) => segmentName(tl, n, MB16);
/** Minute m of a fixed hour, microsecond precision, as cairn stores times. */
const t = (m: number, s = 0) => `2026-11-27T10:${String(m).padStart(2, '0')}:${String(s).padStart(2, '0')}.000000Z`;

function base(id: string, stop: number, stopTime: string, tl = 1): PitrBase {
  const meta: PgBaseMeta = {
    kind: 'base',
    systemId: '7',
    timeline: tl,
    serverVersion: '15',
    segmentSize: MB16,
    startLsn: '0/0',
    stopLsn: '0/0',
    startSegment: seg(stop, tl),
    stopSegment: seg(stop, tl),
    startTime: '',
    stopTime,
    walIncluded: true,
  };
  return { snapshotId: id, time: stopTime, meta };
}

interface Seg {
  n: number;
  tl?: number;
  partial?: boolean;
  last?: string;
  received?: string;
}

let recN = 0;
function record(created: string, segs: Seg[]): { id: string; body: WalRecordBody } {
  const segments: WalSegmentEntry[] = segs.map((s) => ({
    name: seg(s.n, s.tl ?? 1),
    timeline: s.tl ?? 1,
    partial: s.partial ?? false,
    size: MB16,
    sha256: `${s.n}-${s.partial ? 'p' : 'c'}-${s.last ?? ''}`,
    content: [],
    received: s.received ?? created,
    ...(s.last ? { firstCommit: s.last, lastCommit: s.last } : {}),
  }));
  return { id: `rec${++recN}`, body: { version: 1, source: { type: 'postgres', name: 'db1' }, systemId: '7', segmentSize: MB16, created, host: 'h', segments } };
}

const catalog = (...records: { id: string; body: WalRecordBody }[]) => WalCatalog.fromRecords('db1', records);

describe('analysePitr: windows and gaps', () => {
  it('an unbroken chain from the base stop segment, ending in a partial segment, is one window', () => {
    const a = analysePitr([base('b1', 3, t(0))], catalog(record(t(1), [{ n: 2, last: t(0) }, { n: 3, last: t(1) }]), record(t(2), [{ n: 4, last: t(2) }, { n: 5, partial: true, last: t(3) }])));
    expect(a.gaps).toEqual([]);
    expect(a.gapAfterNewestBase).toBe(false);
    expect(a.windows).toHaveLength(1);
    const w = a.windows[0]!;
    expect(w).toMatchObject({ snapshot: 'b1', timeline: 1, from: t(0), to: t(3), lastSegment: seg(5), gap: null });
    // The chain starts at the base's stop segment: segment 2 (before it) is not part of it.
    expect(w.chain.map((s) => s.name)).toEqual([seg(3), seg(4), seg(5)]);
  });

  it('a base backup with no WAL after it: a window of one instant, no gap', () => {
    const a = analysePitr([base('b1', 3, t(5))], catalog());
    expect(a.windows).toEqual([{ snapshot: 'b1', timeline: 1, baseStopLsn: '0/0', segmentSize: MB16, from: t(5), to: t(5), lastSegment: null, chain: [], gap: null }]);
    expect(a.gaps).toEqual([]);
    expect(a.gapAfterNewestBase).toBe(false);
  });

  it('the base stop segment itself missing, later ones stored: a gap from the start', () => {
    const a = analysePitr([base('b1', 3, t(0))], catalog(record(t(4), [{ n: 5, last: t(4) }])));
    expect(a.gaps).toEqual([{ timeline: 1, from: seg(3), to: seg(4), reason: 'missing', after: t(0) }]);
    expect(a.gapAfterNewestBase).toBe(true);
    expect(a.windows[0]!.to).toBe(t(0));
  });

  it('a missing segment (or range) ends the window at the last commit before it', () => {
    const one = analysePitr([base('b1', 3, t(0))], catalog(record(t(1), [{ n: 3, last: t(1) }]), record(t(3), [{ n: 5, last: t(3) }])));
    expect(one.gaps).toEqual([{ timeline: 1, from: seg(4), to: seg(4), reason: 'missing', after: t(1) }]);
    expect(one.windows[0]).toMatchObject({ to: t(1), lastSegment: seg(3) });
    expect(one.gapAfterNewestBase).toBe(true);
    const range = analysePitr([base('b1', 3, t(0))], catalog(record(t(1), [{ n: 3, last: t(1) }, { n: 7, last: t(7) }])));
    expect(range.gaps).toEqual([{ timeline: 1, from: seg(4), to: seg(6), reason: 'missing', after: t(1) }]);
  });

  it('a segment stored only partially while later ones exist is a gap (its tail is lost)', () => {
    const a = analysePitr([base('b1', 3, t(0))], catalog(record(t(1), [{ n: 3, last: t(1) }, { n: 4, partial: true, last: t(2) }]), record(t(5), [{ n: 5, last: t(5) }])));
    // The partial's commits are still restorable: the window runs up to its last commit.
    expect(a.gaps).toEqual([{ timeline: 1, from: seg(4), to: seg(4), reason: 'partial', after: t(2) }]);
    expect(a.windows[0]).toMatchObject({ to: t(2), lastSegment: seg(4) });
  });

  it('a complete version supersedes partial versions of the same segment, whatever the record order', () => {
    const partialFirst = catalog(record(t(1), [{ n: 3, last: t(1) }, { n: 4, partial: true, last: t(2) }]), record(t(4), [{ n: 4, last: t(3) }, { n: 5, partial: true, last: t(4) }]));
    const completeFirst = catalog(record(t(1), [{ n: 3, last: t(1) }, { n: 4, last: t(3) }]), record(t(4), [{ n: 4, partial: true, last: t(2) }, { n: 5, partial: true, last: t(4) }]));
    for (const c of [partialFirst, completeFirst]) {
      const a = analysePitr([base('b1', 3, t(0))], c);
      expect(a.gaps).toEqual([]);
      expect(a.windows[0]!.chain.map((s) => [s.name, s.partial])).toEqual([
        [seg(3), false],
        [seg(4), false],
        [seg(5), true],
      ]);
      expect(a.windows[0]!.to).toBe(t(4));
    }
  });

  it('among partial versions the one received last counts', () => {
    const a = analysePitr(
      [base('b1', 3, t(0))],
      catalog(record(t(1), [{ n: 3, partial: true, last: t(1), received: t(1) }]), record(t(2), [{ n: 3, partial: true, last: t(2), received: t(2) }])),
    );
    expect(a.windows[0]!.to).toBe(t(2));
    expect(a.gaps).toEqual([]);
  });

  it('a gap only between older base backups is reported but does not fail (a newer base bridged it)', () => {
    const a = analysePitr(
      [base('b2', 6, t(6)), base('b1', 3, t(0))],
      catalog(record(t(1), [{ n: 3, last: t(1) }]), record(t(7), [{ n: 6, last: t(6, 30) }, { n: 7, partial: true, last: t(7) }])),
    );
    expect(a.gaps).toEqual([{ timeline: 1, from: seg(4), to: seg(5), reason: 'missing', after: t(1) }]);
    expect(a.gapAfterNewestBase).toBe(false);
    expect(a.windows.map((w) => [w.snapshot, w.from, w.to])).toEqual([
      ['b1', t(0), t(1)],
      ['b2', t(6), t(7)],
    ]);
  });

  it('timelines: a base uses WAL of its own timeline only; windows are never merged across timelines', () => {
    // Timeline 1 ran to segment 5; the server was restored to a time in segment 4 and
    // promoted: timeline 2 starts in segment 4 (000000020…04) and a new base backup on
    // timeline 2 ends in segment 6. Timeline 1 also went on (another server) until t(9).
    const c = catalog(
      record(t(2), [{ n: 3, last: t(1) }, { n: 4, last: t(2) }]),
      record(t(9), [{ n: 5, last: t(9) }]),
      record(t(8), [{ n: 4, tl: 2, last: t(2, 30) }, { n: 5, tl: 2 }, { n: 6, tl: 2, last: t(7) }, { n: 7, tl: 2, partial: true, last: t(8) }]),
    );
    const a = analysePitr([base('b1', 3, t(0), 1), base('b2', 6, t(6), 2)], c);
    expect(a.gaps).toEqual([]);
    const [w1, w2] = a.windows;
    expect(w1).toMatchObject({ snapshot: 'b1', timeline: 1, from: t(0), to: t(9), lastSegment: seg(5, 1) });
    expect(w1!.chain.every((s) => s.timeline === 1)).toBe(true);
    expect(w2).toMatchObject({ snapshot: 'b2', timeline: 2, from: t(6), to: t(8), lastSegment: seg(7, 2) });
    expect(w2!.chain.map((s) => s.name)).toEqual([seg(6, 2), seg(7, 2)]);
    // Overlapping in time (t(6)..t(8) exists in both histories), but listed per timeline.
    expect(mergeWindows(a.windows)).toEqual([
      { timeline: 1, from: t(0), to: t(9) },
      { timeline: 2, from: t(6), to: t(8) },
    ]);
    // A restore to a time both hold uses the newest base backup: timeline 2's history.
    expect(planRestore('db1', a, t(7, 30)).window.snapshot).toBe('b2');
    expect(planRestore('db1', a, t(3)).window.snapshot).toBe('b1');
  });

  it('a timeline without a base backup of its own gives no window (its WAL alone restores nothing)', () => {
    const a = analysePitr([base('b1', 3, t(0), 1)], catalog(record(t(1), [{ n: 3, last: t(1) }]), record(t(5), [{ n: 4, tl: 2, last: t(5) }, { n: 5, tl: 2, last: t(6) }])));
    expect(mergeWindows(a.windows)).toEqual([{ timeline: 1, from: t(0), to: t(1) }]);
    expect(a.gaps).toEqual([]);
  });

  it('mergeWindows merges overlapping windows of one timeline', () => {
    const a = analysePitr(
      [base('b1', 3, t(0)), base('b2', 4, t(2))],
      catalog(record(t(1), [{ n: 3, last: t(1) }, { n: 4, last: t(3) }, { n: 5, partial: true, last: t(4) }])),
    );
    expect(mergeWindows(a.windows)).toEqual([{ timeline: 1, from: t(0), to: t(4) }]);
  });
});

describe('restore: a stale partial stop segment', () => {
  it('partialExtent and lsnOffset tell whether a partial segment reaches the base backup end', () => {
    const b = Buffer.alloc(1024);
    expect(partialExtent(b)).toBe(0);
    b[99] = 1;
    expect(partialExtent(b)).toBe(100);
    expect(lsnOffset('0/3016610', MB16)).toBe(0x16610);
    expect(lsnOffset('1/1000000', MB16)).toBe(0);
    expect(lsnOffset('0/FFFFFFF', MB16)).toBe(MB16 - 1);
  });
});

describe('parsePitrTime (--at)', () => {
  it('accepts ISO 8601 with Z or an offset and returns UTC with microseconds', () => {
    expect(parsePitrTime('2026-11-27T10:00:00Z')).toBe('2026-11-27T10:00:00.000000Z');
    expect(parsePitrTime('2026-11-27T11:00:00+01:00')).toBe('2026-11-27T10:00:00.000000Z');
    expect(parsePitrTime('2026-11-27T05:30:00.123456-0430')).toBe('2026-11-27T10:00:00.123456Z');
    expect(parsePitrTime('2026-11-27 12:00+02')).toBe('2026-11-27T10:00:00.000000Z');
    expect(parsePitrTime('2026-01-01T00:30:00+01:00')).toBe('2025-12-31T23:30:00.000000Z');
    expect(parsePitrTime('2026-11-27T10:00:00.123456789z')).toBe('2026-11-27T10:00:00.123456Z');
    expect(parsePitrTime('2026-11-27T10:00:00.5Z')).toBe('2026-11-27T10:00:00.500000Z');
  });

  it('accepts latest', () => {
    expect(parsePitrTime('latest')).toBe('latest');
    expect(parsePitrTime(' latest ')).toBe('latest');
  });

  it.each([
    ['no offset', '2026-11-27T10:00:00'],
    ['no offset, date only', '2026-11-27'],
    ['junk', 'yesterday'],
    ['empty', ''],
    ['Feb 30', '2026-02-30T00:00:00Z'],
    ['hour 25', '2026-11-27T25:00:00Z'],
    ['offset beyond 18h', '2026-11-27T10:00:00+19:00'],
    ['unix time', '1764237600'],
    ['LATEST in capitals is not latest', 'LATEST'],
  ])('refuses %s with USAGE', (_what, text) => {
    let err: unknown;
    try {
      parsePitrTime(text);
    } catch (e) {
      err = e;
    }
    expect(isCairnError(err, 'USAGE'), String(err)).toBe(true);
  });
});

describe('WAL names and headers', () => {
  it('names ↔ positions, with 2^32 / segment size segments per log', () => {
    expect(segmentName(1, 3, MB16)).toBe('000000010000000000000003');
    expect(segmentNumber('0000000100000000000000FF', MB16)).toBe(255);
    expect(segmentName(1, 256, MB16)).toBe('000000010000000100000000'); // successor of …00FF
    expect(segmentNumber('000000020000000A00000010', MB16)).toBe(10 * 256 + 16);
    expect(segmentTimeline('0000000A0000000000000001')).toBe(10);
    // 64 MiB segments: 64 per log.
    expect(segmentName(1, 64, 64 * 1024 * 1024)).toBe('000000010000000100000000');
    for (const n of [0, 1, 255, 256, 123456]) expect(segmentNumber(segmentName(3, n, MB16), MB16)).toBe(n);
  });

  it('recognises segment names only (not .partial, .history, lower case)', () => {
    expect(isSegmentName('000000010000000000000003')).toBe(true);
    for (const s of ['000000010000000000000003.partial', '00000002.history', '000000010000000000000003.00000028.backup', '00000001000000000000000a']) {
      expect(isSegmentName(s)).toBe(false);
    }
    expect(() => segmentNumber('00000002.history', MB16)).toThrow(/not a WAL segment name/);
  });

  it('LSN → segment number', () => {
    expect(lsnSegment('0/3016610', MB16)).toBe(3);
    expect(lsnSegment('0/FFFFFFFF', MB16)).toBe(255);
    expect(lsnSegment('1/0', MB16)).toBe(256);
    expect(lsnSegment('1A/2000000', MB16)).toBe(0x1a * 256 + 2);
    expect(() => lsnSegment('junk', MB16)).toThrow(/not an LSN/);
  });

  it('reads system id, segment size and timeline from a long page header; refuses other files', () => {
    const b = Buffer.alloc(8192);
    b.writeUInt16LE(0xd110, 0); // PG15 magic
    b.writeUInt16LE(0x0002 | 0x0004, 2); // XLP_LONG_HEADER | XLP_BKP_REMOVABLE
    b.writeUInt32LE(2, 4);
    b.writeBigUInt64LE(7712345678901234567n, 24);
    b.writeUInt32LE(MB16, 32);
    expect(segmentHeader(b)).toEqual({ timeline: 2, systemId: '7712345678901234567', segmentSize: MB16 });
    const short = b.subarray(0, 20);
    expect(() => segmentHeader(short)).toThrow(/too short/);
    const noLong = Buffer.from(b);
    noLong.writeUInt16LE(0, 2);
    expect(() => segmentHeader(noLong)).toThrow(/long page header/);
    expect(() => segmentHeader(Buffer.alloc(8192, 0x41))).toThrow(/long page header/);
  });

  it('commit times from pg_waldump output: COMMIT and ABORT, microseconds kept, other records ignored', () => {
    const out = [
      'rmgr: Heap        len (rec/tot):     59/    59, tx:        735, lsn: 0/03000060, prev 0/03000028, desc: INSERT off 2 flags 0x00',
      'rmgr: Transaction len (rec/tot):     34/    34, tx:        735, lsn: 0/030000A0, prev 0/03000060, desc: COMMIT 2026-11-27 10:00:01.5 UTC',
      'rmgr: Transaction len (rec/tot):     34/    34, tx:        736, lsn: 0/030000C8, prev 0/030000A0, desc: ABORT 2026-11-27 10:00:02.123456 UTC',
      'rmgr: Standby     len (rec/tot):     50/    50, tx:          0, lsn: 0/03000100, prev 0/030000C8, desc: RUNNING_XACTS nextXid 737',
    ].join('\n');
    expect(parseCommitTimes(out)).toEqual({ firstCommit: '2026-11-27T10:00:01.500000Z', lastCommit: '2026-11-27T10:00:02.123456Z' });
    expect(parseCommitTimes('')).toEqual({});
  });
});
