import { mkdir, stat, utimes, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { WalkAhead } from '../../src/archiver/walk-ahead.js';
import { FakeClock } from '../../src/core/clock.js';
import type { RepositorySession } from '../../src/engine/types.js';
import type { Tree } from '../../src/snapshot/tree.js';
import { makeTempRepo, type TempRepo } from '../helpers/temp-repo.js';

async function names(s: RepositorySession, src: string): Promise<string[]> {
  const out: string[] = [];
  for await (const n of s.ls('latest', { path: src, recursive: true })) out.push(n.path.slice(src.length + 1));
  return out.sort();
}

describe('WalkAhead: the walk of a files backup, started before the repository is opened', () => {
  let t: TempRepo | undefined;
  afterEach(async () => {
    await t?.cleanup();
    t = undefined;
  });

  async function setUp(): Promise<{ src: string; clock: FakeClock; s: RepositorySession }> {
    const clock = new FakeClock('2026-12-07T10:00:00Z');
    t = await makeTempRepo({ clock });
    const src = join(t.dir, 'src');
    await mkdir(join(src, 'sub'), { recursive: true });
    await writeFile(join(src, 'a.txt'), 'a\n');
    await writeFile(join(src, 'sub', 'b.txt'), 'b\n');
    await writeFile(join(src, 'skip.tmp'), 'excluded\n');
    return { src, clock, s: await t.open() };
  }

  it('is what the backup records, and dates the snapshot from when it began', async () => {
    const { src, clock, s } = await setUp();
    const ahead = new WalkAhead({ paths: [src], excludes: ['*.tmp'] }, { clock });
    await ahead.idle(); // the whole small tree is read ahead now
    await writeFile(join(src, 'late.txt'), 'made after the walk read the directory\n');
    clock.advance(5_000);
    const r = await s.backup({ paths: [src], excludes: ['*.tmp'], walkAhead: ahead });
    await ahead.close();
    expect(r.snapshot.time).toBe('2026-12-07T10:00:00.000Z');
    expect(await names(s, src)).toEqual(['a.txt', 'sub', 'sub/b.txt']);

    // The next backup walks anew and finds the late file.
    const again = await s.backup({ paths: [src], excludes: ['*.tmp'] });
    expect(again.snapshot.time).toBe('2026-12-07T10:00:05.000Z');
    expect(await names(s, src)).toEqual(['a.txt', 'late.txt', 'sub', 'sub/b.txt']);
    await s.close();
  });

  it('is not used for a backup that selects other files: that backup walks with its own excludes', async () => {
    const { src, clock, s } = await setUp();
    const ahead = new WalkAhead({ paths: [src] }, { clock }); // no excludes
    await ahead.idle();
    await writeFile(join(src, 'late.txt'), 'late\n');
    const r = await s.backup({ paths: [src], excludes: ['*.tmp'], walkAhead: ahead });
    await ahead.close();
    expect(await names(s, src)).toEqual(['a.txt', 'late.txt', 'sub', 'sub/b.txt']);
    expect(r.snapshot.summary!.filesNew).toBe(3);
    await s.close();
  });

  it('gives the same snapshot tree as a backup without it, with more entries than it reads ahead', async () => {
    const { src, clock, s } = await setUp();
    for (let d = 0; d < 5; d++) {
      await mkdir(join(src, `d${d}`));
      for (let f = 0; f < 20; f++) await writeFile(join(src, `d${d}`, `f${f}`), `${d}/${f}\n`);
    }
    // Listing a directory moves its atime while atime <= mtime (relatime), and a first
    // listing in the same clock tick as the last change leaves it so: with atimes ahead
    // of every mtime and ctime, no backup's listing moves them.
    const ahead1h = new Date(Date.now() + 3_600_000);
    for (const d of [src, join(src, 'sub'), ...[0, 1, 2, 3, 4].map((d) => join(src, `d${d}`))]) await utimes(d, ahead1h, (await stat(d)).mtime);
    const plain = await s.backup({ paths: [src] });
    const ahead = new WalkAhead({ paths: [src] }, { clock, limit: 7 });
    const r = await s.backup({ paths: [src], walkAhead: ahead });
    await ahead.close();
    // The source's tree: the root's also holds /tmp, which other tests change meanwhile.
    const srcTree = async (id: string) => ((await s.cat('tree', `${id}:${t!.dir}`)) as Tree).nodes.find((n) => n.name === 'src')!.subtree;
    expect(await srcTree(r.snapshot.id)).toBe(await srcTree(plain.snapshot.id));
    expect(r.snapshot.summary!.filesUnchanged).toBe(103);
    await s.close();
  });

  it('leaves errors to the backup: a missing source fails the backup as without it', async () => {
    const { src, clock, s } = await setUp();
    const missing = join(src, 'missing');
    const ahead = new WalkAhead({ paths: [missing] }, { clock });
    await expect(s.backup({ paths: [missing], walkAhead: ahead })).rejects.toMatchObject({ code: 'SOURCE_NOT_FOUND' });
    await ahead.close();
    await s.close();
  });

  it('stops reading ahead when closed before the backup takes it', async () => {
    const { src, clock, s } = await setUp();
    const ahead = new WalkAhead({ paths: [src] }, { clock, limit: 1 });
    await ahead.close();
    // A closed walk-ahead is not used: the backup walks itself and sees everything.
    const r = await s.backup({ paths: [src], walkAhead: ahead });
    expect(r.snapshot.summary!.filesNew).toBe(3);
    await s.close();
  });
});
