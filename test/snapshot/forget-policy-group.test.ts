import { describe, expect, it } from 'vitest';
import { groupSnapshots, type PolicySnapshot } from '../../src/snapshot/forget-policy.js';

function s(id: string, time: string, host: string, paths: string[], tags: string[] = []): PolicySnapshot {
  return { id, time: new Date(time), host, paths, tags };
}

const SNAPS = [
  s('1', '2026-01-01T00:00:00Z', 'web', ['/srv', '/etc'], ['daily']),
  s('2', '2026-01-02T00:00:00Z', 'web', ['/etc', '/srv'], ['manual']),
  s('3', '2026-01-03T00:00:00Z', 'db', ['/var/lib/pg']),
  s('4', '2026-01-04T00:00:00Z', 'web', ['/home']),
  s('5', '2026-01-05T00:00:00Z', 'db', ['/var/lib/pg'], ['daily']),
];

const ids = (groups: { snapshots: PolicySnapshot[] }[]) => groups.map((g) => g.snapshots.map((x) => x.id));

describe('groupSnapshots', () => {
  it('groups by host and sorted paths by default, newest first, groups in key order', () => {
    const groups = groupSnapshots(SNAPS);
    expect(groups.map((g) => g.key)).toEqual([
      { host: 'db', paths: ['/var/lib/pg'] },
      { host: 'web', paths: ['/etc', '/srv'] },
      { host: 'web', paths: ['/home'] },
    ]);
    expect(ids(groups)).toEqual([['5', '3'], ['2', '1'], ['4']]);
  });

  it('can group by host only, by tags, or not at all', () => {
    expect(ids(groupSnapshots(SNAPS, { host: true, paths: false }))).toEqual([['5', '3'], ['4', '2', '1']]);
    const byTags = groupSnapshots(SNAPS, { host: false, paths: false, tags: true });
    expect(byTags.map((g) => g.key)).toEqual([{ tags: [] }, { tags: ['daily'] }, { tags: ['manual'] }]);
    expect(ids(groupSnapshots(SNAPS, { host: false, paths: false }))).toEqual([['5', '4', '3', '2', '1']]);
  });

  it('does not modify the snapshots', () => {
    const copy = structuredClone(SNAPS);
    groupSnapshots(SNAPS, { host: true, paths: true, tags: true });
    expect(SNAPS).toEqual(copy);
  });

  it('an empty list gives no groups', () => {
    expect(groupSnapshots([])).toEqual([]);
  });
});
