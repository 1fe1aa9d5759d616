import { CairnError } from '../../core/errors/index.js';
import type { ForgetResult, SnapshotInfo } from '../../engine/types.js';
import type { LogRecord } from '../log-catalog.js';
import { mergeWindows } from '../merge-windows.js';
import { retentionPlanner, type PitrRetention } from '../retention-planner.js';
import { commandName, parseResp } from './resp.js';
import { REDIS, type LogCommand, type RedisBaseMeta, type RedisLogEntry } from './redis-log.js';

export interface RedisBase {
  snapshotId: string;
  meta: RedisBaseMeta;
}

export interface RedisWindow {
  snapshot: string;
  replid: string;
  from: string;
  to: string;
  /** Replication offset the chain reaches. */
  endOffset: number;
  chain: RedisLogEntry[];
  /** Stream bytes missing right after the chain while later ones are stored. */
  gap: { fromOffset: number; toOffset: number } | null;
}

export interface RedisGap {
  /** Restorable up to `from`, and again from `to` (a new base). */
  from: string;
  to: string;
  reason: 'missing' | 'new-base';
  /** For 'missing': the offsets no stored entry holds. */
  fromOffset?: number;
  toOffset?: number;
}

export interface RedisAnalysis {
  windows: RedisWindow[];
  merged: { from: string; to: string }[];
  gaps: RedisGap[];
  gapAfterNewestBase: boolean;
  /** The position the newest chain reaches: where a streamer resumes. */
  resume: { replid: string; offset: number } | null;
}

/**
 * Windows from bases and log entries. From a base (replid R, offset O) the chain takes
 * entries of R that hold offset O (an entry may begin before it: a base taken by `cairn
 * backup` while a streamer runs), then the entry holding its end, and so on; it breaks
 * where no stored entry holds the next byte. Continuity is computed, never assumed.
 * A window runs from the base's arrival to the last chain entry's flush time (every
 * command that had arrived then is in it).
 */
export function analyseRedis(bases: RedisBase[], entries: RedisLogEntry[]): RedisAnalysis {
  const sorted = [...bases].sort((a, b) => a.meta.time.localeCompare(b.meta.time));
  const windows: RedisWindow[] = [];
  let gapAfterNewestBase = false;
  for (const [i, base] of sorted.entries()) {
    const mine = entries.filter((e) => e.replid === base.meta.replid);
    let pos = base.meta.offset;
    let to = base.meta.time;
    const chain: RedisLogEntry[] = [];
    for (;;) {
      let best: RedisLogEntry | undefined;
      for (const e of mine) if (e.startOffset <= pos && e.endOffset > pos && (!best || e.endOffset > best.endOffset)) best = e;
      if (!best) break;
      chain.push(best);
      pos = best.endOffset;
      if (best.received > to) to = best.received;
    }
    // Entries past a later base of this id belong to that base's chain: the gap up to it
    // is a full resync (a new-base gap), not missing stream.
    const nextBase = Math.min(...sorted.filter((b) => b.meta.replid === base.meta.replid && b.meta.offset >= pos && b !== base).map((b) => b.meta.offset));
    const later = mine.filter((e) => e.startOffset > pos && e.startOffset < nextBase).map((e) => e.startOffset);
    const gap = later.length > 0 ? { fromOffset: pos, toOffset: Math.min(...later) } : null;
    if (gap && i === sorted.length - 1) gapAfterNewestBase = true;
    windows.push({ snapshot: base.snapshotId, replid: base.meta.replid, from: base.meta.time, to, endOffset: pos, chain, gap });
  }
  const merged = mergeWindows(windows);
  const gaps: RedisGap[] = [];
  for (let i = 1; i < merged.length; i++) gaps.push({ from: merged[i - 1]!.to, to: merged[i]!.from, reason: 'new-base' });
  for (const w of windows) if (w.gap) gaps.push({ from: w.to, to: w.to, reason: 'missing', ...w.gap });
  // A streamer resumes after the furthest position any chain (or loose entry) reached.
  let resume: RedisAnalysis['resume'] = null;
  const newest = windows.at(-1);
  if (newest) resume = { replid: newest.replid, offset: newest.endOffset };
  return { windows, merged, gaps, gapAfterNewestBase, resume };
}

export interface RedisRestorePlan {
  window: RedisWindow;
  /** null: to the end of the stored log. */
  at: string | null;
  /** Commands to replay, in order (PING/REPLCONF dropped, never cut inside MULTI/EXEC). */
  commands: LogCommand[];
  /** Arrival time of the last replayed command (null: none). */
  lastApplied: string | null;
}

