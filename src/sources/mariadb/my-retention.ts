import type { ForgetResult, SnapshotInfo } from '../../engine/types.js';
import type { WalRecordBody } from '../../snapshot/wal-record.js';
import { parseDuration, subtractDuration } from '../../snapshot/duration.js';
import type { PitrRetention } from '../postgres/pg-retention.js';
import { MARIADB } from './binlog-catalog.js';
import { binlogNumber } from './binlog-events.js';
import { isMyBase, type MyDumpMeta } from './mariadb-pitr.js';

/**
 * PITR retention for mariadb sources (logical and physical bases alike), the same rule as PostgreSQL's (pg-retention.ts):
 * with `--keep-within D` the newest dump that ends at or before now − D is kept even if
 * the policy drops it (restoring to now − D starts from it), and a binlog record is
 * removed only when every file it names is older than the oldest kept dump's binlog file.
 */
export function planMyRetention(decision: ForgetResult, all: SnapshotInfo[], records: { id: string; body: WalRecordBody }[], now: Date, keepWithin: string | undefined): PitrRetention {
  const removed = new Set(decision.groups.flatMap((g) => g.remove.map((s) => s.id as string)).concat(decision.removed));
  const dumps = all.filter((s) => s.source.type === MARIADB && isMyBase(s.sourceMeta));
  const rescue: PitrRetention['rescue'] = [];
  const wal: PitrRetention['wal'] = [];
  const windowStart = keepWithin ? subtractDuration(now, parseDuration(keepWithin)).toISOString().replace(/\.(\d{3})Z$/, '.$1000Z') : null;
  for (const name of [...new Set(dumps.map((s) => s.source.name))]) {
    const mine = dumps.filter((s) => s.source.name === name).sort((a, b) => meta(a).stopTime.localeCompare(meta(b).stopTime));
    if (!mine.some((b) => decision.groups.some((g) => g.keep.some((k) => k.snapshot.id === b.id) || g.remove.some((r) => r.id === b.id)))) continue;
    if (windowStart) {
      const anchor = mine.filter((b) => meta(b).stopTime <= windowStart).at(-1);
      if (anchor && removed.has(anchor.id)) {
        rescue.push({ snapshot: anchor, reason: `PITR base for ${windowStart}` });
        removed.delete(anchor.id);
      }
    }
    const kept = mine.filter((b) => !removed.has(b.id));
    const oldest = kept.map((b) => meta(b).binlogFile).sort((x, y) => (binlogNumber(x) ?? 0) - (binlogNumber(y) ?? 0))[0] ?? null;
    const from = oldest ? binlogNumber(oldest) : null;
    const recs = records.filter((r) => r.body.source.type === MARIADB && r.body.source.name === name);
    const remove = from !== null ? recs.filter((r) => r.body.segments.every((s) => (binlogNumber(s.name) ?? Infinity) < from)).map((r) => r.id) : [];
    wal.push({ source: name, remove, kept: recs.length - remove.length, keepFrom: oldest });
  }
  return { rescue, wal };
}

function meta(s: SnapshotInfo): MyDumpMeta {
  return s.sourceMeta as unknown as MyDumpMeta;
}
