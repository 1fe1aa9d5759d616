import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BINLOG_MAGIC, checkCut, scanBinlog } from '../../src/sources/mariadb/binlog-events.js';
import { BinlogCatalog } from '../../src/sources/mariadb/binlog-catalog.js';
import { parseBinlogPosition, parseGtid, parseMyTarget } from '../../src/sources/mariadb/binlog-target.js';
import { analyseMyPitr, chooseWindowAtPosition, type MyBase } from '../../src/sources/mariadb/mariadb-pitr.js';
import { captureMain } from '../cli/helpers/run-cli.js';
import { mariadbUnavailable, startMariadb, type MariadbServer } from '../helpers/mariadb-server.js';

/**
 * Restore to a binlog position (--at-position FILE:POS, exclusive) and to a GTID
 * (--at-gtid D-S-N, inclusive), through the CLI in-process (the TypeScript sources, not
 * dist/), against a private mariadbd: a logical dump, then two writers inserting
 * concurrently while `cairn stream` captures, with a binlog rotation in between. The
 * oracle is the server itself: every row carries the GTID of its transaction, and
 * BINLOG_GTID_POS(FILE, POS) says which transactions precede a position.
 */
const skip = mariadbUnavailable();
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('binlog targets (pure)', () => {
  it('parses FILE:POS and D-S-N; refuses malformed ones and more than one target', () => {
    expect(parseBinlogPosition('binlog.000002:1234')).toEqual({ file: 'binlog.000002', pos: 1234 });
    expect(parseGtid('0-1-0042')).toBe('0-1-42');
    for (const bad of ['binlog:12', 'binlog.000001', 'binlog.000001:3', 'binlog.000001:-5', 'a b.000001:9']) expect(() => parseBinlogPosition(bad), bad).toThrow(expect.objectContaining({ code: 'USAGE' }));
    for (const bad of ['0-1', '0-1-x', '1-2-3-4', '99999999999-1-1']) expect(() => parseGtid(bad), bad).toThrow(expect.objectContaining({ code: 'USAGE' }));
    expect(() => parseMyTarget({ at: 'latest', atGtid: '0-1-1' })).toThrow(expect.objectContaining({ code: 'USAGE' }));
    expect(() => parseMyTarget({})).toThrow(expect.objectContaining({ code: 'USAGE' }));
  });

  it('a cut must be an event boundary outside every transaction, within what is stored', () => {
    const ev = (type: number, body: Buffer) => {
      const h = Buffer.alloc(19);
      h.writeUInt8(type, 4);
      h.writeUInt32LE(7, 5);
      h.writeUInt32LE(19 + body.length, 9);
      return Buffer.concat([h, body]);
    };
    const gtid = Buffer.alloc(13);
    gtid.writeBigUInt64LE(42n, 0);
    gtid.writeUInt32LE(3, 8);
    const begin = Buffer.concat([Buffer.alloc(8), Buffer.from([4]), Buffer.alloc(4), Buffer.from('shop\0BEGIN', 'latin1')]);
    const buf = Buffer.concat([BINLOG_MAGIC, ev(15, Buffer.alloc(40)), ev(162, gtid), ev(2, begin), ev(30, Buffer.alloc(10)), ev(16, Buffer.alloc(8))]);
    const scan = scanBinlog(buf);
    expect(scan.groups).toEqual([{ start: 63, end: buf.length, time: 0, gtid: '3-7-42' }]);
    expect(checkCut(buf, scan, 63)).toEqual({ ok: true });
    expect(checkCut(buf, scan, buf.length)).toEqual({ ok: true });
    expect(checkCut(buf, scan, 95)).toMatchObject({ ok: false, reason: 'inside-transaction' });
    expect(checkCut(buf, scan, 30)).toEqual({ ok: false, reason: 'not-event', before: 4, after: 63 });
    expect(checkCut(buf, scan, buf.length + 1)).toMatchObject({ ok: false, reason: 'past-end' });
  });
});