/** The window holding `at` (the newest base's, for 'latest'); refuses a time outside all. */
export function chooseWindow(name: string, a: RedisAnalysis, at: string): RedisWindow {
  if (a.windows.length === 0) throw new CairnError('SNAPSHOT_NOT_FOUND', `redis source "${name}" has no base snapshot`, { hint: 'run `cairn backup redis://…` or `cairn stream redis://…`' });
  if (at === 'latest') return [...a.windows].sort((x, y) => x.from.localeCompare(y.from)).at(-1)!;
  const t = Date.parse(at);
  const fits = a.windows.filter((w) => Date.parse(w.from) <= t && t <= Date.parse(w.to)).sort((x, y) => x.from.localeCompare(y.from));
  if (fits.length > 0) return fits.at(-1)!;
  const windows = a.merged.map((m) => `${m.from} .. ${m.to}`).join(', ');
  throw new CairnError('TIME_OUT_OF_RANGE', `${at} is outside every restorable window of redis source "${name}" (${windows})`, { hint: `see \`cairn pitr ${name}\`` });
}

/**
 * The commands of a window up to `at`: every command that arrived at or before it, from
 * the base's offset on. A MULTI whose EXEC arrived after `at` is dropped with everything
 * after it, so a transaction is applied whole or not at all.
 */
export function selectCommands(window: RedisWindow, baseOffset: number, loaded: LogCommand[][], at: string | null): { commands: LogCommand[]; lastApplied: string | null } {
  const limit = at === null ? Infinity : Date.parse(at);
  const out: LogCommand[] = [];
  let pos = baseOffset;
  let openMulti = -1;
  let lastApplied: number | null = null;
  let lastSafe: number | null = null;
  outer: for (const cmds of loaded) {
    for (const c of cmds) {
      if (c.start < pos) continue; // before the base, or held by the previous entry too
      if (c.time > limit) break outer;
      pos = c.start + c.raw.length;
      const name = commandName(parseResp(c.raw)?.value ?? null);
      if (name === 'PING' || name === 'REPLCONF') continue;
      if (name === 'MULTI') openMulti = out.length;
      out.push(c);
      if (name === 'EXEC' || name === 'DISCARD') openMulti = -1;
      lastApplied = c.time;
      if (openMulti < 0) lastSafe = c.time;
    }
  }
  if (openMulti >= 0) {
    out.length = openMulti;
    lastApplied = lastSafe;
  }
  void window;
  return { commands: out, lastApplied: lastApplied === null ? null : new Date(lastApplied).toISOString() };
}

export interface RedisRetention {
  rescue: PitrRetention['rescue'];
  log: PitrRetention['wal'];
}

const redisRetention = retentionPlanner({
  type: REDIS,
  isBase: (s) => (s.sourceMeta as RedisBaseMeta | undefined)?.kind === 'base',
  endedAt: (s) => meta(s).time,
  windowStart: (d) => d.toISOString(),
  unneeded: (kept, mine) => {
    const entries = mine.flatMap((r) => (r.body.segments as RedisLogEntry[]).map((e) => ({ ...e, recordId: r.id })));
    const a = analyseRedis(kept.map((b) => ({ snapshotId: b.id, meta: meta(b) })), entries);
    const used = new Set(a.windows.flatMap((w) => w.chain.map((e) => e.name)));
    // Entries after the newest chain's end (a gap) are kept: a later base may need them; never guess.
    const newestEnd = a.windows.at(-1)?.endOffset ?? Infinity;
    const remove = mine.filter((r) => (r.body.segments as RedisLogEntry[]).every((e) => !used.has(e.name) && !(e.replid === a.resume?.replid && e.startOffset >= newestEnd))).map((r) => r.id);
    return { remove, keepFrom: meta(kept[0]!).time };
  },
});

/**
 * PITR retention for redis sources, like PostgreSQL's (docs/sources/redis.md,
 * "Retention"; retention-planner.ts): a log record is removed only when no kept base's chain
 * uses it.
 */
export function planRedisRetention(decision: ForgetResult, all: SnapshotInfo[], records: LogRecord[], now: Date, keepWithin: string | undefined): RedisRetention {
  const { rescue, wal } = redisRetention(decision, all, records, now, keepWithin);
  return { rescue, log: wal };
}

function meta(s: SnapshotInfo): RedisBaseMeta {
  return s.sourceMeta as unknown as RedisBaseMeta;
}
