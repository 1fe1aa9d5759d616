import { afterEach, describe, expect, it } from 'vitest';
import { mkdir, readFile, readdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { makeTempRepo, type TempRepo } from '../helpers/temp-repo.js';
import { pseudoRandom } from '../helpers/data.js';
import { FakeClock } from '../../src/core/clock.js';
import { systemRandom } from '../../src/core/random.js';
import { LocalBackend } from '../../src/backend/local-backend.js';
import { Repository } from '../../src/repository/repository.js';
import { syncIndex } from '../../src/repository/index-sync.js';
import { withFaults } from '../../src/backend/with-faults.js';
import { compileExcludes } from '../../src/fs/exclude-matcher.js';
import { rewriteSnapshots } from '../../src/maintenance/rewrite-snapshots.js';
import type { BlobId } from '../../src/core/ids.js';
import type { RepositorySession, RewriteSnapshotsResult, SnapshotInfo } from '../../src/engine/types.js';
import type { Tree } from '../../src/snapshot/tree.js';
import { runCli } from '../cli/helpers/run-cli.js';

/**
 * `rewrite --exclude` stores snapshots without what the patterns match; with --forget
 * the originals go; `prune --max-unused 0` then takes the left-out data out of the
 * repository even from packs that still hold live data.
 */
describe('rewrite', () => {
  let t: TempRepo;
  let s: RepositorySession;
  afterEach(async () => {
    await s?.close();
    await t?.cleanup();
  });

  const SECRET = pseudoRandom(77, 50_000);

  /** Two snapshots of a tree with a key file and a scratch directory. */
  async function setup(): Promise<{ src: string; snaps: SnapshotInfo[] }> {
    t = await makeTempRepo();
    const src = join(t.dir, 'src');
    await mkdir(join(src, '.ssh'), { recursive: true });
    await mkdir(join(src, 'scratch', 'deep'), { recursive: true });
    await writeFile(join(src, '.ssh', 'id_ed25519'), SECRET);
    await writeFile(join(src, '.ssh', 'known_hosts'), 'host key\n');
    await writeFile(join(src, 'scratch', 'deep', 'x.tmp'), 'tmp\n');
    await writeFile(join(src, 'notes.txt'), 'notes\n');
    // Live data in the secret's pack, so that the pack is mostly in use afterwards.
    await writeFile(join(src, 'data.bin'), pseudoRandom(78, 400_000));
    s = await t.open();
    await s.backup({ paths: [src], tags: ['daily'] });
    await writeFile(join(src, 'later.txt'), 'later\n');
    await s.backup({ paths: [src], tags: ['daily'] });
    return { src, snaps: await s.snapshots() };
  }

  /** Whether any index file of the repository (read into a fresh cache) names the data blob. */
  async function indexed(blob: BlobId): Promise<boolean> {
    const repo = await Repository.open(new LocalBackend(t.repo), t.password, { clock: new FakeClock(), random: systemRandom, cacheDir: join(t.dir, `cache-${Math.random()}`) });
    try {
      await syncIndex(repo);
      return repo.index.findForRead('data', blob) !== undefined;
    } finally {
      await repo.close();
    }
  }

  async function secretBlob(snap: SnapshotInfo, src: string): Promise<BlobId> {
    const tree = (await s.cat('tree', `${snap.id}:${join(src, '.ssh')}`)) as Tree;
    return tree.nodes.find((n) => n.name === 'id_ed25519')!.content![0]!;
  }

  it('leaves out what matches in every snapshot; --forget replaces the originals; restores and check are clean; a re-run changes nothing', async () => {
    const { src, snaps } = await setup();
    const dry = await s.rewrite([], { excludes: [`${src}/.ssh/id_ed25519`, 'scratch'], dryRun: true });
    expect(dry.rewritten.map((r) => [r.snapshot, r.removed, r.rewrittenAs])).toEqual(
      snaps.map((x) => [x.id, [`${src}/.ssh/id_ed25519`, `${src}/scratch`], null]),
    );
    expect((await s.snapshots()).map((x) => x.id)).toEqual(snaps.map((x) => x.id));

    const r = await s.rewrite([], { excludes: [`${src}/.ssh/id_ed25519`, 'scratch'], forget: true });
    expect(r.rewritten.every((x) => x.forgotten && x.rewrittenAs)).toBe(true);
    const after = await s.snapshots();
    expect(after.map((x) => x.id)).toEqual(r.rewritten.map((x) => x.rewrittenAs));
    expect(after.map((x) => x.time)).toEqual(snaps.map((x) => x.time));
    expect(after.map((x) => x.tags)).toEqual([
      ['daily', 'rewritten'],
      ['daily', 'rewritten'],
    ]);
    expect(after.every((x) => x.summary === undefined)).toBe(true);

    const out = join(t.dir, 'out');
    await s.restore({ snapshot: 'latest', target: out, verify: true });
    expect((await readdir(join(out, src))).sort()).toEqual(['.ssh', 'data.bin', 'later.txt', 'notes.txt']);
    expect(await readdir(join(out, src, '.ssh'))).toEqual(['known_hosts']);
    expect(await readFile(join(out, src, 'notes.txt'), 'utf8')).toBe('notes\n');
    expect((await s.check({ readData: true })).problems).toEqual([]);

    const again = await s.rewrite([], { excludes: [`${src}/.ssh/id_ed25519`, 'scratch'], forget: true });
    expect(again).toEqual({ dryRun: false, checked: 2, rewritten: [] });
  });

  it('prune --max-unused 0 then takes the left-out data out of the repository; the default prune keeps it in a pack still in use', async () => {
    const { src, snaps } = await setup();
    const blob = await secretBlob(snaps[0]!, src);
    await s.rewrite([], { excludes: ['id_ed25519'], forget: true });
    await s.prune({ gcDelayMs: 0 });
    await s.prune({ gcDelayMs: 0 });
    expect(await indexed(blob)).toBe(true);
    await s.prune({ gcDelayMs: 0, maxUnused: 0 });
    await s.prune({ gcDelayMs: 0 });
    expect(await indexed(blob)).toBe(false);
    expect((await s.check({ readData: true })).problems).toEqual([]);
    const out = join(t.dir, 'out');
    await s.restore({ snapshot: 'latest', target: out, verify: true });
    expect(await readdir(join(out, src, '.ssh'))).toEqual(['known_hosts']);
  });

  it('named snapshots and filters choose; without --forget the original stays; a cut-off re-run takes the stored rewrite', async () => {
    const { src, snaps } = await setup();
    const one = await s.rewrite([snaps[0]!.id.slice(0, 8)], { excludes: ['*.tmp'] });
    expect(one.checked).toBe(1);
    expect(one.rewritten[0]!.removed).toEqual([`${src}/scratch/deep/x.tmp`]);
    expect(await s.snapshots()).toHaveLength(3);
    await expect(s.rewrite(['ffffffff'], { excludes: ['*.tmp'] })).rejects.toMatchObject({ code: 'SNAPSHOT_NOT_FOUND' });
    await expect(s.rewrite([], { excludes: [] })).rejects.toMatchObject({ code: 'USAGE' });
    await expect(s.rewrite([], { excludes: ['[x'] })).rejects.toMatchObject({ code: 'CONFIG_INVALID' });

    // Forgetting the second original fails once: its rewrite is stored, it stays.
    const second = snaps[1]!;
    const r1 = await Repository.open(
      withFaults(new LocalBackend(t.repo), [{ op: 'remove', match: (name) => name === `snapshots/${second.id}`, fault: 'error' }]),
      t.password,
      { clock: new FakeClock(), random: systemRandom, cacheDir: join(t.dir, 'cache-cut') },
    );
    try {
      await expect(rewriteSnapshots(r1, [second.id], undefined, compileExcludes(['notes.txt']), { forget: true })).rejects.toThrow();
    } finally {
      await r1.close();
    }
    const mid = (await s.snapshots()).filter((x) => x.time === second.time);
    expect(mid).toHaveLength(2);
    const copy = mid.find((x) => x.tags.includes('rewritten'))!;
    const r = await s.rewrite([second.id], { excludes: ['notes.txt'], forget: true });
    expect(r.rewritten[0]!.rewrittenAs).toBe(copy.id);
    expect((await s.snapshots()).filter((x) => x.time === second.time).map((x) => x.id)).toEqual([copy.id]);
  });

  it('the CLI: lines per snapshot, --json, --exclude-file; USAGE without a pattern', async () => {
    const { src } = await setup();
    const env = { CAIRN_REPO: t.repo, CAIRN_PASSWORD: t.password, CAIRN_CACHE_DIR: t.cacheDir, HOME: t.dir };
    const cli = (args: string[]) => runCli(args, { engine: t.engine, env });
    await writeFile(join(t.dir, 'patterns'), '# secrets\nid_ed25519\n');
    const plain = await cli(['rewrite', '--exclude-file', join(t.dir, 'patterns'), 'latest']);
    expect(plain.code, plain.stderr).toBe(0);
    expect(plain.stdout).toMatch(/^snapshot [0-9a-f]{8}: 1 entry left out -> snapshot [0-9a-f]{8}$/m);
    expect(plain.stdout).toContain(`  left out: ${src}/.ssh/id_ed25519`);
    expect(plain.stdout).toContain('1 of 1 snapshots were rewritten');
    const json = await cli(['--json', 'rewrite', '--exclude', 'nothing-matches-this', '--tag', 'daily']);
    expect(json.code, json.stderr).toBe(0);
    // Both originals and the rewrite of the latest: three, none holding a match.
    expect(JSON.parse(json.stdout) as RewriteSnapshotsResult).toEqual({ dryRun: false, checked: 3, rewritten: [] });
    const none = await cli(['rewrite', 'latest']);
    expect(none.code).toBe(2);
    expect(none.stderr).toMatch(/nothing to leave out \[USAGE\]/);
  });
});
