import type { CatalogSegment, WalCatalog } from './wal-catalog.js';
import { segmentName, segmentNumber } from './wal-name.js';
import type { PgBaseMeta } from './base-backup.js';

/** A base backup as PITR sees it. */
export interface PitrBase {
  snapshotId: string;
  time: string;
  meta: PgBaseMeta;
}

export interface PitrWindow {
  /** The base backup this window restores from. */
  snapshot: string;
  /** The base backup's timeline: the chain uses WAL of this timeline only. */
  timeline: number;
  /** The base backup's stop LSN and segment size: its own pg_wal copy reaches that far. */
  baseStopLsn: string;
  segmentSize: number;
  /** Earliest restorable time: the base backup's end (it is consistent only from there). */
  from: string;
  /** Latest restorable time: the last commit reachable from the base without a gap. */
  to: string;
  /** Last segment of the unbroken chain (null: only the base's own WAL). */
  lastSegment: string | null;
  /** Segment numbers of the chain, first to last (for the restore plan). */
  chain: CatalogSegment[];
  /** The gap that ends this window, if one does. */
  gap: PitrGap | null;
}

export interface PitrGap {
  timeline: number;
  /** First and last missing (or only partially stored) segment. */
  from: string;
  to: string;
  reason: 'missing' | 'partial';
  /** Restorable up to here, from the windows that end at this gap. */
  after: string;
}

export interface PitrAnalysis {
  windows: PitrWindow[];
  gaps: PitrGap[];
  /** A gap in the chain of the newest base backup: what `cairn pitr` exits WAL_GAP for. */
  gapAfterNewestBase: boolean;
}

/**
 * Windows and gaps from base backups and the WAL catalog. For each base backup the
 * chain starts at the segment holding its end LSN (its own pg_wal copy ends there) and
 * runs over consecutive segments of its timeline; it breaks at a missing segment, or
 * after a segment stored only partially while later ones exist (its tail is lost).
 * Continuity is computed, never assumed: a segment is counted only if a record names it.
 */
export function analysePitr(bases: PitrBase[], catalog: WalCatalog): PitrAnalysis {
  const windows: PitrWindow[] = [];
  const gaps = new Map<string, PitrGap>();
  const sorted = [...bases].sort((a, b) => a.meta.stopTime.localeCompare(b.meta.stopTime));
  let gapAfterNewestBase = false;
  for (const [i, base] of sorted.entries()) {
    const size = base.meta.segmentSize;
    const segs = catalog.onTimeline(base.meta.timeline);
    const later = [...segs.keys()].sort((a, b) => a - b);
    let n = segmentNumber(base.meta.stopSegment, size);
    const chain: CatalogSegment[] = [];
    let to = base.meta.stopTime;
    let gap: PitrGap | null = null;
    for (;;) {
      const s = segs.get(n);
      if (!s) {
        const next = later.find((k) => k > n);
        if (next !== undefined) {
          gap = { timeline: base.meta.timeline, from: segmentName(base.meta.timeline, n, size), to: segmentName(base.meta.timeline, next - 1, size), reason: 'missing', after: to };
        }
        break;
      }
      chain.push(s);
      if (s.lastCommit && s.lastCommit > to) to = s.lastCommit;
      if (s.partial && later.some((k) => k > n)) {
        gap = { timeline: base.meta.timeline, from: s.name, to: s.name, reason: 'partial', after: to };
        break;
      }
      n++;
    }
    if (gap) {
      gap.after = to;
      const key = `${gap.from}-${gap.to}`;
      const known = gaps.get(key);
      if (!known || known.after < gap.after) gaps.set(key, gap);
      if (i === sorted.length - 1) gapAfterNewestBase = true;
    }
    windows.push({ snapshot: base.snapshotId, timeline: base.meta.timeline, baseStopLsn: base.meta.stopLsn, segmentSize: size, from: base.meta.stopTime, to, lastSegment: chain.at(-1)?.name ?? null, chain, gap });
  }
  return { windows, gaps: [...gaps.values()], gapAfterNewestBase };
}

/**
 * Overlapping windows of the same timeline merged, for display: what an operator can
 * restore to. Windows of different timelines are never merged: after a promotion the
 * same wall-clock time can exist in two histories (the old timeline's tail and the new
 * one), and a merged line would hide which one a restore gets.
 */
export function mergeWindows(windows: PitrWindow[]): { timeline: number; from: string; to: string }[] {
  const sorted = [...windows].sort((a, b) => a.timeline - b.timeline || a.from.localeCompare(b.from));
  const out: { timeline: number; from: string; to: string }[] = [];
  for (const w of sorted) {
    const last = out.at(-1);
    if (last && last.timeline === w.timeline && w.from <= last.to) {
      if (w.to > last.to) last.to = w.to;
    } else out.push({ timeline: w.timeline, from: w.from, to: w.to });
  }
  return out;
}
