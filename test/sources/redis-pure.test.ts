import { describe, expect, it } from 'vitest';
import { encodeCommand, parseResp, RespError, commandName } from '../../src/sources/redis/resp.js';
import { decodeFrames, encodeFrames, entryName, type LogCommand, type RedisBaseMeta, type RedisLogEntry } from '../../src/sources/redis/redis-log.js';
import { analyseRedis, chooseWindow, planRedisRetention, selectCommands } from '../../src/sources/redis/redis-pitr.js';
import { parseRedisLocation, defaultRedisName } from '../../src/sources/redis/redis-location.js';
import type { ForgetResult, SnapshotInfo } from '../../src/engine/types.js';

const R = 'a'.repeat(40);

describe('RESP', () => {
  it('encodes a command as an array of bulk strings', () => {
    expect(encodeCommand(['SET', 'k', Buffer.from('v\r\n'), 5]).toString()).toBe('*4\r\n$3\r\nSET\r\n$1\r\nk\r\n$3\r\nv\r\n\r\n$1\r\n5\r\n');
  });

  it('parses every type and reports the exact end, and needs more bytes for a cut value', () => {
    const b = Buffer.from('+OK\r\n-ERR bad\r\n:42\r\n$-1\r\n*2\r\n$3\r\nfoo\r\n*1\r\n:1\r\n');
    let p = 0;
    const vals = [];
    for (;;) {
      const r = parseResp(b, p);
      if (!r) break;
      vals.push(r.value);
      p = r.end;
    }
    expect(p).toBe(b.length);
    expect(vals[0]).toBe('OK');
    expect(vals[1]).toBeInstanceOf(RespError);
    expect(vals[2]).toBe(42);
    expect(vals[3]).toBeNull();
    expect((vals[4] as Buffer[])[0]!.toString()).toBe('foo');
    const cmd = encodeCommand(['SET', 'key', 'value']);
    for (let i = 0; i < cmd.length; i++) expect(parseResp(cmd.subarray(0, i))).toBeNull();
    const whole = parseResp(cmd)!;
    expect(whole.end).toBe(cmd.length);
    expect(commandName(whole.value)).toBe('SET');
  });

  it('throws on bytes that are not RESP', () => {
    expect(() => parseResp(Buffer.from('?x\r\n'))).toThrow(/unexpected byte/);
  });
});

describe('redis URL', () => {
  it('parses user, password, port; never shows the password', () => {
    const l = parseRedisLocation('redis://cairn:s%40cret@cache1:6380/2');
    expect(l).toMatchObject({ host: 'cache1', port: 6380, username: 'cairn', password: 's@cret', display: 'redis://cache1:6380' });
    expect(parseRedisLocation('redis://:pw@h').username).toBeNull();
    expect(defaultRedisName(parseRedisLocation('redis://10.0.0.1'))).toBe('10.0.0.1-6379');
  });
});

function cmd(time: number, start: number, ...args: string[]): LogCommand {
  return { time, start, raw: encodeCommand(args) };
}

/** Consecutive commands starting at `offset`. */
function run(offset: number, list: [number, ...string[]][]): LogCommand[] {
  const out: LogCommand[] = [];
  let o = offset;
  for (const [t, ...args] of list) {
    const c = cmd(t, o, ...args);
    out.push(c);
    o += c.raw.length;
  }
  return out;
}

function entry(replid: string, cmds: LogCommand[], received: number): RedisLogEntry {
  const last = cmds.at(-1)!;
  return {
    name: entryName(replid, cmds[0]!.start),
    timeline: 0,
    partial: false,
    size: 0,
    sha256: '',
    content: [],
    received: new Date(received).toISOString(),
    replid,
    startOffset: cmds[0]!.start,
    endOffset: last.start + last.raw.length,
    commands: cmds.length,
  };
}

function base(id: string, offset: number, time: number, replid = R): { snapshotId: string; meta: RedisBaseMeta } {
  return { snapshotId: id, meta: { kind: 'base', replid, offset, serverVersion: '7', time: new Date(time).toISOString(), rdbBytes: 1, origin: 'stream' } };
}

describe('frames', () => {
  it('round-trip time, offset and bytes', () => {
    const c = run(100, [[1000.5, 'SET', 'a', '1'], [2000, 'PING']]);
    expect(decodeFrames(encodeFrames(c))).toEqual(c);
  });
});

