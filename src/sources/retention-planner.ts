import type { ForgetResult, SnapshotInfo } from '../engine/types.js';
import { parseDuration, subtractDuration } from '../snapshot/duration.js';
import type { LogRecord } from './log-catalog.js';

export interface PitrRetention {
  /** Bases the generic policy would remove but the `--keep-within` window needs. */
  rescue: { snapshot: SnapshotInfo; reason: string }[];
  /** Per source: log records no kept base needs. */
  wal: { source: string; remove: string[]; kept: number; keepFrom: string | null }[];
}

/** What one store tells retentionPlanner about its bases and its log. */
export interface LogRetentionRules {
  /** The store's source type. */
  type: string;
  isBase(s: SnapshotInfo): boolean;
  /** The time a base restores to (its window opens there); compared as a string with `windowStart`. */
  endedAt(base: SnapshotInfo): string;
  /** now − D in the form `endedAt` uses. */
  windowStart(at: Date): string;
  /**
   * Of one source's records, those no kept base needs, and from where its log is kept.
   * `kept` is never empty and is sorted oldest first by `endedAt`.
   */
  unneeded(kept: SnapshotInfo[], records: LogRecord[]): { remove: string[]; keepFrom: string | null };
}

export type RetentionPlanner = (decision: ForgetResult, all: SnapshotInfo[], records: LogRecord[], now: Date, keepWithin: string | undefined) => PitrRetention;

/**
 * PITR retention on top of the generic forget decision, the same promise for every store
 * with a continuous log (docs/sources/postgres.md, "Retention"): with `--keep-within D`,
 * restoring to any time in [now − D, now] needs the newest base that ended at or before
 * now − D, besides the ones inside the window: it is kept even if the policy would drop
 * it. A log record is removed only when nothing kept needs it (`rules.unneeded`), and
 * never when no base is kept: that log serves no backup, but then there is nothing to
 * restore either, so it is kept to be safe. The window is measured from now (the
 * injected clock), not from the newest snapshot as plain keep-within is.
 */
export function retentionPlanner(rules: LogRetentionRules): RetentionPlanner {
  return (decision, all, records, now, keepWithin) => {
    const removed = new Set(decision.groups.flatMap((g) => g.remove.map((s) => s.id as string)).concat(decision.removed));
    const allBases = all.filter((s) => s.source.type === rules.type && rules.isBase(s));
    const windowStart = keepWithin ? rules.windowStart(subtractDuration(now, parseDuration(keepWithin))) : null;
    const rescue: PitrRetention['rescue'] = [];
    const wal: PitrRetention['wal'] = [];
    for (const name of [...new Set(allBases.map((s) => s.source.name))]) {
      const bases = allBases.filter((s) => s.source.name === name).sort((a, b) => rules.endedAt(a).localeCompare(rules.endedAt(b)));
      // Only sources the policy looked at (filters may exclude some).
      if (!bases.some((b) => decision.groups.some((g) => g.keep.some((k) => k.snapshot.id === b.id) || g.remove.some((r) => r.id === b.id)))) continue;
      if (windowStart) {
        const anchor = bases.filter((b) => rules.endedAt(b) <= windowStart).at(-1);
        if (anchor && removed.has(anchor.id)) {
          rescue.push({ snapshot: anchor, reason: `PITR base for ${windowStart}` });
          removed.delete(anchor.id);
        }
      }
      const kept = bases.filter((b) => !removed.has(b.id));
      const mine = records.filter((r) => r.body.source.type === rules.type && r.body.source.name === name);
      const { remove, keepFrom } = kept.length > 0 ? rules.unneeded(kept, mine) : { remove: [], keepFrom: null };
      wal.push({ source: name, remove, kept: mine.length - remove.length, keepFrom });
    }
    return { rescue, wal };
  };
}
