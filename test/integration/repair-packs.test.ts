import { afterEach, describe, expect, it } from 'vitest';
import { mkdir, readFile, readdir, stat, writeFile } from 'node:fs/promises';
import { flipByte, packIdsIn as packIds } from '../helpers/damage.js';
import { join } from 'node:path';
import { makeTempRepo, type TempRepo } from '../helpers/temp-repo.js';
import { pseudoRandom } from '../helpers/data.js';
import { FakeClock } from '../../src/core/clock.js';
import { systemRandom } from '../../src/core/random.js';
import { LocalBackend } from '../../src/backend/local-backend.js';
import { withFaults } from '../../src/backend/with-faults.js';
import { Repository, packName } from '../../src/repository/repository.js';
import { syncIndex } from '../../src/repository/index-sync.js';
import { repairPacks } from '../../src/maintenance/repair-packs.js';
import type { PackId } from '../../src/core/ids.js';
import type { RepositorySession } from '../../src/engine/types.js';
import { runCli } from '../cli/helpers/run-cli.js';

/**
 * A pack with one bad blob among good ones: `check --read-data` names it, `repair
 * packs` keeps the good blobs and drops the pack, and a backup then stores the lost data
 * again (the documented way back, as with restic's `repair packs`).
 */
describe('repair packs', () => {
  let t: TempRepo;
  let s: RepositorySession;
  afterEach(async () => {
    await s?.close();
    await t?.cleanup();
  });

  const FILES = ['a.bin', 'b.bin', 'c.bin'];
  const content = (i: number) => pseudoRandom(40 + i, 200_000);

  /** Three files of one chunk each, in one data pack (one worker); returns the source and that pack. */
  async function setup(): Promise<{ src: string; pack: string }> {
    t = await makeTempRepo();
    const src = join(t.dir, 'src');
    await mkdir(src, { recursive: true });
    for (const [i, f] of FILES.entries()) await writeFile(join(src, f), content(i));
    s = await t.engine.open({ repo: t.repo, password: t.password, cacheDir: t.cacheDir, threads: 1 });
    await s.backup({ paths: [src] });
    const sizes = await Promise.all((await packIds(t.repo)).map(async (id) => ({ id, size: (await stat(join(t.repo, packName(id)))).size })));
    // The data pack is the big one; the tree pack holds a few hundred bytes.
    const pack = sizes.sort((a, b) => b.size - a.size)[0]!.id;
    expect(sizes[0]!.size).toBeGreaterThan(3 * 200_000 * 0.9);
    return { src, pack };
  }

  /** Damages the middle blob of the pack (the file stored second). */
  async function damageMiddleBlob(pack: string): Promise<void> {
    const { size } = await stat(join(t.repo, packName(pack)));
    await flipByte(join(t.repo, packName(pack)), Math.floor(size / 2));
  }

  it('keeps the blobs that still read, removes the pack, and a backup stores the lost one again', async () => {
    const { src, pack } = await setup();
    await damageMiddleBlob(pack);
    const checked = await s.check({ readData: true });
    expect(checked.damagedPacks).toEqual([pack]);

    const r = await s.repairPacks([pack]);
    expect(r.packs).toHaveLength(1);
    expect(r.packs[0]).toMatchObject({ id: pack, status: 'damaged', blobs: 3, salvaged: 2, indexed: true, hashMismatch: true });
    expect(r.packs[0]!.lost).toHaveLength(1);
    expect(r).toMatchObject({ blobsSalvaged: 2, blobsLost: 1, packsRemoved: 1, dryRun: false });
    expect(await packIds(t.repo)).not.toContain(pack);

    // The repository is consistent: only the one file's data is missing, and check says where.
    const after = await s.check({ readData: true });
    expect(after.damagedPacks).toEqual([]);
    expect(after.problems).toHaveLength(1);
    expect(after.problems[0]).toMatchObject({ kind: 'blob', id: r.packs[0]!.lost[0]!.id });
    expect(after.affected).toHaveLength(1);
    expect(after.affected[0]!.paths).toEqual([join(src, 'b.bin')]);

    // The salvaged files restore from the snapshot as it is.
    await s.restore({ snapshot: 'latest', target: join(t.dir, 'part'), include: [join(src, 'a.bin'), join(src, 'c.bin')] });
    expect((await readFile(join(t.dir, 'part', src, 'a.bin'))).equals(content(0))).toBe(true);
    expect((await readFile(join(t.dir, 'part', src, 'c.bin'))).equals(content(2))).toBe(true);

    // Backing up again heals: the lost blob is stored again although the files did not change.
    const healed = (await s.backup({ paths: [src] })).snapshot;
    expect(healed.summary!.dataBlobs).toBe(1);
    const final = await s.check({ readData: true });
    expect(final.problems).toEqual([]);
    await s.restore({ snapshot: 'latest', target: join(t.dir, 'out') });
    for (const [i, f] of FILES.entries()) expect((await readFile(join(t.dir, 'out', src, f))).equals(content(i))).toBe(true);
  });

  it('leaves a sound pack alone', async () => {
    const { pack } = await setup();
    const before = await readFile(join(t.repo, packName(pack)));
    const r = await s.repairPacks([pack]);
    expect(r.packs[0]).toMatchObject({ id: pack, status: 'intact', blobs: 3, salvaged: 0, lost: [] });
    expect(r).toMatchObject({ blobsSalvaged: 0, blobsLost: 0, packsRemoved: 0 });
    expect((await readFile(join(t.repo, packName(pack)))).equals(before)).toBe(true);
    expect((await s.check({ readData: true })).problems).toEqual([]);
  });

  it('changes nothing in a dry run', async () => {
    const { pack } = await setup();
    await damageMiddleBlob(pack);
    const listing = async () => (await Promise.all(['data', 'index'].map(async (d) => JSON.stringify(await readdir(join(t.repo, d), { recursive: true }))))).join();
    const before = await listing();
    const r = await s.repairPacks([pack], { dryRun: true });
    expect(r).toMatchObject({ dryRun: true, blobsSalvaged: 2, blobsLost: 1, packsRemoved: 0 });
    expect(await listing()).toBe(before);
    expect((await s.check({ readData: true })).damagedPacks).toEqual([pack]);
  });

  it('checks every id before it reads any: a mistyped second id changes nothing', async () => {
    const { pack } = await setup();
    await damageMiddleBlob(pack);
    const before = await packIds(t.repo);
    const progress: unknown[] = [];
    await expect(s.repairPacks([pack, 'e'.repeat(64)], { onProgress: (p) => progress.push(p) })).rejects.toMatchObject({ code: 'PACK_NOT_FOUND' });
    expect(progress).toEqual([]); // not even the first pack was worked on
    expect(await packIds(t.repo)).toEqual(before);
    expect((await s.check({ readData: true })).damagedPacks).toEqual([pack]);
  });

  it('salvages every blob through the index when only the trailer is damaged', async () => {
    const { src, pack } = await setup();
    const { size } = await stat(join(t.repo, packName(pack)));
    await flipByte(join(t.repo, packName(pack)), size - 30); // in the sealed trailer
    const viaIndex = await s.repairPacks([pack], { dryRun: true });
    expect(viaIndex.packs[0]).toMatchObject({ status: 'damaged', indexed: true, blobs: 3, salvaged: 3, lost: [] });
    expect(viaIndex.packs[0]!.structure).toBeTruthy();
    const r = await s.repairPacks([pack]);
    expect(r).toMatchObject({ blobsSalvaged: 3, blobsLost: 0, packsRemoved: 1 });
    expect((await s.check({ readData: true })).problems).toEqual([]);

    // Nothing was lost: the next backup, which looks every blob up after the loss, stores nothing.
    const snap = (await s.backup({ paths: [src] })).snapshot;
    expect(snap.summary!.dataBlobs).toBe(0);
  });

  it('takes out a pack the index does not name, listing its blobs from its own trailer', async () => {
    const { pack } = await setup();
    await damageMiddleBlob(pack);
    const r2 = await Repository.open(new LocalBackend(t.repo), t.password, { clock: new FakeClock(), random: systemRandom, cacheDir: join(t.dir, 'cache2') });
    try {
      // An index that does not name the pack (as after `repair index` left it out).
      await syncIndex(r2);
      r2.index.removePack(pack as PackId);
      const r = await repairPacks(r2, [pack], { dryRun: true });
      expect(r.packs[0]).toMatchObject({ status: 'damaged', indexed: false, blobs: 3, salvaged: 2 });
      expect(r.packs[0]!.lost).toHaveLength(1);
    } finally {
      await r2.close();
    }
  });

  it('takes unique id prefixes; refuses what is not an id, ambiguous prefixes and packs that are not there', async () => {
    const { pack } = await setup();
    expect((await s.repairPacks([pack.slice(0, 8)], { dryRun: true })).packs.map((p) => p.id)).toEqual([pack]);
    expect((await s.repairPacks([pack, pack.slice(0, 12)], { dryRun: true })).packs).toHaveLength(1);
    await expect(s.repairPacks(['abc'])).rejects.toMatchObject({ code: 'USAGE' }); // under 8 digits
    await expect(s.repairPacks(['../../etc/passwd'])).rejects.toMatchObject({ code: 'USAGE' });
    await expect(s.repairPacks(['0'.repeat(64)])).rejects.toMatchObject({ code: 'PACK_NOT_FOUND' });
    const nothing = pack.startsWith('ffffffff') ? '00000000' : 'ffffffff';
    await expect(s.repairPacks([nothing])).rejects.toMatchObject({ code: 'PACK_NOT_FOUND' });
    // Two names in data/ sharing a prefix (placed by hand: the prefix is checked before any read).
    await mkdir(join(t.repo, 'data', 'ab'), { recursive: true });
    for (const tail of ['0', '1']) await writeFile(join(t.repo, 'data', 'ab', 'abababab' + tail.repeat(56)), 'x');
    await expect(s.repairPacks(['abababab'])).rejects.toMatchObject({ code: 'USAGE', message: expect.stringMatching(/matches 2 packs/) });
  });

  it('can run again after failing between its steps, and the repository stays consistent', async () => {
    const { pack } = await setup();
    await damageMiddleBlob(pack);
    // Deleting the pack file fails: the new packs and index are written, the pack is in no index file.
    const r1 = await Repository.open(
      withFaults(new LocalBackend(t.repo), [{ op: 'remove', match: (name) => name === packName(pack), fault: 'error' }]),
      t.password,
      { clock: new FakeClock(), random: systemRandom, cacheDir: join(t.dir, 'cache3') },
    );
    try {
      await expect(repairPacks(r1, [pack])).rejects.toThrow();
    } finally {
      await r1.close();
    }
    expect(await packIds(t.repo)).toContain(pack);
    // Nothing that reads is lost: the index names the salvaged copies, and check misses only the bad blob.
    const mid = await s.check({ readData: true });
    expect(mid.problems).toHaveLength(1);
    expect(mid.problems[0]).toMatchObject({ kind: 'blob' });
    // The same command finishes the job; the salvaged blobs are not stored a third time.
    const r = await s.repairPacks([pack]);
    expect(r).toMatchObject({ packsRemoved: 1, blobsLost: 1 });
    const after = await s.check({ readData: true });
    expect(after.damagedPacks).toEqual([]);
    expect(after.problems).toHaveLength(1);
  });

  describe('on the command line', () => {
    const cli = (args: string[]) =>
      runCli(args, { engine: t.engine, env: { CAIRN_REPO: t.repo, CAIRN_PASSWORD: t.password, CAIRN_CACHE_DIR: t.cacheDir, HOME: t.dir } });

    it('check points to it, --dry-run reports, the repair exits 0 and says what to do about the lost blob', async () => {
      const { pack } = await setup();
      await s.close();
      await damageMiddleBlob(pack);
      const checked = await cli(['check', '--read-data']);
      expect(checked.code).toBe(20);
      expect(checked.stdout).toContain(pack);
      expect(checked.stderr).toContain('cairn repair packs');

      const dry = await cli(['repair', 'packs', '--dry-run', '--json', pack]);
      expect(dry.code, dry.stderr).toBe(0);
      expect(JSON.parse(dry.stdout)).toMatchObject({ dryRun: true, blobsSalvaged: 2, blobsLost: 1, packsRemoved: 0 });
      expect(await packIds(t.repo)).toContain(pack);

      const r = await cli(['repair', 'packs', pack]);
      expect(r.code, r.stderr).toBe(0);
      expect(r.stdout).toContain(`pack ${pack}: damaged`);
      expect(r.stdout).toMatch(/salvaged\s+2/);
      expect(r.stderr).toContain('1 blob could not be read and is gone from the repository');
      expect(r.stderr).not.toMatch(/\n\s+at /); // no stack trace
      expect(await packIds(t.repo)).not.toContain(pack);
    });

    it('a wrong id is one line with a stable code', async () => {
      await setup();
      await s.close();
      const bad = await cli(['repair', 'packs', 'nonsense']);
      expect(bad.code).toBe(2);
      expect(bad.stderr).toMatch(/USAGE/);
      const missing = await cli(['repair', 'packs', 'f'.repeat(64)]);
      expect(missing.code).toBe(14);
      expect(missing.stderr).toMatch(/PACK_NOT_FOUND/);
      expect(missing.stderr.trim().split('\n').length).toBeLessThanOrEqual(2); // the error and its hint
    });
  });
});
