import type { ForgetResult, SnapshotInfo } from '../../engine/types.js';
import { parseDuration, subtractDuration } from '../../snapshot/duration.js';
import type { WalRecordBody } from '../../snapshot/wal-record.js';
import { chainOf, isoMicros, SQLITE, sqliteBases, type Batch, type FrameBatchMeta } from './sqlite-catalog.js';

export interface SqliteRetention {
  /** Bases the generic policy would remove but the `--keep-within` window needs. */
  rescue: { snapshot: SnapshotInfo; reason: string }[];
  /** Per source: frame records no kept base needs. */
  wal: { source: string; remove: string[]; kept: number; keepFrom: string | null }[];
}

/**
 * `forget --keep-within D` for sqlite sources (docs/sources/sqlite.md, "Retention"), the
 * same promise as for PostgreSQL (pg-retention.ts): every time in [now − D, now] stays
 * restorable. That needs the newest base captured at or before now − D (kept even if the
 * policy drops it) and the bases inside the window. A frame record is removed only when
 * no kept base's chain uses any batch of it and all of it is older than the oldest kept
 * base; with no base kept, nothing is removed.
 */
export function planSqliteRetention(
  decision: ForgetResult,
  all: SnapshotInfo[],
  records: { id: string; body: WalRecordBody }[],
  now: Date,
  keepWithin: string | undefined,
): SqliteRetention {
  const removed = new Set(decision.groups.flatMap((g) => g.remove.map((s) => s.id as string)).concat(decision.removed));
  const names = [...new Set(all.filter((s) => s.source.type === SQLITE).map((s) => s.source.name))];
  const windowStart = keepWithin ? isoMicros(subtractDuration(now, parseDuration(keepWithin))) : null;
  const rescue: SqliteRetention['rescue'] = [];
  const wal: SqliteRetention['wal'] = [];
  for (const name of names) {
    const bases = sqliteBases(all, name);
    // Only sources the policy looked at (filters may exclude some).
    if (!bases.some((b) => decision.groups.some((g) => g.keep.some((k) => k.snapshot.id === b.snapshot.id) || g.remove.some((r) => r.id === b.snapshot.id)))) continue;
    if (windowStart) {
      const anchor = bases.filter((b) => b.meta.capturedAt <= windowStart).at(-1);
      if (anchor && removed.has(anchor.snapshot.id)) {
        rescue.push({ snapshot: anchor.snapshot, reason: `PITR base for ${windowStart}` });
        removed.delete(anchor.snapshot.id);
      }
    }
    const mine = records.filter((r) => r.body.source.type === SQLITE && r.body.source.name === name);
    const batches: Batch[] = [];
    for (const r of mine) for (const s of r.body.segments) if (s.meta?.sqlite) batches.push({ ...s, recordId: r.id, sq: s.meta.sqlite as FrameBatchMeta });
    batches.sort((a, b) => a.received.localeCompare(b.received) || a.sq.first - b.sq.first);
    const kept = bases.filter((b) => !removed.has(b.snapshot.id));
    const keepFrom = kept.length > 0 ? kept[0]!.meta.capturedAt : null;
    const needed = new Set<string>();
    for (const b of kept) for (const x of chainOf(b, batches).chain) needed.add(x.recordId);
    const remove = keepFrom
      ? mine
          .filter((r) => !needed.has(r.id) && r.body.segments.every((s) => (s.lastCommit ?? s.received) < keepFrom && s.received < keepFrom))
          .map((r) => r.id)
      : [];
    wal.push({ source: name, remove, kept: mine.length - remove.length, keepFrom });
  }
  return { rescue, wal };
}
