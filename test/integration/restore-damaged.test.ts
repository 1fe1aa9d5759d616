import { afterEach, describe, expect, it } from 'vitest';
import { link, mkdir, readFile, readdir, rm, stat, utimes, writeFile } from 'node:fs/promises';
import { damageBlobIn } from '../helpers/damage.js';
import { join } from 'node:path';
import { makeTempRepo, type TempRepo } from '../helpers/temp-repo.js';
import { pseudoRandom } from '../helpers/data.js';
import { packName } from '../../src/repository/repository.js';
import type { BlobId } from '../../src/core/ids.js';
import type { RepositorySession, SnapshotInfo } from '../../src/engine/types.js';
import type { Tree } from '../../src/snapshot/tree.js';
import { runCli } from '../cli/helpers/run-cli.js';

/**
 * A restore from a snapshot whose data is partly damaged brings back everything else
 * (as restic does), leaves no partly written file, and then fails naming each file and
 * directory it could not restore. Before, the first damaged blob ended the restore
 * with a message naming a blob, not a file, and left directories without their metadata.
 */
describe('restoring a snapshot with damaged data', () => {
  let t: TempRepo;
  let s: RepositorySession;
  afterEach(async () => {
    await s?.close();
    await t?.cleanup();
  });

  const SMALL = 30;
  const small = (i: number) => pseudoRandom(100 + i, 5_000 + i * 50);
  const big = (i: number) => pseudoRandom(200 + i, 1_500_000);
  const DIR_MTIME = new Date('2024-05-06T07:08:09Z');

  async function setup(): Promise<{ src: string; snap: SnapshotInfo }> {
    t = await makeTempRepo();
    const src = join(t.dir, 'src');
    await mkdir(join(src, 'docs', 'deep'), { recursive: true });
    await mkdir(join(src, 'media'));
    for (let i = 0; i < SMALL; i++) await writeFile(join(src, 'docs', `n${i}.txt`), small(i));
    await writeFile(join(src, 'docs', 'deep', 'inner.txt'), 'inside the deep directory\n');
    for (let i = 0; i < 3; i++) await writeFile(join(src, 'media', `v${i}.bin`), big(i));
    await link(join(src, 'media', 'v1.bin'), join(src, 'media', 'v1-link.bin'));
    for (const d of ['docs', 'docs/deep', 'media']) await utimes(join(src, d), DIR_MTIME, DIR_MTIME);
    s = await t.open();
    const snap = (await s.backup({ paths: [src] })).snapshot;
    return { src, snap };
  }

  async function nodeIn(snap: SnapshotInfo, dir: string, name: string) {
    const tree = (await s.cat('tree', `${snap.id}:${dir}`)) as Tree;
    return tree.nodes.find((n) => n.name === name)!;
  }

  /** A fresh session: the one that backed up keeps tree packs in memory and pack files open. */
  async function reopen(): Promise<void> {
    await s.close();
    s = await t.open();
  }

  /** Flips one byte inside a blob; returns its pack. */
  const damageBlob = (type: 'data' | 'tree', id: BlobId): Promise<string> => damageBlobIn(t, t.dir, type, id);


  it('restores every other file whole, leaves none half-written, and names the damaged ones', async () => {
    const { src, snap } = await setup();
    await damageBlob('data', (await nodeIn(snap, join(src, 'docs'), 'n7.txt')).content![0]!);
    await damageBlob('data', (await nodeIn(snap, join(src, 'media'), 'v1.bin')).content!.at(-1)!);
    await reopen();
    const out = join(t.dir, 'out');

    const err = await s.restore({ snapshot: snap.id, target: out }).then(
      () => null,
      (e: unknown) => e as { code: string; message: string; details: { damaged: { path: string; type: string; code: string }[] } },
    );
    expect(err?.code).toBe('PACK_CORRUPT');
    const damaged = err!.details.damaged.map((d) => d.path).sort();
    // Both names of the hard-linked file: the second is never linked to a partial first.
    expect(damaged).toEqual([join(src, 'docs', 'n7.txt'), join(src, 'media', 'v1-link.bin'), join(src, 'media', 'v1.bin')].sort());
    expect(err!.message).toMatch(/everything else was restored/);

    const at = (...p: string[]) => join(out, src, ...p);
    for (let i = 0; i < SMALL; i++) {
      if (i === 7) await expect(stat(at('docs', 'n7.txt'))).rejects.toMatchObject({ code: 'ENOENT' });
      else expect((await readFile(at('docs', `n${i}.txt`))).equals(small(i)), `n${i}.txt`).toBe(true);
    }
    for (const i of [0, 2]) expect((await readFile(at('media', `v${i}.bin`))).equals(big(i))).toBe(true);
    await expect(stat(at('media', 'v1.bin'))).rejects.toMatchObject({ code: 'ENOENT' });
    await expect(stat(at('media', 'v1-link.bin'))).rejects.toMatchObject({ code: 'ENOENT' });
    // The directories holding damaged files still got their metadata.
    expect((await stat(at('docs'))).mtime.getTime()).toBe(DIR_MTIME.getTime());
    expect((await stat(at('media'))).mtime.getTime()).toBe(DIR_MTIME.getTime());
  });

  it('restores a directory whose listing is damaged as empty, names it, and restores the rest', async () => {
    const { src, snap } = await setup();
    const deep = (await nodeIn(snap, join(src, 'docs'), 'deep')).subtree!;
    await damageBlob('tree', deep);
    await reopen();
    const out = join(t.dir, 'out');
    const err = (await s.restore({ snapshot: snap.id, target: out, estimateTotals: true }).catch((e: unknown) => e)) as { code: string; details: { damaged: { path: string; type: string }[] } };
    expect(err).toMatchObject({ code: 'PACK_CORRUPT' });
    expect(err!.details.damaged).toEqual([expect.objectContaining({ path: join(src, 'docs', 'deep'), type: 'dir' })]);
    expect(await readdir(join(out, src, 'docs', 'deep'))).toEqual([]);
    expect((await readFile(join(out, src, 'docs', 'n0.txt'))).equals(small(0))).toBe(true);
    expect((await readFile(join(out, src, 'media', 'v2.bin'))).equals(big(2))).toBe(true);
  });

  it('names every file of a lost pack (BLOB_MISSING) and still restores the directories', async () => {
    const { src, snap } = await setup();
    const pack = await damageBlob('data', (await nodeIn(snap, join(src, 'media'), 'v0.bin')).content![0]!);
    await rm(join(t.repo, packName(pack as never)));
    await reopen();
    const out = join(t.dir, 'out');
    const err = (await s.restore({ snapshot: snap.id, target: out }).catch((e: unknown) => e)) as { code: string; details: { damaged: { path: string; code: string }[] } };
    expect(err?.code).toBe('BLOB_MISSING');
    expect(err!.details.damaged.every((d) => d.code === 'BLOB_MISSING')).toBe(true);
    expect(err!.details.damaged.map((d) => d.path)).toContain(join(src, 'media', 'v0.bin'));
    // Whatever was in other packs is there and whole; nothing named damaged is.
    for (const d of err!.details.damaged) await expect(stat(join(out, d.path))).rejects.toMatchObject({ code: 'ENOENT' });
    expect((await stat(join(out, src, 'docs', 'deep'))).isDirectory()).toBe(true);
  });

  it('a hard-linked file whose data the index no longer knows (after repair index) fails both names, without hanging', { timeout: 20_000 }, async () => {
    const { src, snap } = await setup();
    const pack = await damageBlob('data', (await nodeIn(snap, join(src, 'media'), 'v1.bin')).content![0]!);
    await rm(join(t.repo, packName(pack as never)));
    await reopen();
    await s.repairIndex();
    const out = join(t.dir, 'out');
    const err = (await s.restore({ snapshot: snap.id, target: out }).catch((e: unknown) => e)) as { code: string; details: { damaged: { path: string }[] } };
    expect(err.code).toBe('BLOB_MISSING');
    const paths = err.details.damaged.map((d) => d.path);
    expect(paths).toEqual(expect.arrayContaining([join(src, 'media', 'v1.bin'), join(src, 'media', 'v1-link.bin')]));
    for (const p of paths) await expect(stat(join(out, p))).rejects.toMatchObject({ code: 'ENOENT' });
  });

  it('a big file of many pack ranges with its first one damaged is named and removed; the rest restores', async () => {
    const { src } = await setup();
    // Over 4 MiB: restored as several pack ranges, written by the workers at once.
    await writeFile(join(src, 'media', 'huge.bin'), pseudoRandom(300, 14 * 2 ** 20));
    const snap = (await s.backup({ paths: [src] })).snapshot;
    const huge = await nodeIn(snap, join(src, 'media'), 'huge.bin');
    expect(huge.content!.length).toBeGreaterThan(3);
    await damageBlob('data', huge.content![0]!);
    await reopen();
    const out = join(t.dir, 'out');
    const err = (await s.restore({ snapshot: snap.id, target: out }).catch((e: unknown) => e)) as { code: string; details: { damaged: { path: string }[] } };
    expect(err.code).toBe('PACK_CORRUPT');
    expect(err.details.damaged.map((d) => d.path)).toEqual([join(src, 'media', 'huge.bin')]);
    await expect(stat(join(out, src, 'media', 'huge.bin'))).rejects.toMatchObject({ code: 'ENOENT' });
    expect((await readFile(join(out, src, 'media', 'v0.bin'))).equals(big(0))).toBe(true);
  });

  it('on the command line: one warning per entry not restored, then the error with its exit code', async () => {
    const { src, snap } = await setup();
    await damageBlob('data', (await nodeIn(snap, join(src, 'docs'), 'n3.txt')).content![0]!);
    await s.close();
    const r = await runCli(['restore', 'latest', '--target', join(t.dir, 'cli-out')], {
      engine: t.engine,
      env: { CAIRN_REPO: t.repo, CAIRN_PASSWORD: t.password, CAIRN_CACHE_DIR: t.cacheDir, HOME: t.dir },
    });
    expect(r.code).toBe(20);
    const lines = r.stderr.trim().split('\n');
    expect(lines[0]).toMatch(new RegExp(`^cairn: warning: not restored: ${join(src, 'docs', 'n3.txt')}: `));
    expect(lines[1]).toMatch(/^cairn: error: restore incomplete: .* \[PACK_CORRUPT\]$/);
    expect(lines[2]).toMatch(/^hint: /);
    expect(lines).toHaveLength(3);
  });
});