describe('choosing the base for a position (pure)', () => {
  const base = (id: string, file: string, pos: number, stop: string): MyBase => ({
    snapshotId: id,
    time: stop,
    meta: { kind: id.startsWith('p') ? 'physical' : 'logical', serverId: '1', serverVersion: '10.11', binlogFile: file, binlogPos: pos, gtid: '0-1-1', startTime: stop, stopTime: stop, databases: [] },
  });
  const seg = (name: string) => ({ name, timeline: 0, partial: false, size: 5000, sha256: name, content: [], received: '2026-01-01T00:00:00.000Z', lastCommit: '2026-01-01T00:05:00.000000Z' });
  const catalog = (names: string[]) => BinlogCatalog.fromRecords('db1', [{ id: 'r', body: { version: 1, source: { type: 'mariadb', name: 'db1' }, systemId: '1', segmentSize: 0, created: '', host: 'h', segments: names.map(seg) } }]);
  const bases = [base('d1', 'binlog.000001', 300, '2026-01-01T00:00:00.000000Z'), base('p2', 'binlog.000002', 800, '2026-01-01T00:02:00.000000Z')];

  it('the newest base at or before the position; before all, past the binlog, after a gap', () => {
    const a = analyseMyPitr(bases, catalog(['binlog.000001', 'binlog.000002', 'binlog.000003']));
    const at = (file: string, pos: number) => chooseWindowAtPosition('db1', a, bases, { file, pos }, `${file}:${pos}`).snapshot;
    expect(at('binlog.000002', 800)).toBe('p2');
    expect(at('binlog.000002', 799)).toBe('d1');
    expect(at('binlog.000003', 4)).toBe('p2');
    expect(() => at('binlog.000001', 200)).toThrow(expect.objectContaining({ code: 'TIME_OUT_OF_RANGE', message: expect.stringContaining('restorable: binlog.000001:300 (GTID 0-1-1) .. binlog.000003:5000') }));
    expect(() => at('binlog.000004', 4)).toThrow(expect.objectContaining({ code: 'TIME_OUT_OF_RANGE', message: expect.stringContaining('past the binlog') }));
    expect(() => at('mysql-bin.000002', 900)).toThrow(expect.objectContaining({ code: 'TIME_OUT_OF_RANGE' }));
    const gapped = analyseMyPitr(bases, catalog(['binlog.000001', 'binlog.000002', 'binlog.000004']));
    expect(() => chooseWindowAtPosition('db1', gapped, bases, { file: 'binlog.000004', pos: 4 }, 'x')).toThrow(expect.objectContaining({ code: 'WAL_GAP' }));
  });
});

