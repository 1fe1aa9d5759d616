import { CairnError } from '../core/errors/index.js';
import type { SnapshotFilter, SnapshotInfo } from '../engine/types.js';

/** Applies --host/--tag/--path/--source filters; restic semantics for tags: "a,b" = both, entries ORed. */
export function filterSnapshots(snaps: SnapshotInfo[], f: SnapshotFilter | undefined): SnapshotInfo[] {
  if (!f) return snaps;
  return snaps.filter((s) => {
    if (f.host && f.host.length > 0 && !f.host.includes(s.host)) return false;
    if (f.source && s.source.name !== f.source) return false;
    if (f.paths && f.paths.length > 0 && !f.paths.every((p) => s.paths.includes(p))) return false;
    if (f.tags && f.tags.length > 0) {
      const ok = f.tags.some((group) =>
        group
          .split(',')
          .map((t) => t.trim())
          .filter(Boolean)
          .every((t) => s.tags.includes(t)),
      );
      if (!ok) return false;
    }
    return true;
  });
}

/** Resolves "latest", a full id or a unique prefix among snapshots sorted oldest first. */
export function resolveSnapshotRef(snaps: SnapshotInfo[], ref: string): SnapshotInfo {
  if (ref === 'latest') {
    const last = snaps[snaps.length - 1];
    if (!last) throw new CairnError('SNAPSHOT_NOT_FOUND', 'the repository has no snapshot (matching the filters)');
    return last;
  }
  if (!/^[0-9a-f]{1,64}$/.test(ref)) {
    throw new CairnError('SNAPSHOT_NOT_FOUND', `"${ref}" is not a snapshot id`, { hint: 'give an id, a unique id prefix, or "latest"' });
  }
  const matches = snaps.filter((s) => s.id.startsWith(ref));
  if (matches.length === 0) throw new CairnError('SNAPSHOT_NOT_FOUND', `no snapshot with id ${ref}`, { hint: 'list them with `cairn snapshots`' });
  if (matches.length > 1) {
    throw new CairnError('SNAPSHOT_AMBIGUOUS', `snapshot id prefix ${ref} matches ${matches.length} snapshots`, {
      hint: 'give more characters of the id',
      details: { matches: matches.map((m) => m.id) },
    });
  }
  return matches[0]!;
}

/** The newest snapshot taken at or before `time`. */
export function snapshotAtTime(snaps: SnapshotInfo[], time: string): SnapshotInfo {
  const t = Date.parse(time);
  if (Number.isNaN(t)) throw new CairnError('USAGE', `cannot parse time "${time}"`, { hint: 'use ISO 8601, e.g. 2026-11-27T10:00:00Z' });
  let best: SnapshotInfo | undefined;
  for (const s of snaps) if (Date.parse(s.time) <= t && (!best || s.time >= best.time)) best = s;
  if (!best) throw new CairnError('SNAPSHOT_NOT_FOUND', `no snapshot at or before ${new Date(t).toISOString()}`);
  return best;
}

/**
 * The newest `n` snapshots of each source (host, source type and name), in the list's
 * order (oldest first): `snapshots --latest N`, as restic's groups by host and paths.
 */
export function latestPerSource(snaps: SnapshotInfo[], n: number): SnapshotInfo[] {
  const key = (s: SnapshotInfo) => JSON.stringify([s.host, s.source.type, s.source.name]);
  const seen = new Map<string, number>();
  const keep = new Set<SnapshotInfo>();
  const byTime = [...snaps].sort((a, b) => b.time.localeCompare(a.time));
  for (const s of byTime) {
    const k = key(s);
    const count = seen.get(k) ?? 0;
    if (count < n) keep.add(s);
    seen.set(k, count + 1);
  }
  return snaps.filter((s) => keep.has(s));
}
