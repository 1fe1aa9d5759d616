import type { ForgetResult, SnapshotInfo } from '../../engine/types.js';
import type { WalRecordBody } from '../../snapshot/wal-record.js';
import { parseDuration, subtractDuration } from '../../snapshot/duration.js';
import type { PgBaseMeta } from './base-backup.js';
import { POSTGRES } from './wal-catalog.js';

export interface PitrRetention {
  /** Base backups the generic policy would remove but the PITR window needs. */
  rescue: { snapshot: SnapshotInfo; reason: string }[];
  /** Per source: WAL records no kept base backup needs. */
  wal: { source: string; remove: string[]; kept: number; keepFrom: string | null }[];
}

/**
 * PITR retention on top of the generic forget decision (docs/sources/postgres.md,
 * "Retention"). With `--keep-within D`, restoring to any time in [now − D, now] needs
 * the newest base backup that ends at or before now − D, besides the ones inside the
 * window: it is kept even if the policy would drop it. WAL is then needed from the
 * smallest start segment of any kept base on: a record is removed only when every
 * segment it names is older than that (and never when no base is kept, which would
 * leave WAL no backup can use but also nothing to restore: we keep it to be safe).
 */
export function planPitrRetention(
  decision: ForgetResult,
  all: SnapshotInfo[],
  records: { id: string; body: WalRecordBody }[],
  now: Date,
  keepWithin: string | undefined,
): PitrRetention {
  const removed = new Set(decision.groups.flatMap((g) => g.remove.map((s) => s.id as string)).concat(decision.removed));
  const pgBases = all.filter((s) => s.source.type === POSTGRES && (s.sourceMeta as PgBaseMeta | undefined)?.kind === 'base');
  const names = [...new Set(pgBases.map((s) => s.source.name))];
  const rescue: PitrRetention['rescue'] = [];
  const wal: PitrRetention['wal'] = [];
  // Measured from now (the injected clock), not from the newest snapshot as plain keep-within is:
  // the promise is "restorable to any point of the last D".
  const windowStart = keepWithin ? isoMicrosOf(subtractDuration(now, parseDuration(keepWithin))) : null;
  for (const name of names) {
    const bases = pgBases.filter((s) => s.source.name === name).sort((a, b) => stop(a).localeCompare(stop(b)));
    // Only sources the policy looked at (filters may exclude some).
    if (!bases.some((b) => decision.groups.some((g) => g.keep.some((k) => k.snapshot.id === b.id) || g.remove.some((r) => r.id === b.id)))) continue;
    if (windowStart) {
      const anchor = bases.filter((b) => stop(b) <= windowStart).at(-1);
      if (anchor && removed.has(anchor.id)) {
        rescue.push({ snapshot: anchor, reason: `PITR base for ${windowStart}` });
        removed.delete(anchor.id);
      }
    }
    const kept = bases.filter((b) => !removed.has(b.id));
    const keepFrom = kept.length > 0 ? kept.map((b) => (b.sourceMeta as unknown as PgBaseMeta).startSegment).sort()[0]! : null;
    const mine = records.filter((r) => r.body.source.type === POSTGRES && r.body.source.name === name);
    const remove = keepFrom ? mine.filter((r) => r.body.segments.every((s) => s.name < keepFrom)).map((r) => r.id) : [];
    wal.push({ source: name, remove, kept: mine.length - remove.length, keepFrom });
  }
  return { rescue, wal };
}

function stop(s: SnapshotInfo): string {
  return (s.sourceMeta as unknown as PgBaseMeta).stopTime;
}

function isoMicrosOf(d: Date): string {
  return d.toISOString().replace(/\.(\d{3})Z$/, '.$1000Z');
}