describe.skipIf(skip !== null)('mariadb restore --at-position / --at-gtid', () => {
  let a: MariadbServer;
  let b: MariadbServer;
  let dir: string;
  let env: Record<string, string>;
  /** Row (table:id) → GTID sequence number of the transaction that inserted it. */
  const seqOf = new Map<string, number>();

  // The real engine, in-process: env, cwd and home are this suite's directory.
  const cairn = (args: string[], signal?: AbortSignal) => captureMain(args, { env, cwd: dir, homedir: dir, ...(signal ? { signal } : {}) });
  async function json(args: string[]): Promise<any> {
    const r = await cairn(['--json', ...args]);
    expect(r.code, `cairn ${args.join(' ')}\n${r.stdout}\n${r.stderr}`).toBe(0);
    return JSON.parse(r.stdout);
  }
  /** An insert and the GTID of its transaction, in one session. */
  async function insert(table: string, id: number): Promise<void> {
    const out = await a.sql(`INSERT INTO shop.${table} VALUES (${id}); SELECT @@last_gtid`);
    seqOf.set(`${table}:${id}`, Number(out.trim().split('-')[2]));
  }
  async function restored(): Promise<string[]> {
    const rows = await b.sql("SELECT CONCAT('t:', id) FROM shop.t UNION ALL SELECT CONCAT('u:', id) FROM shop.u");
    return rows.split('\n').filter(Boolean).sort();
  }
  const upTo = (seq: number) => [...seqOf.entries()].filter(([, s]) => s <= seq).map(([k]) => k).sort();
  async function restoreTo(flag: string, value: string): Promise<{ result: any; rows: string[] }> {
    await b.sql('DROP DATABASE IF EXISTS shop');
    const result = await json(['restore', '--source', 'db1', flag, value, '--to', b.url]);
    return { result, rows: await restored() };
  }
  async function fails(args: string[], code: number, tag: string): Promise<string> {
    const r = await cairn(['restore', '--source', 'db1', ...args, '--to', b.url]);
    expect(r.code, `${args.join(' ')}\n${r.stderr}`).toBe(code);
    const first = r.stderr.split('\n')[0]!;
    expect(first).toMatch(new RegExp(`^cairn: error: .*\\[${tag}\\]$`));
    expect(r.stderr).not.toMatch(/\n\s+at /);
    return first;
  }

  const positions: { file: string; pos: number; seq: number }[] = [];

  beforeAll(async () => {
    process.env.CAIRN_KDF_N = '1024';
    [a, b] = await Promise.all([startMariadb(), startMariadb()]);
    dir = await mkdtemp(join(tmpdir(), 'cairn-mariadb-position-'));
    env = { CAIRN_REPO: join(dir, 'repo'), CAIRN_PASSWORD: 'position test', CAIRN_CACHE_DIR: join(dir, 'cache'), HOME: dir, PATH: process.env.PATH ?? '' };
    await json(['init']);
    await a.sql('CREATE DATABASE shop; CREATE TABLE shop.t (id INT PRIMARY KEY); CREATE TABLE shop.u (id INT PRIMARY KEY)');
    for (const i of [1, 2, 3]) await insert('t', i);
    const dump = await json(['backup', a.url, '--name', 'db1']);
    expect(dump.snapshot.sourceMeta).toMatchObject({ kind: 'logical', binlogFile: 'binlog.000001' });

    const stop = new AbortController();
    const streaming = cairn(['stream', a.url, '--name', 'db1', '--flush-interval', '1s'], stop.signal);
    // Two writers at once; writer t also notes positions (SHOW MASTER STATUS after its commit).
    const writerU = (async () => {
      for (let i = 100; i < 124; i++) {
        await insert('u', i);
        await sleep(15);
      }
    })();
    for (let i = 100; i < 124; i++) {
      await insert('t', i);
      if (i === 112) await a.sql('FLUSH BINARY LOGS');
      if (i % 5 === 0) {
        const [file, pos] = (await a.sql('SHOW MASTER STATUS')).split('\t');
        const [gtidPos] = (await a.sql(`SELECT BINLOG_GTID_POS('${file}', ${pos})`)).trim().split(',');
        positions.push({ file: file!, pos: Number(pos), seq: Number(gtidPos!.split('-')[2]) });
      }
      await sleep(15);
    }
    await writerU;
    await sleep(1600);
    stop.abort();
    const s = await streaming;
    expect(s.code, s.stderr).toBe(0);
  }, 60_000);

  afterAll(async () => {
    await Promise.all([a?.stop(), b?.stop()]);
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('pitr shows each base with its binlog coordinates and GTID', async () => {
    const report = await json(['pitr', 'db1']);
    expect(report.bases[0]).toMatchObject({ kind: 'logical', binlogFile: 'binlog.000001', gtid: expect.stringMatching(/^0-1-\d+$/), end: expect.stringMatching(/^binlog\.000002:\d+$/) });
    const text = await cairn(['pitr', 'db1']);
    expect(text.stdout).toMatch(/logical {2}binlog\.000001:\d+ {2}GTID 0-1-\d+/);
  });

  it('--at-gtid restores exactly the transactions through that GTID; --json names it', async () => {
    const seq = seqOf.get('t:117')!; // in the second binlog file
    const { result, rows } = await restoreTo('--at-gtid', `0-1-${seq}`);
    expect(rows).toEqual(upTo(seq));
    expect(rows).toContain('u:100');
    expect(result).toMatchObject({ targetGtid: `0-1-${seq}`, gtid: `0-1-${seq}`, targetTime: null, kind: 'logical', stop: { file: 'binlog.000002' } });
  });

  it('--at-position restores exactly the transactions before that position', async () => {
    const early = positions.find((p) => p.file === 'binlog.000001')!;
    const late = positions.filter((p) => p.file === 'binlog.000002').at(-2)!;
    for (const p of [early, late]) {
      const { result, rows } = await restoreTo('--at-position', `${p.file}:${p.pos}`);
      expect(rows, `${p.file}:${p.pos}`).toEqual(upTo(p.seq));
      expect(result).toMatchObject({ targetPosition: { file: p.file, position: p.pos }, stop: { file: p.file, position: p.pos }, gtid: `0-1-${p.seq}` });
    }
  });

  it('bad positions and GTIDs: one line with the right code, nothing written', async () => {
    await b.sql('DROP DATABASE IF EXISTS shop');
    await fails(['--at-position', 'binlog.000001'], 2, 'USAGE');
    await fails(['--at-gtid', '0-1'], 2, 'USAGE');
    await fails(['--at', 'latest', '--at-gtid', '0-1-5'], 2, 'USAGE');
    // Inside a transaction: the position of a row event.
    const events = (await a.sql("SHOW BINLOG EVENTS IN 'binlog.000002'")).split('\n').map((l) => l.split('\t'));
    const rowEvent = events.find((e) => e[2] === 'Write_rows_v1')!;
    expect(await fails(['--at-position', `binlog.000002:${rowEvent[1]}`], 2, 'USAGE')).toContain('inside transaction');
    expect(await fails(['--at-position', 'binlog.000002:7'], 2, 'USAGE')).toContain('not the start of a binlog event');
    // Before the dump, past the stored binlog, an unknown GTID: out of range, saying what is restorable.
    expect(await fails(['--at-position', 'binlog.000001:4'], 14, 'TIME_OUT_OF_RANGE')).toMatch(/before the binlog coordinates of every base.*restorable: binlog\.000001:\d+ \(GTID 0-1-\d+\) \.\. binlog\.000002:\d+/);
    expect(await fails(['--at-position', 'binlog.000002:99999999'], 14, 'TIME_OUT_OF_RANGE')).toContain('past the binlog stored');
    expect(await fails(['--at-position', 'binlog.000007:4'], 14, 'TIME_OUT_OF_RANGE')).toContain('restorable:');
    expect(await fails(['--at-gtid', '0-1-999999'], 14, 'TIME_OUT_OF_RANGE')).toMatch(/domain 0 holds 0-1-\d+ \.\. 0-1-\d+/);
    expect(await b.sql("SHOW DATABASES LIKE 'shop'")).toBe('');
  });
});
