import { mkdir, rename, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { pseudoRandom } from '../helpers/data.js';
import { diffHashes, hashTree } from '../crash/crash-kit.js';
import { cliFor, expectOk, mountTmpfs, remount, requireBuild, scratchDir, unmount, type Cli } from './support.js';

/**
 * The operator's view of mirrors, through the built CLI: `init --mirror-of`, `backup
 * --mirror` with one mirror on a file system that fills up mid-backup (a real DISK_FULL,
 * not an injected fault): exit 5, the summary names the failed mirror, primary and the
 * healthy mirror hold the snapshot; then `copy` heals the mirror, which restores alone.
 */

let dir: string;
let p: Cli;
let src: string;
let small: string; // tmpfs mount point
let tmpfsSkip: string | null = 'not set up';

beforeAll(async () => {
  requireBuild();
  dir = await scratchDir('mirror');
  p = cliFor(dir, join(dir, 'primary'));
  expectOk(await p.run(['init']));
  src = join(dir, 'src');
  await mkdir(join(src, 'sub'), { recursive: true });
  await writeFile(join(src, 'big.bin'), pseudoRandom(21, 3 * 1024 * 1024));
  await writeFile(join(src, 'sub', 'note.txt'), 'mirrored\n'.repeat(100));
  small = join(dir, 'small');
  await mkdir(small);
  tmpfsSkip = mountTmpfs(small, 512 * 1024);
});

afterAll(async () => {
  if (tmpfsSkip === null) unmount(small);
  if (dir) await rm(dir, { recursive: true, force: true });
});

describe('backup --mirror through the CLI', () => {
  it('one mirror fills up mid-backup: exit 5 names it; copy heals it; it restores alone', async (ctx) => {
    if (tmpfsSkip !== null) ctx.skip(tmpfsSkip);
    const m1 = join(dir, 'm1');
    const m2 = join(small, 'm2');
    const init1 = await p.run(['--json', '--repo', m1, 'init', '--mirror-of', p.repo]);
    expectOk(init1);
    expect(JSON.parse(init1.stdout)).toMatchObject({ mirrorOf: p.repo });
    // m2 has its own password; the primary's comes from CAIRN_MIRROR_OF_PASSWORD.
    expectOk(await p.run(['--repo', m2, 'init', '--mirror-of', p.repo], { CAIRN_PASSWORD: 'm2 password', CAIRN_MIRROR_OF_PASSWORD: p.env.CAIRN_PASSWORD! }));

    const r = await p.run(['backup', src, '--mirror', m1, '--mirror', m2]);
    expect(r.code, r.stdout + r.stderr).toBe(5);
    expect(r.stdout).toMatch(/^snapshot [0-9a-f]{8} saved$/m);
    expect(r.stdout).toContain(`mirror ${m1}: ok`);
    expect(r.stdout).toMatch(new RegExp(`mirror ${m2}: FAILED: .*\\[DISK_FULL\\]`));
    expect(r.stderr).toMatch(/^cairn: error: 1 of 2 mirrors failed \(.*m2: DISK_FULL\); snapshot [0-9a-f]{8} is saved in the primary and 1 healthy mirror \[MIRROR_FAILED\]$/m);

    const snapsOf = async (repo: string, password?: string): Promise<string[]> => {
      const s = await p.run(['--json', '--repo', repo, 'snapshots'], password ? { CAIRN_PASSWORD: password } : {});
      expectOk(s);
      return (JSON.parse(s.stdout) as { id: string }[]).map((x) => x.id);
    };
    const inPrimary = await snapsOf(p.repo);
    expect(inPrimary).toHaveLength(1);
    expect(await snapsOf(m1)).toEqual(inPrimary);
    expect(await snapsOf(m2, 'm2 password')).toEqual([]);

    // The disk grows; copy heals the mirror (same keys: whole packs, byte for byte).
    remount(small, 'size=64m');
    const heal = await p.run(['--json', '--repo', m2, 'copy', '--from', p.repo], { CAIRN_PASSWORD: 'm2 password', CAIRN_FROM_PASSWORD: p.env.CAIRN_PASSWORD! });
    expectOk(heal);
    const healed = JSON.parse(heal.stdout);
    expect(healed).toMatchObject({ method: 'packs', dryRun: false });
    expect(healed.copied).toHaveLength(1);
    expect(healed.packsCopied).toBeGreaterThan(0);
    expect(await snapsOf(m2, 'm2 password')).toEqual(inPrimary);

    // The primary is gone (and so is every cache): the mirror alone restores and checks.
    await rename(p.repo, `${p.repo}.away`);
    await rm(p.cache, { recursive: true, force: true });
    const m2env = { CAIRN_REPO: m2, CAIRN_PASSWORD: 'm2 password' };
    expectOk(await p.run(['check', '--read-data'], m2env));
    const target = join(dir, 'restore');
    expectOk(await p.run(['restore', 'latest', '--target', target, '--verify'], m2env));
    expect(diffHashes(await hashTree(src), await hashTree(join(target, src)))).toEqual([]);
    await rename(`${p.repo}.away`, p.repo);

    // Mirrors from the environment; all healthy now: exit 0, and --json carries the mirrors.
    await writeFile(join(src, 'sub', 'more.txt'), 'more\n');
    const again = await p.run(['--json', 'backup', src], { CAIRN_MIRRORS: `${m1},${m2}` });
    expectOk(again);
    const doc = JSON.parse(again.stdout);
    expect(doc.mirrors.map((m: { location: string; ok: boolean }) => [m.location, m.ok])).toEqual([
      [m1, true],
      [m2, true],
    ]);
  });
});

describe('copy through the CLI', () => {
  it('copies between repositories with different passwords, once', async () => {
    const other = cliFor(dir, join(dir, 'other'), join(dir, 'cache-other'));
    const run = (args: string[]) => p.run(args, { CAIRN_REPO: other.repo, CAIRN_PASSWORD: 'other password', CAIRN_FROM_PASSWORD: p.env.CAIRN_PASSWORD! });
    expectOk(await run(['init']));
    if ((await p.run(['snapshots', '--json'])).stdout.trim() === '[]') expectOk(await p.run(['backup', src]));
    const dry = await run(['--json', 'copy', '--from', p.repo, '--dry-run']);
    expectOk(dry);
    expect(JSON.parse(dry.stdout)).toMatchObject({ method: 'blobs', dryRun: true });
    const first = await run(['copy', '--from', p.repo]);
    expectOk(first);
    expect(first.stdout).toMatch(/snapshots? copied/);
    expect(first.stdout).toContain('blobs (different keys');
    const second = await run(['--json', 'copy', '--from', p.repo]);
    expectOk(second);
    const doc = JSON.parse(second.stdout);
    expect(doc.copied).toEqual([]);
    expect(doc.blobsCopied).toBe(0);
    expect(doc.bytesCopied).toBe(0);
    // Same repository on both sides: a usage error.
    const same = await run(['copy', '--from', other.repo]);
    expect(same.code).toBe(2);
    const help = await p.run(['copy', '--help']);
    expect(help.stdout).toContain('Examples:');
  });
});
