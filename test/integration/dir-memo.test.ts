import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { appendFile, chmod, link, mkdir, mkdtemp, readdir, readFile, readlink, rename, rm, stat, symlink, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { makeTempRepo, type TempRepo } from '../helpers/temp-repo.js';
import { Repository } from '../../src/repository/repository.js';
import type { BackupOptions, RepositorySession, SnapshotInfo } from '../../src/engine/types.js';
import type { Tree } from '../../src/snapshot/tree.js';
import { ScanDirLister } from '../../src/fs/dir-lister.js';
import { walkEvents } from '../../src/fs/walker.js';
import type { WalkAhead, WalkStream } from '../../src/archiver/walk-ahead.js';

/**
 * The directory memo (src/archiver/dir-memo.ts) must never change what a backup
 * writes: after every change to the source, a backup that uses the parent's memo and
 * one that cannot (a fresh cache) give the same trees.
 */
describe.runIf(ScanDirLister.available())('directory memo', () => {
  let t: TempRepo;
  let src: string;
  let memo: RepositorySession;
  const scratch: string[] = [];
  let parent: SnapshotInfo;

  beforeAll(async () => {
    t = await makeTempRepo();
    src = join(t.dir, 'src');
    for (let a = 0; a < 3; a++) {
      for (let b = 0; b < 3; b++) {
        const dir = join(src, `a${a}`, `b${b}`);
        await mkdir(join(dir, 'c'), { recursive: true });
        for (let f = 0; f < 4; f++) await writeFile(join(dir, `f${f}.txt`), `file ${a}/${b}/${f}\n`.repeat(50 + f));
        await writeFile(join(dir, 'c', 'deep.log'), `deep ${a} ${b}\n`);
      }
      await symlink(`a${a}/b0`, join(src, `link${a}`));
    }
    await mkdir(join(src, 'empty'));
    await link(join(src, 'a0', 'b0', 'f0.txt'), join(src, 'a1', 'hard'));
    memo = await t.open();
    // The first backup's listings move the directories' access times (relatime): the
    // tree is the same from the second backup on.
    await memo.backup({ paths: [src] });
    parent = (await memo.backup({ paths: [src] })).snapshot;
  });
  afterAll(async () => {
    await memo?.close();
    await t?.cleanup();
    for (const d of scratch) await rm(d, { recursive: true, force: true });
  });
  afterEach(() => vi.restoreAllMocks());

  /**
   * Lists every directory and reads every symlink once: that moves the access time of
   * one changed since it was last read (relatime), so of the two backups compared the
   * first would otherwise see an older access time than the second.
   */
  async function settleAccessTimes(dir: string): Promise<void> {
    for (const e of await readdir(dir, { withFileTypes: true })) {
      if (e.isDirectory()) await settleAccessTimes(join(dir, e.name));
      else if (e.isSymbolicLink()) await readlink(join(dir, e.name));
    }
  }

  /** The tree id of `src` in a snapshot. */
  async function srcTree(s: RepositorySession, snap: SnapshotInfo): Promise<string> {
    const up = (await s.cat('tree', `${snap.id}:${t.dir}`)) as Tree;
    return up.nodes.find((n) => n.name === 'src')!.subtree!;
  }

  /**
   * Backs up with the memo session (parent: the previous such backup) and, from a fresh
   * cache that has no memo, against the same parent; returns both src trees and the
   * number of trees the memo backup loaded.
   */
  async function backupBoth(opts: Partial<BackupOptions> = {}): Promise<{ withMemo: string; without: string; loads: number; snap: SnapshotInfo }> {
    await settleAccessTimes(src);
    const loads = vi.spyOn(Repository.prototype, 'loadTree');
    const a = await memo.backup({ paths: [src], parent: parent.id, ...opts });
    const count = loads.mock.calls.length;
    loads.mockRestore();
    const cacheDir = await mkdtemp(join(tmpdir(), 'cairn-memo-'));
    scratch.push(cacheDir);
    const plain = await t.engine.open({ repo: t.repo, password: t.password, cacheDir });
    try {
      const b = await plain.backup({ paths: [src], parent: parent.id, ...opts });
      expect(b.snapshot.summary).toMatchObject({ filesNew: a.snapshot.summary!.filesNew, filesChanged: a.snapshot.summary!.filesChanged });
      return { withMemo: await srcTree(memo, a.snapshot), without: await srcTree(plain, b.snapshot), loads: count, snap: a.snapshot };
    } finally {
      await plain.close();
    }
  }

  it('takes an unchanged tree whole: no tree of the parent is loaded below the source', async () => {
    const r = await backupBoth();
    expect(r.withMemo).toBe(r.without);
    expect(r.withMemo).toBe(await srcTree(memo, parent));
    // Only the path down to the source (/, tmp, the test dir) is looked up in the parent.
    expect(r.loads).toBeLessThanOrEqual(src.split('/').length);
    expect(r.snap.summary).toMatchObject({ filesUnchanged: 46, filesNew: 0, filesChanged: 0, bytesRead: 0 });
    parent = r.snap;
  });

  const changes: [string, () => Promise<void>][] = [
    ['a file deep down grows', () => appendFile(join(src, 'a2', 'b1', 'c', 'deep.log'), 'more\n')],
    ['a file is added and another removed', async () => {
      await writeFile(join(src, 'a1', 'b2', 'new.txt'), 'new');
      await rm(join(src, 'a0', 'b1', 'f3.txt'));
    }],
    ['a file is touched', () => utimes(join(src, 'a0', 'b2', 'f1.txt'), new Date(2001, 1, 1), new Date(2020, 1, 1))],
    ['a directory changes mode', () => chmod(join(src, 'a2', 'b0'), 0o700)],
    ['a subdirectory appears and the empty one goes', async () => {
      await mkdir(join(src, 'a1', 'b1', 'c', 'd'));
      await writeFile(join(src, 'a1', 'b1', 'c', 'd', 'x'), 'x');
      await rm(join(src, 'empty'), { recursive: true });
    }],
    ['a symlink is pointed elsewhere', async () => {
      await rm(join(src, 'link1'));
      await symlink('a2/b2', join(src, 'link1'));
    }],
    ['a file is renamed', () => rename(join(src, 'a2', 'b2', 'f0.txt'), join(src, 'a2', 'b2', 'g0.txt'))],
    ['a second hard link appears', () => link(join(src, 'a0', 'b0', 'f0.txt'), join(src, 'a2', 'hard2'))],
  ];
  for (const [what, change] of changes) {
    it(`gives the trees a backup without the memo gives when ${what}`, async () => {
      await change();
      const r = await backupBoth();
      expect(r.withMemo).toBe(r.without);
      expect(r.withMemo).not.toBe(await srcTree(memo, parent));
      parent = r.snap;
    });
  }

  it('takes a tree whose files were only read (access times are not recorded), unless access times are recorded', async () => {
    // Access times older than the mtimes (utimes moves the ctimes: a backup records that)...
    const f = join(src, 'a1', 'b0', 'f2.txt');
    const dir = join(src, 'a1', 'b0', 'c');
    for (const p of [f, dir]) await utimes(p, new Date(2001, 1, 1), (await stat(p)).mtime);
    parent = (await backupBoth()).snap;
    // ...so that reading the file and listing the directory move them (relatime), and nothing else.
    await readFile(f);
    await readdir(dir);
    expect((await stat(f)).atimeMs).toBeGreaterThan((await stat(f)).mtimeMs);
    const r = await backupBoth();
    expect(r.withMemo).toBe(r.without);
    expect(r.withMemo).toBe(await srcTree(memo, parent));
    expect(r.loads).toBeLessThanOrEqual(src.split('/').length);
    const timed = await backupBoth({ atime: true });
    expect(timed.withMemo).toBe(timed.without);
    expect(timed.withMemo).not.toBe(r.withMemo);
  });

  it('is not used for a backup with other excludes (the listing would give other trees)', async () => {
    const r = await backupBoth({ excludes: ['*.log'] });
    expect(r.withMemo).toBe(r.without);
    expect(r.loads).toBeGreaterThan(20);
  });

  it('is not used by a full backup, which reads every file', async () => {
    const r = await backupBoth({ mode: 'full' });
    expect(r.withMemo).toBe(r.without);
    expect(r.snap.summary!.bytesRead).toBeGreaterThan(0);
    expect(r.snap.summary!.filesUnchanged).toBe(0);
    parent = r.snap;
  });

  it('ignores a damaged memo, and the backup is still right', async () => {
    await appendFile(join(src, 'a0', 'b0', 'c', 'deep.log'), 'again\n');
    // The cache keeps one memo per source; flip one byte of it.
    const db = new Database(join(t.cacheDir, memo.id, 'index.sqlite'));
    const row = db.prepare('SELECT snapshot, body FROM dir_memos WHERE snapshot = ?').get(parent.id) as { snapshot: string; body: Buffer };
    expect(row).toBeDefined();
    row.body[row.body.length >> 1] ^= 1;
    db.prepare('UPDATE dir_memos SET body = ? WHERE snapshot = ?').run(row.body, row.snapshot);
    db.close();
    const r = await backupBoth();
    expect(r.withMemo).toBe(r.without);
    expect(r.loads).toBeGreaterThan(20);
    parent = r.snap;
    // That backup kept a good memo again.
    const again = await backupBoth();
    expect(again.withMemo).toBe(r.withMemo);
    expect(again.loads).toBeLessThanOrEqual(src.split('/').length);
  });
});

/** A walk-ahead that hands the backup `walk` of `src`, as a real one would its own walk. */
function fakeAhead(src: string, walk: WalkStream): WalkAhead {
  return { startedAt: new Date(8.64e15), take: async () => ({ path: src, walk }) } as unknown as WalkAhead;
}

/** The real walk of `src`, with one file failing: its lstat (an error event) or its read (it vanished). */
async function* failing(src: string, victim: string, how: 'lstat' | 'read'): WalkStream {
  for await (const ev of walkEvents(Buffer.from(src))) {
    if (ev.kind !== 'entry' || ev.path.toString() !== victim) yield ev;
    else if (how === 'lstat') yield { kind: 'error', path: ev.path, error: Object.assign(new Error('gone'), { code: 'ENOENT' }) };
    else yield { ...ev, path: Buffer.from(`${victim}.gone`) };
  }
}

describe.runIf(ScanDirLister.available())('directory memo: a directory with an entry that could not be read', () => {
  for (const how of ['lstat', 'read'] as const) {
    it(`is not recorded, so the next backup reads it again (the ${how} failed)`, async () => {
      const t = await makeTempRepo();
      try {
        const src = join(t.dir, 'src');
        await mkdir(join(src, 'd'), { recursive: true });
        await writeFile(join(src, 'd', 'x'), 'x');
        await writeFile(join(src, 'd', 'y'), 'y');
        const s = await t.open();
        await s.backup({ paths: [src] });
        // A full backup records a memo but does not use one: the failure is seen.
        const failed = await s.backup({ paths: [src], mode: 'full', walkAhead: fakeAhead(src, failing(src, join(src, 'd', 'x'), how)) });
        expect(failed.warnings).toEqual([expect.objectContaining({ code: 'VANISHED', path: expect.stringContaining(join('d', 'x')) })]);
        const next = await s.backup({ paths: [src] });
        const names: string[] = [];
        for await (const n of s.ls(next.snapshot.id, { path: join(src, 'd') })) names.push(n.name);
        expect(names).toEqual(['x', 'y']);
        await s.close();
      } finally {
        await t.cleanup();
      }
    });
  }
});

describe.runIf(ScanDirLister.available())('directory memo: two directories that list alike', () => {
  it('keeps each one\'s own tree when an exclude applies to one of them only', async () => {
    // a/ and b/ hold hard links to the same two files under the same names: their
    // listings are equal byte for byte. The exclude leaves out a/x and not b/x.
    const t = await makeTempRepo();
    try {
      const src = join(t.dir, 'src');
      await mkdir(join(src, 'a'), { recursive: true });
      await mkdir(join(src, 'b'));
      for (const f of ['x', 'y']) {
        await writeFile(join(src, 'a', f), f);
        await link(join(src, 'a', f), join(src, 'b', f));
      }
      const s = await t.open();
      const opts = { paths: [src], excludes: [join(src, 'a', 'x')] };
      await s.backup(opts);
      await s.backup(opts); // with the first one's memo
      const last = await s.backup(opts);
      const names = async (dir: string) => {
        const out: string[] = [];
        for await (const n of s.ls(last.snapshot.id, { path: join(src, dir) })) out.push(n.name);
        return out;
      };
      expect(await names('a')).toEqual(['y']);
      expect(await names('b')).toEqual(['x', 'y']);
      await s.close();
    } finally {
      await t.cleanup();
    }
  });
});