describe('analyseRedis', () => {
  const e1 = run(10, [[1000, 'SET', 'a', '1'], [1100, 'SET', 'b', '2']]);
  const e2 = run(e1.at(-1)!.start + e1.at(-1)!.raw.length, [[1200, 'SET', 'c', '3']]);
  const end2 = e2[0]!.start + e2[0]!.raw.length;

  it('chains entries from the base offset into one window', () => {
    const a = analyseRedis([base('s1', 10, 900)], [entry(R, e1, 1150), entry(R, e2, 1250)]);
    expect(a.windows).toHaveLength(1);
    expect(a.windows[0]!.endOffset).toBe(end2);
    expect(a.merged).toEqual([{ from: new Date(900).toISOString(), to: new Date(1250).toISOString() }]);
    expect(a.gaps).toEqual([]);
    expect(a.resume).toEqual({ replid: R, offset: end2 });
  });

  it('starts mid-entry for a base taken while a streamer ran', () => {
    const a = analyseRedis([base('s1', e1[1]!.start, 1050)], [entry(R, e1, 1150), entry(R, e2, 1250)]);
    expect(a.windows[0]!.chain).toHaveLength(2);
    const sel = selectCommands(a.windows[0]!, e1[1]!.start, [e1, e2], null);
    expect(sel.commands.map((c) => commandName(parseResp(c.raw)!.value) + c.start)).toEqual([`SET${e1[1]!.start}`, `SET${e2[0]!.start}`]);
  });

  it('reports missing offsets after the newest base as a gap', () => {
    const a = analyseRedis([base('s1', 10, 900)], [entry(R, e2, 1250)]);
    expect(a.gapAfterNewestBase).toBe(true);
    expect(a.gaps[0]).toMatchObject({ reason: 'missing', fromOffset: 10, toOffset: e2[0]!.start });
  });

  it('reports a full resync (new base) as a gap between windows, not an error', () => {
    const later = run(5000, [[3000, 'SET', 'z', '9']]);
    const a = analyseRedis([base('s1', 10, 900), base('s2', 5000, 2900)], [entry(R, e1, 1150), entry(R, later, 3100)]);
    expect(a.gapAfterNewestBase).toBe(false);
    expect(a.gaps).toEqual([{ from: new Date(1150).toISOString(), to: new Date(2900).toISOString(), reason: 'new-base' }]);
    expect(chooseWindow('x', a, new Date(3000).toISOString()).snapshot).toBe('s2');
    expect(() => chooseWindow('x', a, new Date(2000).toISOString())).toThrow(/outside every restorable window/);
  });
});

describe('selectCommands', () => {
  it('drops PING/REPLCONF and never cuts inside MULTI/EXEC', () => {
    const cmds = run(0, [
      [100, 'SELECT', '0'],
      [100, 'SET', 'a', '1'],
      [150, 'PING'],
      [200, 'MULTI'],
      [200, 'SET', 'b', '1'],
      [201, 'SET', 'c', '1'],
      [202, 'EXEC'],
      [300, 'SET', 'd', '1'],
    ]);
    const w = analyseRedis([base('s', 0, 50)], [entry(R, cmds, 400)]).windows[0]!;
    const names = (at: number) => selectCommands(w, 0, [cmds], new Date(at).toISOString()).commands.map((c) => commandName(parseResp(c.raw)!.value));
    expect(names(150)).toEqual(['SELECT', 'SET']);
    expect(names(201)).toEqual(['SELECT', 'SET']); // EXEC arrived after T: the whole block is out
    expect(names(202)).toEqual(['SELECT', 'SET', 'MULTI', 'SET', 'SET', 'EXEC']);
    expect(names(400)).toHaveLength(7);
    expect(selectCommands(w, 0, [cmds], new Date(201).toISOString()).lastApplied).toBe(new Date(100).toISOString());
  });
});

describe('planRedisRetention', () => {
  const DAY = 86_400_000;
  const t0 = Date.parse('2026-01-01T00:00:00Z');
  function snap(id: string, time: number): SnapshotInfo {
    return { id, shortId: id, time: new Date(time).toISOString(), source: { type: 'redis', name: 'c1' }, sourceMeta: base(id, time / 1000, time).meta } as unknown as SnapshotInfo;
  }
  it('keeps the newest base before now − D and the log its chain needs, drops older', () => {
    const s = [snap('b1', t0), snap('b2', t0 + 10 * DAY), snap('b3', t0 + 40 * DAY)];
    const rec = (id: string, b: SnapshotInfo) => {
      const m = b.sourceMeta as unknown as RedisBaseMeta;
      const c = run(m.offset, [[Date.parse(m.time) + 1, 'SET', 'k', id]]);
      return { id, body: { version: 1 as const, source: { type: 'redis', name: 'c1' }, systemId: R, segmentSize: 0, created: '', host: 'h', segments: [entry(R, c, Date.parse(m.time) + 2)] } };
    };
    const records = [rec('r1', s[0]!), rec('r2', s[1]!), rec('r3', s[2]!)];
    // The generic policy (keep-within 30d measured from the newest) would drop b1 and b2.
    const decision = { groups: [{ key: {}, keep: [{ snapshot: s[2]!, reasons: ['within'] }], remove: [s[0]!, s[1]!] }], removed: ['b1', 'b2'], dryRun: true } as unknown as ForgetResult;
    const now = new Date(t0 + 45 * DAY); // injected clock: window starts at day 15
    const plan = planRedisRetention(decision, s, records, now, '30d');
    expect(plan.rescue.map((r) => r.snapshot.id)).toEqual(['b2']);
    expect(plan.log[0]!.remove).toEqual(['r1']);
    expect(plan.log[0]!.kept).toBe(2);
  });
});
