import { describe, it, expect, afterEach } from 'vitest';
import { mkdir, writeFile, readdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { FakeClock } from '../../src/core/clock.js';
import { makeTempRepo, type TempRepo } from '../helpers/temp-repo.js';
import { pseudoRandom } from '../helpers/data.js';
import { Repository } from '../../src/repository/repository.js';
import { LocalBackend } from '../../src/backend/local-backend.js';
import { RepoLock } from '../../src/repository/lock.js';
import { systemRandom } from '../../src/core/random.js';
import { syncIndex } from '../../src/repository/index-sync.js';

async function countPacks(repo: string): Promise<number> {
  let n = 0;
  for (const d of await readdir(join(repo, 'data'))) n += (await readdir(join(repo, 'data', d))).length;
  return n;
}

const HOUR = 3600_000;

describe('prune', () => {
  let t: TempRepo;
  afterEach(() => t?.cleanup());

  async function setup(clock: FakeClock) {
    t = await makeTempRepo({ clock });
    const src = join(t.dir, 'src');
    await mkdir(src, { recursive: true });
    await writeFile(join(src, 'keep'), pseudoRandom(1, 20 * 2 ** 20));
    await writeFile(join(src, 'drop'), pseudoRandom(2, 20 * 2 ** 20));
    const s = await t.open();
    const a = await s.backup({ paths: [src] });
    await rm(join(src, 'drop'));
    clock.advance(60_000);
    const b = await s.backup({ paths: [src] });
    return { s, src, a, b };
  }

  it('marks first and sweeps only after the delay; the survivor restores and check passes', async () => {
    const clock = new FakeClock('2026-03-01T00:00:00Z');
    const { s, a, b } = await setup(clock);
    const before = await countPacks(t.repo);
    await s.forget({ ids: [a.snapshot.id] });

    const first = await s.prune();
    expect(first.marked.packs).toBeGreaterThan(0);
    expect(first.swept.packs).toBe(0);
    expect(await countPacks(t.repo)).toBeGreaterThanOrEqual(before); // nothing deleted yet (repacks may add)

    clock.advance(30 * 60_000);
    expect((await s.prune()).swept.packs).toBe(0); // still inside the delay

    clock.advance(HOUR);
    const second = await s.prune();
    expect(second.swept.packs).toBeGreaterThan(0);
    expect(await countPacks(t.repo)).toBeLessThan(before);

    const check = await s.check({ readData: true });
    expect(check.problems).toEqual([]);
    const r = await s.restore({ snapshot: b.snapshot.id, target: join(t.dir, 'out'), verify: true });
    expect(r.verified!.mismatches).toEqual([]);
    await s.close();
  });

  it('does not sweep while a writer that started before the mark is alive', async () => {
    const clock = new FakeClock('2026-03-01T00:00:00Z');
    const { s, a } = await setup(clock);
    await s.forget({ ids: [a.snapshot.id] });
    const other = await Repository.open(new LocalBackend(t.repo), t.password, { clock, random: systemRandom, cacheDir: join(t.dir, 'cache2') });
    const writer = await RepoLock.acquire(other, 'writer');
    clock.advance(60_000);
    await s.prune(); // mark
    clock.advance(2 * HOUR);
    await writer.refresh(); // the writer is alive and refreshing its lock
    const blocked = await s.prune();
    expect(blocked.swept.packs).toBe(0);
    expect(blocked.deferred).toBeGreaterThan(0);
    await writer.release();
    const after = await s.prune();
    expect(after.swept.packs).toBeGreaterThan(0);
    await other.close();
    await s.close();
  });

  it('a writer that loaded the mark before it started does not hold the sweep back; one that did not, does', async () => {
    const clock = new FakeClock('2026-03-01T00:00:00Z');
    const { s, a } = await setup(clock);
    await s.forget({ ids: [a.snapshot.id] });
    await s.prune(); // mark
    clock.advance(60_000);
    const open = () => Repository.open(new LocalBackend(t.repo), t.password, { clock, random: systemRandom, cacheDir: join(t.dir, `cache-${Math.random()}`) });
    // Started after the mark, but has not synced yet: it might still use the marked packs.
    const unsynced = await open();
    const early = await RepoLock.acquire(unsynced, 'writer');
    clock.advance(2 * HOUR);
    await early.refresh();
    expect((await s.prune()).swept.packs).toBe(0);
    await early.release();
    // Synced and published the marks it knows: their packs are absent for it.
    const synced = await open();
    const late = await RepoLock.acquire(synced, 'writer');
    await syncIndex(synced);
    expect(synced.gcMarksKnown.length).toBe(1);
    await late.recordMarksSeen();
    const r = await s.prune();
    expect(r.swept.packs).toBeGreaterThan(0);
    await late.release();
    await unsynced.close();
    await synced.close();
    expect((await s.check({ readData: true })).problems).toEqual([]);
    await s.close();
  });

  it('a stale writer lock (not refreshed for 30 minutes) does not block the sweep', async () => {
    const clock = new FakeClock('2026-03-01T00:00:00Z');
    const { s, a } = await setup(clock);
    await s.forget({ ids: [a.snapshot.id] });
    const other = await Repository.open(new LocalBackend(t.repo), t.password, { clock, random: systemRandom, cacheDir: join(t.dir, 'cache2') });
    const writer = await RepoLock.acquire(other, 'writer'); // never refreshed: a dead host's lock
    await s.prune();
    clock.advance(2 * HOUR);
    expect((await s.prune()).swept.packs).toBeGreaterThan(0);
    await writer.release();
    await other.close();
    await s.close();
  });

  it('keeps a marked pack that a snapshot written after the mark references', async () => {
    const clock = new FakeClock('2026-03-01T00:00:00Z');
    const { s, a } = await setup(clock);
    const internal = await Repository.open(new LocalBackend(t.repo), t.password, { clock, random: systemRandom, cacheDir: join(t.dir, 'cache3') });
    const body = await internal.loadSnapshot(a.snapshot.id);
    await s.forget({ ids: [a.snapshot.id] });
    const marked = await s.prune();
    expect(marked.marked.packs).toBeGreaterThan(0);
    // A backup that began before the mark commits a snapshot referencing the marked data.
    clock.advance(60_000);
    await internal.saveSnapshot({ ...body, time: clock.now().toISOString() });
    clock.advance(2 * HOUR);
    await s.prune();
    const check = await s.check({ readData: true });
    expect(check.problems).toEqual([]);
    const r = await s.restore({ snapshot: 'latest', target: join(t.dir, 'out'), verify: true });
    expect(r.verified!.mismatches).toEqual([]);
    expect(r.files).toBe(2);
    await internal.close();
    await s.close();
  });

  it('a backup after the mark stores condemned data again instead of referencing it', async () => {
    const clock = new FakeClock('2026-03-01T00:00:00Z');
    const { s, src, a } = await setup(clock);
    await s.forget({ ids: [a.snapshot.id] });
    await s.prune(); // marks the pack holding "drop"
    await writeFile(join(src, 'drop'), pseudoRandom(2, 20 * 2 ** 20)); // the same content comes back
    const c = await s.backup({ paths: [src] });
    expect(c.snapshot.summary!.bytesAdded).toBeGreaterThan(0);
    clock.advance(2 * HOUR);
    await s.prune();
    expect((await s.check({ readData: true })).problems).toEqual([]);
    const r = await s.restore({ snapshot: c.snapshot.id, target: join(t.dir, 'out'), verify: true });
    expect(r.verified!.mismatches).toEqual([]);
    await s.close();
  });

  it('marks nothing when nothing was forgotten, whatever the size of the packs', async () => {
    // A pack's header and trailer are not unused space: counted as such, a pack of a
    // few small blobs looked mostly unused, was repacked into another one like it, and
    // every prune marked a pack again, so a repository was never without condemned packs.
    const clock = new FakeClock('2026-03-01T00:00:00Z');
    t = await makeTempRepo({ clock });
    const src = join(t.dir, 'src');
    await mkdir(src, { recursive: true });
    await writeFile(join(src, 'tiny'), 'x');
    const s = await t.open();
    await s.backup({ paths: [src] });
    for (let i = 0; i < 2; i++) {
      const r = await s.prune();
      expect(r.marked.packs).toBe(0);
      expect(r.repacked.packs).toBe(0);
      clock.advance(2 * HOUR);
    }
    await s.close();
  });

  it('after forget, one mark and one sweep leave nothing condemned', async () => {
    const clock = new FakeClock('2026-03-01T00:00:00Z');
    const { s, a } = await setup(clock);
    await s.forget({ ids: [a.snapshot.id] });
    expect((await s.prune()).marked.packs).toBeGreaterThan(0);
    clock.advance(2 * HOUR);
    const second = await s.prune();
    expect(second.swept.packs).toBeGreaterThan(0);
    expect(second.marked.packs).toBe(0);
    const other = await Repository.open(new LocalBackend(t.repo), t.password, { clock, random: systemRandom, cacheDir: join(t.dir, 'cache4') });
    await syncIndex(other);
    expect(other.index.hasCondemned).toBe(false);
    await other.close();
    await s.close();
  });

  it('forget keeps by policy and refuses to run without a rule', async () => {
    const clock = new FakeClock('2026-03-01T00:00:00Z');
    const { s } = await setup(clock);
    await expect(s.forget({})).rejects.toMatchObject({ code: 'USAGE' });
    const dry = await s.forget({ policy: { keepLast: 1 }, dryRun: true });
    expect(dry.removed.length).toBe(1);
    expect((await s.snapshots()).length).toBe(2);
    await s.forget({ policy: { keepLast: 1 } });
    expect((await s.snapshots()).length).toBe(1);
    await s.close();
  });
});
