import { CairnError } from '../core/errors/index.js';

/** What retention needs to know about a snapshot. */
export interface PolicySnapshot {
  id: string;
  time: Date;
  host: string;
  paths: string[];
  tags: string[];
}

/** Newest first; equal times by id, so that every host reaches the same decision. */
export function compareNewestFirst(a: PolicySnapshot, b: PolicySnapshot): number {
  const d = b.time.getTime() - a.time.getTime();
  if (d !== 0) return d;
  return a.id < b.id ? -1 : a.id > b.id ? 1 : 0;
}

/** An invalid Date would sort and bucket arbitrarily; that is a caller bug, so fail loudly. */
export function checkSnapshotTimes(snaps: readonly PolicySnapshot[]): void {
  for (const s of snaps) {
    if (!(s.time instanceof Date) || Number.isNaN(s.time.getTime())) {
      throw new CairnError('INTERNAL', `snapshot ${String(s.id).slice(0, 8)} has an invalid time`);
    }
  }
}
