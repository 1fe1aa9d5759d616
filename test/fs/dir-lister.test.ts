import { lstatSync, mkdirSync, mkdtempSync, readdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ScanDirLister, SyncDirLister, type DirLister, type ScanAheadOptions } from '../../src/fs/dir-lister.js';
import { idNames, type IdNames } from '../../src/fs/id-names.js';
import { readEntryMetaSync } from '../../src/fs/read-entry-meta.js';
import type { EntryMeta } from '../../src/fs/types.js';
import { native, type NativeDirScan } from '../../src/util/native-addon.js';
import { makeTortureTree } from '../helpers/torture-tree.js';

const base = mkdtempSync(join(tmpdir(), 'cairn-lister-'));
const tree = join(base, 'tree');
let owners: IdNames;

beforeAll(async () => {
  await makeTortureTree(tree);
  // A symlink target longer than the scanner's first readlink buffer (256 bytes).
  symlinkSync('t/'.repeat(300) + 'end', join(tree, 'long-link'));
  owners = await idNames();
  // Reading a directory or a symlink the first time after it was made moves its atime
  // (relatime): do that once now, so that every reader below sees the same atimes.
  for (const dir of dirsUnder(tree)) {
    for (const name of readdirSync(dir, { encoding: 'buffer' })) readEntryMetaSync(Buffer.concat([dir, Buffer.from('/'), name]), owners);
  }
});
afterAll(() => rmSync(base, { recursive: true, force: true }));

/** Every directory under root (root included), depth first. */
function dirsUnder(root: string): Buffer[] {
  const out: Buffer[] = [];
  const visit = (dir: Buffer): void => {
    out.push(dir);
    for (const name of readdirSync(dir, { encoding: 'buffer' }).sort(Buffer.compare)) {
      const path = Buffer.concat([dir, Buffer.from('/'), name]);
      if (lstatSync(path).isDirectory()) visit(path);
    }
  };
  visit(Buffer.from(root));
  return out;
}

async function listAll(lister: DirLister, dirs: Buffer[]): Promise<Array<{ dir: string; names: string[]; metas: EntryMeta[] }>> {
  const out = [];
  for (const dir of dirs) {
    const l = await lister.list(dir);
    const names: string[] = [];
    const metas: EntryMeta[] = [];
    for (let i = 0; i < l.length; i++) {
      const name = l.name(i);
      names.push(name.toString('hex'));
      metas.push(l.meta(i, Buffer.concat([dir, Buffer.from('/'), name])));
    }
    out.push({ dir: dir.toString('hex'), names, metas });
  }
  lister.close?.();
  return out;
}

const listers: Array<[string, () => DirLister]> = [['SyncDirLister', () => new SyncDirLister(owners, { xattrs: true })]];
if (ScanDirLister.available()) listers.push(['ScanDirLister', () => new ScanDirLister(owners, { xattrs: true })]);

describe.each(listers)('DirLister contract: %s', (_name, make) => {
  it('lists every directory of the torture tree sorted by raw bytes, each entry as lstat and readlink see it', async () => {
    const dirs = dirsUnder(tree);
    const listed = await listAll(make(), dirs);
    for (const [k, { dir, names, metas }] of listed.entries()) {
      const expected = readdirSync(dirs[k]!, { encoding: 'buffer' }).sort(Buffer.compare);
      expect(names, Buffer.from(dir, 'hex').toString()).toEqual(expected.map((n) => n.toString('hex')));
      for (const [i, name] of expected.entries()) {
        const path = Buffer.concat([dirs[k]!, Buffer.from('/'), name]);
        expect(metas[i]).toEqual(readEntryMetaSync(path, owners, { xattrs: true }));
      }
    }
    const top = listed[0]!;
    const long = top.metas[top.names.indexOf(Buffer.from('long-link').toString('hex'))]!;
    expect(long.linkTarget!.toString()).toBe('t/'.repeat(300) + 'end');
  });

  it('rejects a directory that cannot be listed with a node:fs-style error', async () => {
    const lister = make();
    await expect(lister.list(Buffer.from(join(base, 'missing')))).rejects.toMatchObject({ code: 'ENOENT' });
    await expect(lister.list(Buffer.from(join(tree, 'file.txt')))).rejects.toMatchObject({ code: 'ENOTDIR' });
    // The lister stays usable after a failure.
    expect((await lister.list(Buffer.from(join(tree, 'emptydir')))).length).toBe(0);
    lister.close?.();
  });
});

