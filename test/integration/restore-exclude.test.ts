import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdir, readdir, readFile, writeFile, link } from 'node:fs/promises';
import { join, relative } from 'node:path';
import { makeTempRepo, type TempRepo } from '../helpers/temp-repo.js';
import type { RepositorySession } from '../../src/engine/types.js';
import { runCli } from '../cli/helpers/run-cli.js';

/**
 * `restore --exclude` leaves out what backup's exclude patterns match, on the paths
 * inside the snapshot; with --include it narrows the included subtrees; --verify checks
 * what was restored and does not miss what was left out.
 */
describe('restore --exclude', () => {
  let t: TempRepo;
  let s: RepositorySession;
  let src: string;
  beforeAll(async () => {
    t = await makeTempRepo();
    src = join(t.dir, 'src');
    await mkdir(join(src, 'home', '.cache', 'deep'), { recursive: true });
    await mkdir(join(src, 'home', 'docs'), { recursive: true });
    await mkdir(join(src, 'logs'), { recursive: true });
    await writeFile(join(src, 'home', '.cache', 'deep', 'blob'), 'cached\n');
    await writeFile(join(src, 'home', 'docs', 'a.txt'), 'a\n');
    await writeFile(join(src, 'home', 'docs', 'disk.iso'), 'iso\n');
    await writeFile(join(src, 'logs', 'app.log'), 'log\n');
    await writeFile(join(src, 'logs', 'keep.log'), 'keep\n');
    await writeFile(join(src, 'top.txt'), 'top\n');
    // A hard link whose first name is excluded: the other name is restored on its own.
    await writeFile(join(src, 'logs', 'linked.log'), 'linked\n');
    await link(join(src, 'logs', 'linked.log'), join(src, 'home', 'docs', 'linked.txt'));
    s = await t.open();
    await s.backup({ paths: [src] });
  });
  afterAll(async () => {
    await s?.close();
    await t?.cleanup();
  });

  /** Files under `root`, relative, sorted. */
  async function files(root: string): Promise<string[]> {
    const out: string[] = [];
    const walk = async (d: string): Promise<void> => {
      for (const e of await readdir(d, { withFileTypes: true })) {
        const p = join(d, e.name);
        if (e.isDirectory()) await walk(p);
        else out.push(relative(root, p));
      }
    };
    await walk(root);
    return out.sort();
  }

  it('leaves out matches at any depth, anchored paths and whole directories; ! re-includes; --verify passes', async () => {
    const out = join(t.dir, 'out1');
    const r = await s.restore({ snapshot: 'latest', target: out, exclude: ['*.log', '!keep.log', `${src}/home/.cache`, '*.iso'], verify: true });
    expect(await files(join(out, src))).toEqual(['home/docs/a.txt', 'home/docs/linked.txt', 'logs/keep.log', 'top.txt']);
    expect(await readFile(join(out, src, 'home', 'docs', 'linked.txt'), 'utf8')).toBe('linked\n');
    expect(r.verified).toMatchObject({ mismatches: [], files: 4 });
    expect(r.files).toBe(4);
  });

  it('with --include: the included subtree less the excluded; a trailing / matches directories only', async () => {
    const out = join(t.dir, 'out2');
    await s.restore({ snapshot: 'latest', target: out, include: [join(src, 'home')], exclude: ['.cache/', 'a.txt/'] });
    expect(await files(join(out, src))).toEqual(['home/docs/a.txt', 'home/docs/disk.iso', 'home/docs/linked.txt']);
    // An include naming nothing below an existing directory: before, the directories
    // above it were created and the restore reported success with 0 files.
    await expect(s.restore({ snapshot: 'latest', target: join(t.dir, 'out2b'), include: [join(src, 'home', 'nope')] })).rejects.toMatchObject({ code: 'PATH_NOT_FOUND' });
    // Everything included excluded: nothing matches.
    await expect(s.restore({ snapshot: 'latest', target: join(t.dir, 'out3'), include: [join(src, 'logs')], exclude: ['logs'] })).rejects.toMatchObject({
      code: 'PATH_NOT_FOUND',
      message: expect.stringContaining('less what --exclude leaves out'),
    });
  });

  it('a malformed pattern is CONFIG_INVALID before anything is written; the CLI refuses --exclude with --to and --source', async () => {
    const out = join(t.dir, 'out4');
    await expect(s.restore({ snapshot: 'latest', target: out, exclude: ['[abc'] })).rejects.toMatchObject({ code: 'CONFIG_INVALID' });
    await expect(readdir(out)).rejects.toMatchObject({ code: 'ENOENT' });
    const env = { CAIRN_REPO: t.repo, CAIRN_PASSWORD: t.password, CAIRN_CACHE_DIR: t.cacheDir, HOME: t.dir };
    for (const args of [
      ['restore', 'latest', '--to', 's3://bucket/x', '--exclude', '*.log'],
      ['restore', '--source', 'db1', '--at', 'latest', '--target', out, '--exclude', '*.log'],
    ]) {
      const r = await runCli(args, { engine: t.engine, env });
      expect(r.code, r.stderr).toBe(2);
      expect(r.stderr).toContain('--exclude applies to restoring');
    }
    const ok = await runCli(['restore', 'latest', '--target', join(t.dir, 'out5'), '--exclude', 'home', '--exclude', 'logs'], { engine: t.engine, env });
    expect(ok.code, ok.stderr).toBe(0);
    expect(await files(join(t.dir, 'out5', src))).toEqual(['top.txt']);
  });
});
