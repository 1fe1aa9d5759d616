import type { SnapshotInfo } from '../../engine/types.js';
import { isoMicros } from '../../util/iso-micros.js';
import { retentionPlanner, type RetentionPlanner } from '../retention-planner.js';
import { MARIADB } from './binlog-catalog.js';
import { binlogNumber } from './binlog-events.js';
import { isMyBase, type MyDumpMeta } from './mariadb-pitr.js';

/**
 * PITR retention for mariadb sources (logical and physical bases alike), the same rule as
 * PostgreSQL's (retention-planner.ts): a binlog record is removed only when every file it
 * names is older than the oldest kept base's binlog file.
 */
export const planMyRetention: RetentionPlanner = retentionPlanner({
  type: MARIADB,
  isBase: (s) => isMyBase(s.sourceMeta),
  endedAt: (s) => meta(s).stopTime,
  windowStart: isoMicros,
  unneeded: (kept, mine) => {
    const oldest = kept.map((b) => meta(b).binlogFile).sort((x, y) => (binlogNumber(x) ?? 0) - (binlogNumber(y) ?? 0))[0] ?? null;
    const from = oldest ? binlogNumber(oldest) : null;
    const remove = from !== null ? mine.filter((r) => r.body.segments.every((s) => (binlogNumber(s.name) ?? Infinity) < from)).map((r) => r.id) : [];
    return { remove, keepFrom: oldest };
  },
});

function meta(s: SnapshotInfo): MyDumpMeta {
  return s.sourceMeta as unknown as MyDumpMeta;
}
