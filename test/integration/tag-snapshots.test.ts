import { afterEach, describe, expect, it } from 'vitest';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { makeTempRepo, type TempRepo } from '../helpers/temp-repo.js';
import { FakeClock } from '../../src/core/clock.js';
import { systemRandom } from '../../src/core/random.js';
import { LocalBackend } from '../../src/backend/local-backend.js';
import { Repository } from '../../src/repository/repository.js';
import { withFaults } from '../../src/backend/with-faults.js';
import { tagSnapshots } from '../../src/maintenance/tag-snapshots.js';
import type { RepositorySession, SnapshotInfo, TagSnapshotsResult } from '../../src/engine/types.js';
import { runCli } from '../cli/helpers/run-cli.js';

/**
 * `tag` changes a snapshot's tags by storing it again and removing the old file (ids
 * change, nothing else does), is idempotent, survives a cut-off between the two steps,
 * and is what `forget --keep-tag` then sees.
 */
describe('tag', () => {
  let t: TempRepo;
  let s: RepositorySession;
  afterEach(async () => {
    await s?.close();
    await t?.cleanup();
  });

  /** Three snapshots of one source: [daily], [daily], [weekly]. */
  async function setup(): Promise<{ src: string; snaps: SnapshotInfo[] }> {
    t = await makeTempRepo();
    const src = join(t.dir, 'src');
    await mkdir(src, { recursive: true });
    s = await t.open();
    for (const [i, tag] of ['daily', 'daily', 'weekly'].entries()) {
      await writeFile(join(src, `f${i}.txt`), `file ${i}\n`);
      await s.backup({ paths: [src], tags: [tag] });
    }
    return { src, snaps: await s.snapshots() };
  }

  /** The snapshots without their ids: what tagging must not change, tags aside. */
  const shape = (list: SnapshotInfo[]) => list.map(({ id: _id, shortId: _short, tags: _tags, ...rest }) => rest);

  it('--add, --remove and --set store each changed snapshot again with its new tags; everything else stays', async () => {
    const { snaps } = await setup();
    const [first, second, third] = snaps as [SnapshotInfo, SnapshotInfo, SnapshotInfo];

    const added = await s.tag([first.id.slice(0, 8)], { add: ['keep', 'daily'] });
    expect(added.changed).toEqual([{ snapshot: first.id, tags: ['daily'], newTags: ['daily', 'keep'], taggedAs: expect.stringMatching(/^[0-9a-f]{64}$/) }]);
    expect(added.unchanged).toBe(0);
    const after = await s.snapshots();
    expect(after.map((x) => x.id)).toEqual([added.changed[0]!.taggedAs, second.id, third.id]);
    expect(after.map((x) => x.tags)).toEqual([['daily', 'keep'], ['daily'], ['weekly']]);
    expect(shape(after)).toEqual(shape(snaps));
    // The restored content is the same tree.
    expect(after[0]!.tree).toBe(first.tree);

    // Asking again changes nothing.
    const again = await s.tag([after[0]!.id], { add: ['keep'] });
    expect(again).toEqual({ dryRun: false, changed: [], unchanged: 1 });

    // No ids: every snapshot the filter matches; "latest" among them.
    const removed = await s.tag([], { remove: ['daily'] }, { filter: { tags: ['daily'] } });
    expect(removed.changed.map((c) => c.newTags)).toEqual([['keep'], []]);
    const latestDaily = await s.tag(['latest'], { set: ['monthly', 'db', 'monthly'] }, { filter: { tags: ['weekly'] } });
    expect(latestDaily.changed.map((c) => [c.tags, c.newTags])).toEqual([[['weekly'], ['monthly', 'db']]]);
    expect((await s.snapshots()).map((x) => x.tags)).toEqual([['keep'], [], ['monthly', 'db']]);

    // --set [] clears them all; a dry run reports and changes nothing.
    const preview = await s.tag([], { set: [] }, { dryRun: true });
    expect(preview.changed.map((c) => c.taggedAs)).toEqual([null, null]);
    expect(preview.unchanged).toBe(1);
    const ids = (await s.snapshots()).map((x) => x.id);
    expect((await s.snapshots()).map((x) => x.id)).toEqual(ids);
    await s.tag([], { set: [] });
    expect((await s.snapshots()).map((x) => x.tags)).toEqual([[], [], []]);
    expect(shape(await s.snapshots())).toEqual(shape(snaps));
    expect((await s.check({ readData: true })).problems).toEqual([]);
  });

  it('forget --keep-tag keeps a snapshot tagged afterwards', async () => {
    const { snaps } = await setup();
    await s.tag([snaps[0]!.id], { add: ['keep'] });
    const f = await s.forget({ policy: { keepLast: 1, keepTags: ['keep'] } });
    expect(f.removed).toHaveLength(1);
    const left = await s.snapshots();
    expect(left.map((x) => x.time)).toEqual([snaps[0]!.time, snaps[2]!.time]);
    expect(left[0]!.tags).toContain('keep');
  });

  it('refuses what makes no sense before changing anything', async () => {
    const { snaps } = await setup();
    await expect(s.tag([snaps[0]!.id], {})).rejects.toMatchObject({ code: 'USAGE' });
    await expect(s.tag([snaps[0]!.id], { set: ['a'], add: ['b'] })).rejects.toMatchObject({ code: 'USAGE' });
    await expect(s.tag([snaps[0]!.id], { add: ['a,b'] })).rejects.toMatchObject({ code: 'USAGE' });
    // One unknown id among good ones: nothing changes.
    await expect(s.tag([snaps[0]!.id, 'ffffffff'], { add: ['x'] })).rejects.toMatchObject({ code: 'SNAPSHOT_NOT_FOUND' });
    // An id outside the filter is not found among what the filter leaves.
    await expect(s.tag([snaps[2]!.id], { add: ['x'] }, { filter: { tags: ['daily'] } })).rejects.toMatchObject({ code: 'SNAPSHOT_NOT_FOUND' });
    expect(await s.snapshots()).toEqual(snaps);
  });

  it('a run cut off between storing the new snapshot and removing the old one: the next run takes that copy', async () => {
    const { snaps } = await setup();
    const first = snaps[0]!;
    const r1 = await Repository.open(
      withFaults(new LocalBackend(t.repo), [{ op: 'remove', match: (name) => name === `snapshots/${first.id}`, fault: 'error' }]),
      t.password,
      { clock: new FakeClock(), random: systemRandom, cacheDir: join(t.dir, 'cache-cut') },
    );
    try {
      await expect(tagSnapshots(r1, [first.id], undefined, { add: ['keep'] })).rejects.toThrow();
    } finally {
      await r1.close();
    }
    const mid = await s.snapshots();
    expect(mid).toHaveLength(4);
    const copy = mid.find((x) => x.tags.includes('keep'))!;
    expect(copy.time).toBe(first.time);

    const r = await s.tag([], { add: ['keep'] }, { filter: { tags: ['daily'] } });
    expect(r.changed.find((c) => c.snapshot === first.id)?.taggedAs).toBe(copy.id);
    const after = await s.snapshots();
    expect(after.map((x) => x.time)).toEqual(snaps.map((x) => x.time));
    expect(after.filter((x) => x.time === first.time).map((x) => x.id)).toEqual([copy.id]);
  });

  it('keeps this cache\'s directory memo for the retagged snapshot: the next backup reuses its directories', async () => {
    const { src, snaps } = await setup();
    const latest = snaps[2]!;
    const r = await s.tag([latest.id], { add: ['keep'] });
    const tagged = r.changed[0]!.taggedAs!;
    await s.close();
    const repo = await Repository.open(new LocalBackend(t.repo), t.password, { clock: new FakeClock(), random: systemRandom, cacheDir: t.cacheDir });
    try {
      expect(repo.index.getDirMemo(latest.id)).toBeUndefined();
      expect(repo.index.getDirMemo(tagged)).toBeDefined();
      expect(repo.index.storedSnapshot(tagged)).toBeDefined();
    } finally {
      await repo.close();
    }
    s = await t.open();
    const next = await s.backup({ paths: [src] });
    expect(next.snapshot.parent).toBe(tagged);
    expect(next.snapshot.summary).toMatchObject({ filesNew: 0, filesChanged: 0, dirsChanged: 0 });
  });

  it('the CLI: lines naming both ids, --json, USAGE for nothing to change', async () => {
    const { snaps } = await setup();
    const cli = (args: string[]) =>
      runCli(args, { engine: t.engine, env: { CAIRN_REPO: t.repo, CAIRN_PASSWORD: t.password, CAIRN_CACHE_DIR: t.cacheDir, HOME: t.dir } });
    const plain = await cli(['tag', '--add', 'keep,audit', snaps[1]!.id.slice(0, 8)]);
    expect(plain.code, plain.stderr).toBe(0);
    expect(plain.stdout).toMatch(new RegExp(`^snapshot ${snaps[1]!.id.slice(0, 8)}: daily -> daily,keep,audit \\(now [0-9a-f]{8}\\)$`, 'm'));
    expect(plain.stdout).toContain('1 of 1 snapshot changed');

    const json = await cli(['--json', 'tag', '--set', '', '--tag', 'keep', '--dry-run']);
    expect(json.code, json.stderr).toBe(0);
    const doc = JSON.parse(json.stdout) as TagSnapshotsResult;
    expect(doc).toMatchObject({ dryRun: true, unchanged: 0 });
    expect(doc.changed).toEqual([expect.objectContaining({ tags: ['daily', 'keep', 'audit'], newTags: [], taggedAs: null })]);

    for (const args of [['tag', 'latest'], ['tag', '--set', 'a', '--add', 'b'], ['tag', '--add', 'a,,b']]) {
      const r = await cli(args);
      expect(r.code, args.join(' ')).toBe(2);
      expect(r.stderr).toMatch(/\[USAGE\]/);
    }
    const none = await cli(['tag', '--add', 'x', '--host', 'nowhere']);
    expect(none.code, none.stderr).toBe(0);
    expect(none.stdout).toContain('no snapshot matches');
  });
});