describe.runIf(ScanDirLister.available())('ScanDirLister', () => {
  /** `dirs` directories under `root`, each with `files` files; returns root and them, in walk order. */
  function makeTree(root: string, dirs: number, files: number): Buffer[] {
    const made: Buffer[] = [Buffer.from(root)];
    mkdirSync(root, { recursive: true });
    for (let d = 0; d < dirs; d++) {
      const dir = join(root, `d${String(d).padStart(3, '0')}`);
      mkdirSync(dir);
      for (let f = 0; f < files; f++) writeFileSync(join(dir, `f${f}`), 'x');
      made.push(Buffer.from(dir));
    }
    return made;
  }

  /** The real scanDirs, counting the directories it is asked for. */
  function counting(): { scanned: string[]; opts: Pick<ScanAheadOptions, 'scanDirs'> } {
    const scanned: string[] = [];
    return {
      scanned,
      opts: {
        scanDirs: (paths: Buffer[]): Promise<NativeDirScan> => {
          for (const p of paths) scanned.push(p.toString());
          return native!.scanDirs!(paths);
        },
      },
    };
  }

  it('scans ahead of the walk, in walk order, at most maxLead entries (plus the batches in flight) ahead', async () => {
    const root = join(base, 'ahead');
    const dirs = makeTree(root, 120, 10);
    const { scanned, opts } = counting();
    const lister = new ScanDirLister(owners, { xattrs: false }, { ...opts, maxLead: 100, batch: 4, concurrency: 2 });
    await lister.list(dirs[0]!);
    // Give the read-ahead time to run as far as it may while the walk stands still.
    for (let i = 0; i < 50; i++) await new Promise((r) => setImmediate(r));
    const ahead = scanned.length - 1;
    expect(ahead).toBeGreaterThan(0);
    // 10 entries a directory: 100 entries of lead, plus the batches in flight when it was reached.
    expect(ahead).toBeLessThanOrEqual(10 + 2 * 4);
    expect(scanned.slice(1)).toEqual(dirs.slice(1, 1 + ahead).map((d) => d.toString())); // the walk's order
    // Walking on, every directory is scanned exactly once and listed correctly.
    for (const dir of dirs.slice(1)) {
      const l = await lister.list(dir);
      expect(l.length).toBe(10);
      expect(l.name(0).toString()).toBe('f0');
    }
    lister.close();
    expect(new Set(scanned).size).toBe(scanned.length);
    expect(scanned.length).toBe(dirs.length);
  });

  it('with its lead full of a wide first level, still scans what the walk needs next, a batch at a time', async () => {
    // 6 directories of 30 subdirectories each: scanning the first level fills a lead of
    // 50 entries, so the subdirectories are scanned when the walk asks for them.
    const root = join(base, 'wide');
    const children: Buffer[][] = [];
    for (let p = 0; p < 6; p++) {
      children.push([]);
      for (let d = 0; d < 30; d++) {
        const dir = join(root, `p${p}`, `d${String(d).padStart(2, '0')}`);
        mkdirSync(dir, { recursive: true });
        children[p]!.push(Buffer.from(dir));
      }
    }
    const calls: string[][] = [];
    const scanDirs = (paths: Buffer[]): Promise<NativeDirScan> => {
      calls.push(paths.map((p) => p.toString()));
      return native!.scanDirs!(paths);
    };
    const lister = new ScanDirLister(owners, { xattrs: false }, { scanDirs, maxLead: 50, batch: 8, concurrency: 2 });
    await lister.list(Buffer.from(root));
    for (let p = 0; p < 6; p++) {
      await lister.list(Buffer.from(join(root, `p${p}`)));
      // Let the settled scans queue their subdirectories, as the walk's own pace would.
      for (let i = 0; i < 20; i++) await new Promise((r) => setImmediate(r));
      for (const dir of children[p]!) expect((await lister.list(dir)).length).toBe(0);
    }
    lister.close();
    const scanned = calls.flat();
    expect(new Set(scanned).size).toBe(scanned.length);
    expect(scanned.length).toBe(1 + 6 + 6 * 30);
    // A batch per 8 directories the walk asked for (one per directory before), and each
    // batch that the walk waited for starts with the directory it asked for, then the next ones in its order.
    expect(calls.length).toBeLessThanOrEqual(2 + 6 * Math.ceil(30 / 8) + 2);
    for (const c of calls) expect(c).toEqual([...c].sort((a, b) => Buffer.compare(Buffer.from(a.replaceAll('/', '\0')), Buffer.from(b.replaceAll('/', '\0')))));
  });

  it('reads ahead only the directories the walk will enter (descend)', async () => {
    const root = join(base, 'descend');
    makeTree(root, 6, 1);
    const { scanned, opts } = counting();
    const asked: Array<[string, bigint]> = [];
    const descend = (path: Buffer, dev: bigint): boolean => (asked.push([path.toString(), dev]), !path.toString().endsWith('d003'));
    const lister = new ScanDirLister(owners, { xattrs: false }, { ...opts, descend });
    await lister.list(Buffer.from(root));
    for (let i = 0; i < 50; i++) await new Promise((r) => setImmediate(r));
    lister.close();
    // Asked about each subdirectory with its st_dev (what one-file-system compares).
    expect(asked.map(([p]) => p)).toEqual(Array.from({ length: 6 }, (_, d) => join(root, `d00${d}`)));
    for (const [p, dev] of asked) expect(dev).toBe(lstatSync(p, { bigint: true }).dev);
    expect(scanned).toContain(join(root, 'd002'));
    expect(scanned).not.toContain(join(root, 'd003'));
  });

  it('stops reading ahead when closed', async () => {
    const root = join(base, 'closed');
    const dirs = makeTree(root, 40, 1);
    const { scanned, opts } = counting();
    const lister = new ScanDirLister(owners, { xattrs: false }, { ...opts, batch: 1, concurrency: 1 });
    await lister.list(dirs[0]!);
    lister.close();
    const at = scanned.length;
    for (let i = 0; i < 50; i++) await new Promise((r) => setImmediate(r));
    expect(scanned.length).toBeLessThanOrEqual(at + 1); // at most the scan that was in flight
    expect(scanned.length).toBeLessThan(dirs.length);
  });

  it('fails list() of each directory of a batch that failed, and only those', async () => {
    const root = join(base, 'failing');
    const dirs = makeTree(root, 3, 1);
    let calls = 0;
    const lister = new ScanDirLister(owners, { xattrs: false }, {
      batch: 8,
      scanDirs: (paths) => (++calls === 2 ? Promise.reject(Object.assign(new Error('scanDirs: out of memory'), { code: 'ENOMEM' })) : native!.scanDirs!(paths)),
    });
    await lister.list(dirs[0]!);
    for (const dir of dirs.slice(1)) await expect(lister.list(dir)).rejects.toMatchObject({ code: 'ENOMEM' });
    expect((await lister.list(Buffer.from(root))).length).toBe(3); // asked again: a new scan
    lister.close();
  });
});
