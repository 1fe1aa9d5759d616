import { type PolicySnapshot, checkSnapshotTimes, compareNewestFirst } from './forget-policy-snapshot.js';

export interface GroupBy {
  host: boolean;
  paths: boolean;
  tags?: boolean;
}

/** The values a group shares; only the fields grouped by are present. Paths and tags sorted. */
export interface SnapshotGroupKey {
  host?: string;
  paths?: string[];
  tags?: string[];
}

/** restic's default `--group-by host,paths`. */
export const DEFAULT_GROUP_BY: GroupBy = Object.freeze({ host: true, paths: true, tags: false });

/**
 * Splits snapshots into the groups a retention policy is applied to separately, so
 * that "keep the last 7" means 7 per host and set of paths, not 7 in the repository.
 * Paths and tags compare as sorted lists of strings (their order in the snapshot does
 * not matter). Groups come ordered by host, paths, then tags, and snapshots within a
 * group newest first, so output is deterministic.
 */
export function groupSnapshots<T extends PolicySnapshot>(
  snaps: T[],
  by: GroupBy = DEFAULT_GROUP_BY,
): { key: SnapshotGroupKey; snapshots: T[] }[] {
  checkSnapshotTimes(snaps);
  const groups = new Map<string, { key: SnapshotGroupKey; snapshots: T[] }>();
  for (const snap of snaps) {
    const key: SnapshotGroupKey = {};
    if (by.host) key.host = snap.host;
    if (by.paths) key.paths = [...snap.paths].sort();
    if (by.tags) key.tags = [...snap.tags].sort();
    // An array, not an object, so that the string cannot depend on property order.
    const id = JSON.stringify([key.host ?? null, key.paths ?? null, key.tags ?? null]);
    let group = groups.get(id);
    if (!group) groups.set(id, (group = { key, snapshots: [] }));
    group.snapshots.push(snap);
  }
  return [...groups.values()]
    .sort((a, b) => compareKeys(a.key, b.key))
    .map((g) => ({ key: g.key, snapshots: g.snapshots.sort(compareNewestFirst) }));
}

// By code unit, not localeCompare: the order must not depend on the machine's locale.
function compareStrings(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

function compareLists(a: string[] = [], b: string[] = []): number {
  for (let i = 0; i < Math.min(a.length, b.length); i++) {
    const c = compareStrings(a[i]!, b[i]!);
    if (c !== 0) return c;
  }
  return a.length - b.length;
}

function compareKeys(a: SnapshotGroupKey, b: SnapshotGroupKey): number {
  return compareStrings(a.host ?? '', b.host ?? '') || compareLists(a.paths, b.paths) || compareLists(a.tags, b.tags);
}
