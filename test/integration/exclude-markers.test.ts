import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { makeTempRepo, type TempRepo } from '../helpers/temp-repo.js';
import { pseudoRandom } from '../helpers/data.js';
import type { RepositorySession } from '../../src/engine/types.js';
import { runCli } from '../cli/helpers/run-cli.js';

/**
 * backup --exclude-larger-than, --exclude-if-present and --exclude-caches (restic's):
 * what they leave out, that a marked directory keeps itself and its marker, that a
 * marker's header must match, and that a later backup without them (same cache, same
 * listings) reads what they left out instead of reusing the directory memo.
 */
describe('backup: size limit and marker files', () => {
  let t: TempRepo;
  let s: RepositorySession;
  let src: string;
  const TAG = 'Signature: 8a477f597d28d172789f06886806bc55\n# This file is a cache directory tag.\n';

  beforeAll(async () => {
    t = await makeTempRepo();
    src = join(t.dir, 'src');
    const put = async (rel: string, data: string | Buffer) => {
      await mkdir(join(src, rel, '..'), { recursive: true });
      await writeFile(join(src, rel), data);
    };
    await put('big.bin', pseudoRandom(1, 2 * 1024 * 1024 + 1));
    await put('edge.bin', pseudoRandom(2, 2 * 1024 * 1024));
    await put('small.txt', 'small\n');
    await put('cache/CACHEDIR.TAG', TAG);
    await put('cache/data.bin', 'cached\n');
    await put('cache/sub/x', 'x\n');
    await put('fake-cache/CACHEDIR.TAG', 'not a tag\n');
    await put('fake-cache/y', 'y\n');
    await put('proj/.nobackup', '');
    await put('proj/z', 'z\n');
    await put('proj/deeper/w', 'w\n');
    await put('marked/.mark', 'KEEP-OUT please\n');
    await put('marked/m', 'm\n');
    await put('unmarked/.mark', 'nope\n');
    await put('unmarked/u', 'u\n');
    s = await t.open();
  });
  afterAll(async () => {
    await s?.close();
    await t?.cleanup();
  });

  /** Every entry below src in a snapshot, relative to it, sorted: files, or directories. */
  async function entriesIn(snapshot: string, dirs = false): Promise<string[]> {
    const out: string[] = [];
    for await (const n of s.ls(snapshot, { path: src, recursive: true })) {
      if ((n.type === 'dir') === dirs && n.path.startsWith(src + '/')) out.push(n.path.slice(src.length + 1));
    }
    return out.sort();
  }
  const filesIn = (snapshot: string) => entriesIn(snapshot);

  it('leaves out big files and the contents of marked directories; markers need their header', async () => {
    const r = await s.backup({
      paths: [src],
      excludeLargerThan: 2 * 1024 * 1024,
      excludeCaches: true,
      excludeIfPresent: ['.nobackup', '.mark:KEEP-OUT'],
    });
    expect(await filesIn(r.snapshot.id)).toEqual([
      'cache/CACHEDIR.TAG',
      'edge.bin', // exactly the limit: kept
      'fake-cache/CACHEDIR.TAG',
      'fake-cache/y',
      'marked/.mark',
      'proj/.nobackup',
      'small.txt',
      'unmarked/.mark',
      'unmarked/u',
    ]);
    // The marked directories themselves are kept (empty but for the marker).
    const dirs = await entriesIn(r.snapshot.id, true);
    expect(dirs).toEqual(expect.arrayContaining(['cache', 'proj', 'marked']));
    expect(dirs).not.toContain('cache/sub');
  });

  it('a later backup without them reads what they left out (the directory memo is not reused across them)', async () => {
    const r = await s.backup({ paths: [src] });
    const all = await filesIn(r.snapshot.id);
    expect(all).toEqual(expect.arrayContaining(['big.bin', 'cache/data.bin', 'cache/sub/x', 'proj/z', 'proj/deeper/w', 'marked/m']));
    expect(all).toHaveLength(15);
  });

  it('the CLI: sizes with units, repeatable markers; bad input is USAGE; other sources refuse them', async () => {
    const env = { CAIRN_REPO: t.repo, CAIRN_PASSWORD: t.password, CAIRN_CACHE_DIR: t.cacheDir, HOME: t.dir };
    const cli = (args: string[]) => runCli(args, { engine: t.engine, env });
    const ok = await cli(['--json', 'backup', src, '--exclude-larger-than', '1K', '--exclude-if-present', '.nobackup', '--exclude-caches']);
    expect(ok.code, ok.stderr).toBe(0);
    const id = JSON.parse(ok.stdout).snapshot.id as string;
    const files = await filesIn(id);
    expect(files).not.toContain('big.bin');
    expect(files).not.toContain('edge.bin');
    expect(files).not.toContain('proj/z');
    expect(files).not.toContain('cache/data.bin');
    expect(files).toContain('marked/m');
    for (const args of [
      ['backup', src, '--exclude-larger-than', 'big'],
      ['backup', src, '--exclude-larger-than', '99999999999T'],
      ['backup', src, '--exclude-if-present', 'a/b'],
      ['backup', src, '--exclude-if-present', ':header'],
      ['backup', 'sqlite:///tmp/x.db', '--exclude-caches'],
      ['backup', 's3://bucket/prefix', '--exclude-larger-than', '1M'],
    ]) {
      const r = await cli(args);
      expect(r.code, `${args.join(' ')}: ${r.stderr}`).toBe(2);
      expect(r.stderr).toMatch(/\[USAGE\]/);
    }
  });
});
