import { afterEach, describe, expect, it } from 'vitest';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { makeTempRepo, type TempRepo } from '../helpers/temp-repo.js';
import type { RepositorySession } from '../../src/engine/types.js';

interface Refusal {
  code: string;
  message: string;
  details: { refused: { path: string; type: string; code: string; message: string }[]; damaged: unknown[] };
}

/**
 * A target that refuses some entries (a name too long for it, an entry it will not let
 * Cairn replace) gets everything else, as with restic: the restore steps over those
 * entries, names each one, and fails at the end. Before, the first refusal ended the
 * restore, leaving the rest of the snapshot unrestored. A full disk still stops it.
 */
describe('restoring into a target that refuses some entries', () => {
  let t: TempRepo;
  let s: RepositorySession;
  afterEach(async () => {
    await s?.close();
    await t?.cleanup();
  });

  it('a directory whose path grows past PATH_MAX is named and stepped over; everything else is restored', async () => {
    t = await makeTempRepo();
    const src = join(t.dir, 'src');
    const deep = join(src, 'deep', 'a'.repeat(250), 'b'.repeat(250));
    await mkdir(deep, { recursive: true });
    await writeFile(join(deep, 'far.txt'), 'too far\n');
    await mkdir(join(src, 'near'));
    await writeFile(join(src, 'near', 'ok.txt'), 'near enough\n');
    await writeFile(join(src, 'zz-last.txt'), 'after the refused directory in walk order\n');
    s = await t.open();
    const snap = (await s.backup({ paths: [src] })).snapshot;

    // A target long enough that src/deep/aaa…/bbb… no longer fits in PATH_MAX (4096),
    // while src/near/ok.txt and src/zz-last.txt do.
    let out = join(t.dir, 'out');
    while (out.length + src.length + 'deep/'.length + 251 + 251 < 4_096 + 100) out = join(out, 'o'.repeat(200));
    expect(out.length + src.length + 40, 'the short paths must fit').toBeLessThan(4_096);
    await mkdir(out, { recursive: true });

    const err = (await s.restore({ snapshot: snap.id, target: out }).catch((e: unknown) => e)) as Refusal;
    expect(err).toMatchObject({ code: 'IO_ERROR' });
    expect(err.message).toMatch(/^restore incomplete: the target refused 1 entry .*ENAMETOOLONG.*everything else was restored/);
    expect(err.details.refused).toHaveLength(1);
    expect(err.details.refused[0]).toMatchObject({ type: 'dir' });
    expect(err.details.refused[0]!.path.startsWith(join(src, 'deep'))).toBe(true);
    expect(await readFile(join(out, src, 'near', 'ok.txt'), 'utf8')).toBe('near enough\n');
    expect(await readFile(join(out, src, 'zz-last.txt'), 'utf8')).toBe('after the refused directory in walk order\n');
  });

  it('an immutable file in the target is named and left as it was; the other files are restored', async (ctx) => {
    t = await makeTempRepo();
    const src = join(t.dir, 'src');
    await mkdir(src);
    for (const n of ['a.txt', 'b.txt', 'c.txt']) await writeFile(join(src, n), `new ${n}\n`);
    s = await t.open();
    const snap = (await s.backup({ paths: [src] })).snapshot;
    const out = join(t.dir, 'out');
    const stuck = join(out, src, 'b.txt');
    await mkdir(join(out, src), { recursive: true });
    await writeFile(stuck, 'old and immutable\n');
    try {
      execFileSync('chattr', ['+i', stuck], { stdio: 'ignore' });
    } catch {
      return ctx.skip('chattr +i is not available on this file system');
    }
    try {
      const err = (await s.restore({ snapshot: snap.id, target: out }).catch((e: unknown) => e)) as Refusal;
      expect(err).toMatchObject({ code: 'PERMISSION_DENIED' });
      expect(err.details.refused.map((r) => r.path)).toEqual([join(src, 'b.txt')]);
      expect(await readFile(stuck, 'utf8')).toBe('old and immutable\n');
      expect(await readFile(join(out, src, 'a.txt'), 'utf8')).toBe('new a.txt\n');
      expect(await readFile(join(out, src, 'c.txt'), 'utf8')).toBe('new c.txt\n');
    } finally {
      execFileSync('chattr', ['-i', stuck]);
    }
  });
});
