import type { SnapshotInfo } from '../../engine/types.js';
import { isoMicros } from '../../util/iso-micros.js';
import { retentionPlanner, type RetentionPlanner } from '../retention-planner.js';
import type { PgBaseMeta } from './base-backup.js';
import { POSTGRES } from './wal-catalog.js';

/**
 * PITR retention for postgres sources (docs/sources/postgres.md, "Retention";
 * retention-planner.ts): WAL is needed from the smallest start segment of any kept base
 * on, so a record is removed only when every segment it names is older than that.
 */
export const planPitrRetention: RetentionPlanner = retentionPlanner({
  type: POSTGRES,
  isBase: (s) => (s.sourceMeta as PgBaseMeta | undefined)?.kind === 'base',
  endedAt: (s) => meta(s).stopTime,
  windowStart: isoMicros,
  unneeded: (kept, mine) => {
    const keepFrom = kept.map((b) => meta(b).startSegment).sort()[0]!;
    return { remove: mine.filter((r) => r.body.segments.every((s) => s.name < keepFrom)).map((r) => r.id), keepFrom };
  },
});

function meta(s: SnapshotInfo): PgBaseMeta {
  return s.sourceMeta as unknown as PgBaseMeta;
}
