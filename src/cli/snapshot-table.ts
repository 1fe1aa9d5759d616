import type { SnapshotInfo } from '../engine/types.js';
import { formatTable } from './format-table.js';
import { formatTime } from './format-time.js';

export interface ExtraColumn {
  header: string;
  cell(s: SnapshotInfo): string;
}

/** The snapshot table shared by `snapshots`, `forget` and `demo`. */
export function formatSnapshotTable(snapshots: readonly SnapshotInfo[], extra: ExtraColumn[] = []): string[] {
  const rows = snapshots.map((s) => [
    s.shortId,
    formatTime(s.time),
    s.host,
    s.mode,
    s.tags.join(','),
    s.paths.join(', '),
    ...extra.map((c) => c.cell(s)),
  ]);
  return formatTable(['ID', 'Time', 'Host', 'Mode', 'Tags', 'Paths', ...extra.map((c) => c.header)], rows);
}
