import { afterEach, describe, expect, it, vi } from 'vitest';
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { makeTempRepo, type TempRepo } from '../helpers/temp-repo.js';
import { pseudoRandom } from '../helpers/data.js';
import { FakeClock } from '../../src/core/clock.js';
import { systemRandom } from '../../src/core/random.js';
import { LocalBackend } from '../../src/backend/local-backend.js';
import { Repository } from '../../src/repository/repository.js';
import { packName } from '../../src/repository/repository.js';
import { ScanDirLister } from '../../src/fs/dir-lister.js';
import { loadGcMarks, syncIndex } from '../../src/repository/index-sync.js';
import type { BlobId } from '../../src/core/ids.js';
import type { RepositorySession, SnapshotInfo } from '../../src/engine/types.js';
import type { Tree } from '../../src/snapshot/tree.js';

/**
 * A pack lost from the repository, then `repair index`: the documented way out is to
 * back the files up again. That backup must store the lost data again, although its
 * parent snapshot names it and the files did not change (restic heals the same way).
 */
describe('backing up after a pack was lost', () => {
  let t: TempRepo;
  let s: RepositorySession;
  afterEach(async () => {
    vi.restoreAllMocks();
    await s?.close();
    await t?.cleanup();
  });

  async function setup(clock?: FakeClock): Promise<{ src: string; first: SnapshotInfo; parent: SnapshotInfo }> {
    t = await makeTempRepo(clock ? { clock } : {});
    const src = join(t.dir, 'src');
    await mkdir(join(src, 'a'), { recursive: true });
    await mkdir(join(src, 'b'));
    await writeFile(join(src, 'a', 'big.bin'), pseudoRandom(7, 600_000));
    await writeFile(join(src, 'b', 'small.txt'), 'hello\n');
    s = await t.open();
    const first = (await s.backup({ paths: [src] })).snapshot;
    clock?.advance(60_000);
    // The second backup has the first as parent and reuses every file of it.
    const parent = (await s.backup({ paths: [src] })).snapshot;
    expect(parent.summary).toMatchObject({ filesUnchanged: 2, bytesRead: 0 });
    return { src, first, parent };
  }

  /** The pack holding a blob, found through an index cache of its own. */
  async function packOf(type: 'data' | 'tree', id: BlobId): Promise<string> {
    const r = await Repository.open(new LocalBackend(t.repo), t.password, { clock: new FakeClock(), random: systemRandom, cacheDir: join(t.dir, 'probe-cache') });
    try {
      await syncIndex(r);
      return r.index.find(type, id)!.pack;
    } finally {
      await r.close();
      await rm(join(t.dir, 'probe-cache'), { recursive: true, force: true });
    }
  }

  /**
   * setup, then a file backed up once and deleted; the snapshots that held it are
   * forgotten and a prune marks its pack (not swept yet). Returns the source.
   */
  async function setupWithMark(clock: FakeClock): Promise<string> {
    const { src, first } = await setup(clock);
    await writeFile(join(src, 'b', 'gone.bin'), pseudoRandom(9, 300_000));
    clock.advance(60_000);
    const withGone = (await s.backup({ paths: [src] })).snapshot;
    await rm(join(src, 'b', 'gone.bin'));
    clock.advance(60_000);
    await s.backup({ paths: [src] });
    await s.forget({ ids: [first.id, withGone.id] });
    expect((await s.prune()).marked.packs).toBeGreaterThan(0);
    return src;
  }

  async function nodeIn(snap: SnapshotInfo, dir: string, name: string) {
    const tree = (await s.cat('tree', `${snap.id}:${dir}`)) as Tree;
    return tree.nodes.find((n) => n.name === name)!;
  }

  it('stores the lost data of unchanged files again, and the new snapshot restores', async () => {
    const { src, first, parent } = await setup();
    const big = await nodeIn(parent, join(src, 'a'), 'big.bin');
    await rm(join(t.repo, packName((await packOf('data', big.content![0]!)) as never)));
    const repaired = await s.repairIndex();
    expect(repaired.damagedPacks).toEqual([]);

    // check names both snapshots (they share the tree that names the lost blob), not
    // only the first it walked.
    const before = await s.check();
    expect(before.ok).toBe(false);
    expect(before.affected.map((a) => a.snapshot).sort()).toEqual([first.id, parent.id].sort());
    // (small.txt too, when a worker packed both files together)
    for (const a of before.affected) expect(a.paths).toContain(join(src, 'a', 'big.bin'));

    const healed = (await s.backup({ paths: [src] })).snapshot;
    expect(healed.parent).toBe(parent.id);
    expect(healed.summary!.bytesRead).toBeGreaterThanOrEqual(600_000);
    expect(healed.summary!.dataBlobs).toBeGreaterThan(0);
    await s.restore({ snapshot: healed.id, target: join(t.dir, 'out') });
    expect((await readFile(join(t.dir, 'out', src, 'a', 'big.bin'))).equals(pseudoRandom(7, 600_000))).toBe(true);
    // The same content has the same blob ids: the older snapshots are whole again too.
    expect((await s.check({ readData: true })).problems).toEqual([]);

    // The healed snapshot is trusted again: the next backup takes its trees from the
    // memo, loading only the path down to the source.
    const loads = vi.spyOn(Repository.prototype, 'loadTree');
    const next = (await s.backup({ paths: [src] })).snapshot;
    expect(next.summary).toMatchObject({ filesUnchanged: 2, bytesRead: 0, dataBlobs: 0 });
    if (ScanDirLister.available()) expect(loads.mock.calls.length).toBeLessThanOrEqual(src.split('/').length);
  });

  it('stores lost trees again', async () => {
    const { src, first, parent } = await setup();
    const b = await nodeIn(parent, src, 'b');
    await rm(join(t.repo, packName((await packOf('tree', b.subtree!)) as never)));
    await s.repairIndex();

    const healed = (await s.backup({ paths: [src] })).snapshot;
    expect(healed.summary!.treeBlobs).toBeGreaterThan(0);
    // The tree pack also held trees above the source (/, /tmp, ...), which differ now
    // (and may have differed between the two older backups, as other tests change
    // /tmp): what of the older snapshots stays lost varies; the new snapshot is whole.
    const check = await s.check({ readData: true });
    expect(check.affected.map((a) => a.snapshot)).toContain(first.id);
    expect(check.affected.map((a) => a.snapshot)).not.toContain(healed.id);
    expect(check.problems.filter((p) => p.id === healed.id || p.message.includes(healed.id.slice(0, 8)))).toEqual([]);
    await s.restore({ snapshot: healed.id, target: join(t.dir, 'out') });
    expect(await readFile(join(t.dir, 'out', src, 'b', 'small.txt'), 'utf8')).toBe('hello\n');
  });

  it('a pack found missing by the backup itself (no repair) is stored again too', async () => {
    const { src, parent } = await setup();
    const big = await nodeIn(parent, join(src, 'a'), 'big.bin');
    await rm(join(t.repo, packName((await packOf('data', big.content![0]!)) as never)));
    // The backup's own scan of data/ drops the pack from the cache.
    const healed = (await s.backup({ paths: [src] })).snapshot;
    expect(healed.summary!.bytesRead).toBeGreaterThanOrEqual(600_000);
    await s.restore({ snapshot: healed.id, target: join(t.dir, 'out') });
    expect((await readFile(join(t.dir, 'out', src, 'a', 'big.bin'))).length).toBe(600_000);
  });

  it('a parent made through another cache is looked up blob by blob', async () => {
    const { src, parent } = await setup();
    const big = await nodeIn(parent, join(src, 'a'), 'big.bin');
    // Lost behind this cache's back, and the other cache learns of it by repairing.
    await rm(join(t.repo, packName((await packOf('data', big.content![0]!)) as never)));
    const other = await t.engine.open({ repo: t.repo, password: t.password, cacheDir: join(t.dir, 'cache2') });
    try {
      await other.repairIndex();
      const healed = (await other.backup({ paths: [src] })).snapshot;
      expect(healed.summary!.bytesRead).toBeGreaterThanOrEqual(600_000);
    } finally {
      await other.close();
    }
  });

  it.runIf(ScanDirLister.available())('repair index with every pack readable loses nothing: the memo stays in use', async () => {
    const { src } = await setup();
    await s.repairIndex();
    const loads = vi.spyOn(Repository.prototype, 'loadTree');
    const next = (await s.backup({ paths: [src] })).snapshot;
    expect(next.summary).toMatchObject({ filesUnchanged: 2, bytesRead: 0, dataBlobs: 0 });
    expect(loads.mock.calls.length).toBeLessThanOrEqual(src.split('/').length);
  });

  it.runIf(ScanDirLister.available())('while a mark waits for its sweep, a parent the mark was computed from, or whose backup loaded it, is still known stored', async () => {
    const clock = new FakeClock('2026-03-01T00:00:00Z');
    const src = await setupWithMark(clock);
    const idx = (s as unknown as { repo: Repository }).repo.index;
    expect(idx.hasCondemned).toBe(true);

    // Its parent was among the snapshots the mark was computed from: the memo is used.
    const loads = vi.spyOn(Repository.prototype, 'loadTree');
    clock.advance(60_000);
    const next = (await s.backup({ paths: [src] })).snapshot;
    expect(next.summary).toMatchObject({ filesUnchanged: 2, bytesRead: 0 });
    expect(loads.mock.calls.length).toBeLessThanOrEqual(src.split('/').length);

    // `next` was committed after the mark, by a backup that had loaded it (and so
    // stored nothing only in its packs): known stored too.
    loads.mockClear();
    clock.advance(60_000);
    const after = (await s.backup({ paths: [src] })).snapshot;
    expect(after.summary).toMatchObject({ filesUnchanged: 2, bytesRead: 0 });
    expect(loads.mock.calls.length).toBeLessThanOrEqual(src.split('/').length);

    // A mark that neither lists the parent nor was loaded by the parent's backup (one
    // made by a prune elsewhere while that backup ran): blobs are looked up, trees loaded.
    const repo = (s as unknown as { repo: Repository }).repo;
    const condemned = [...(await loadGcMarks(repo)).values()].flatMap((m) => m.packs);
    await repo.saveSealed('gc', { created: clock.now().toISOString(), packs: condemned, snapshots: [] });
    loads.mockClear();
    clock.advance(60_000);
    const wary = (await s.backup({ paths: [src] })).snapshot;
    expect(wary.summary).toMatchObject({ filesUnchanged: 2, bytesRead: 0, dataBlobs: 0 });
    expect(loads.mock.calls.length).toBeGreaterThan(src.split('/').length);
  });

  it.runIf(ScanDirLister.available())('a prune on this host does not cost the next backup its directory memo', async () => {
    const clock = new FakeClock('2026-03-01T00:00:00Z');
    const src = await setupWithMark(clock);
    clock.advance(2 * 3600_000);
    expect((await s.prune()).swept.packs).toBeGreaterThan(0);
    const idx = (s as unknown as { repo: Repository }).repo.index;
    expect(idx.hasCondemned).toBe(false);
    expect(idx.lossGeneration).toBe(0);

    const loads = vi.spyOn(Repository.prototype, 'loadTree');
    const next = (await s.backup({ paths: [src] })).snapshot;
    expect(next.summary).toMatchObject({ filesUnchanged: 2, bytesRead: 0 });
    // Only the path down to the source is looked up in the parent: the memo was used.
    expect(loads.mock.calls.length).toBeLessThanOrEqual(src.split('/').length);
  });
});
