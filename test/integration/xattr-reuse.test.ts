import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, describe, expect, it, vi } from 'vitest';
import { native } from '../../src/util/native-addon.js';
import { makeTempRepo, type TempRepo } from '../helpers/temp-repo.js';

/**
 * An incremental backup does not list the xattrs of an entry whose inode and ctime match
 * the parent snapshot (setting or removing an xattr updates ctime): it takes them from
 * the parent. Changed entries are read as before, and both come back on restore.
 */
describe.skipIf(native === null)('xattrs of unchanged entries come from the parent snapshot', () => {
  let t: TempRepo;
  afterAll(() => t?.cleanup());

  it('reads none for an unchanged tree, only the changed file after setxattr, and restores all', async () => {
    t = await makeTempRepo();
    const src = join(t.dir, 'src');
    await mkdir(join(src, 'd'), { recursive: true });
    await writeFile(join(src, 'a'), 'a');
    await writeFile(join(src, 'd', 'b'), 'b');
    native!.lsetxattr(join(src, 'a'), 'user.kept', Buffer.from('one'));
    native!.lsetxattr(join(src, 'd'), 'user.dir', Buffer.from('two'));

    const s = await t.open();
    try {
      await s.backup({ paths: [src] });
      const listed: string[] = [];
      const list = native!.llistxattr.bind(native);
      const spy = vi.spyOn(native!, 'llistxattr').mockImplementation((p) => {
        // The directories above the source path are read whole every time: a few entries.
        const path = Buffer.from(p).toString();
        if (path.startsWith(src)) listed.push(path);
        return list(p);
      });
      try {
        await s.backup({ paths: [src] });
        expect(listed).toEqual([]);

        native!.lsetxattr(join(src, 'd', 'b'), 'user.new', Buffer.from('three'));
        await s.backup({ paths: [src] });
        expect(listed).toEqual([join(src, 'd', 'b')]);
      } finally {
        spy.mockRestore();
      }

      const out = join(t.dir, 'out');
      await s.restore({ snapshot: 'latest', target: out });
      const root = join(out, src);
      expect(native!.lgetxattr(join(root, 'a'), 'user.kept')?.toString()).toBe('one');
      expect(native!.lgetxattr(join(root, 'd'), 'user.dir')?.toString()).toBe('two');
      expect(native!.lgetxattr(join(root, 'd', 'b'), 'user.new')?.toString()).toBe('three');
    } finally {
      await s.close();
    }
  });

  it('reads a new file\'s xattrs on the main thread only when the worker that read it saw some', async () => {
    const r = await makeTempRepo();
    try {
      const src = join(r.dir, 'src');
      await mkdir(src, { recursive: true });
      await writeFile(join(src, 'plain'), 'p');
      await writeFile(join(src, 'tagged'), 't');
      native!.lsetxattr(join(src, 'tagged'), 'user.tag', Buffer.from('yes'));
      const listed: string[] = [];
      const list = native!.llistxattr.bind(native);
      const spy = vi.spyOn(native!, 'llistxattr').mockImplementation((p) => {
        listed.push(Buffer.from(p).toString());
        return list(p);
      });
      const s = await r.open();
      try {
        await s.backup({ paths: [src] }); // files go to the worker pool by default
        spy.mockRestore();
        expect(listed).toContain(join(src, 'tagged'));
        expect(listed).toContain(src); // directories are listed here as before
        expect(listed).not.toContain(join(src, 'plain'));
        const out = join(r.dir, 'out');
        await s.restore({ snapshot: 'latest', target: out });
        expect(native!.lgetxattr(join(out, src, 'tagged'), 'user.tag')?.toString()).toBe('yes');
        expect(native!.llistxattr(join(out, src, 'plain'))).toEqual([]);
      } finally {
        spy.mockRestore();
        await s.close();
      }
    } finally {
      await r.cleanup();
    }
  });
});
