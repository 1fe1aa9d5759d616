import type { SnapshotInfo } from '../../engine/types.js';
import { isoMicros } from '../../util/iso-micros.js';
import { retentionPlanner, type RetentionPlanner } from '../retention-planner.js';
import { batchesOf, chainOf, SQLITE, type SqliteBaseMeta } from './sqlite-catalog.js';

/**
 * `forget --keep-within D` for sqlite sources (docs/sources/sqlite.md, "Retention"), the
 * same promise as for PostgreSQL (retention-planner.ts). A frame record is removed only when
 * no kept base's chain uses any batch of it and all of it is older than the oldest kept
 * base.
 */
export const planSqliteRetention: RetentionPlanner = retentionPlanner({
  type: SQLITE,
  isBase: (s) => (s.sourceMeta as SqliteBaseMeta | undefined)?.kind === 'base',
  endedAt: (s) => meta(s).capturedAt,
  windowStart: isoMicros,
  unneeded: (kept, mine) => {
    const batches = batchesOf(mine);
    const keepFrom = meta(kept[0]!).capturedAt;
    const needed = new Set<string>();
    for (const b of kept) for (const x of chainOf({ snapshot: b, meta: meta(b) }, batches).chain) needed.add(x.recordId);
    const remove = mine
      .filter((r) => !needed.has(r.id) && r.body.segments.every((s) => (s.lastCommit ?? s.received) < keepFrom && s.received < keepFrom))
      .map((r) => r.id);
    return { remove, keepFrom };
  },
});

function meta(s: SnapshotInfo): SqliteBaseMeta {
  return s.sourceMeta as unknown as SqliteBaseMeta;
}
