import { afterEach, describe, expect, it } from 'vitest';
import { mkdir, readFile, readdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { damageBlobIn } from '../helpers/damage.js';
import { makeTempRepo, type TempRepo } from '../helpers/temp-repo.js';
import { pseudoRandom } from '../helpers/data.js';
import { FakeClock } from '../../src/core/clock.js';
import { systemRandom } from '../../src/core/random.js';
import { LocalBackend } from '../../src/backend/local-backend.js';
import { Repository } from '../../src/repository/repository.js';
import { withFaults } from '../../src/backend/with-faults.js';
import { repairSnapshots } from '../../src/maintenance/repair-snapshots.js';
import type { BlobId } from '../../src/core/ids.js';
import type { RepairSnapshotsResult, RepositorySession, SnapshotInfo } from '../../src/engine/types.js';
import type { Tree } from '../../src/snapshot/tree.js';
import { runCli } from '../cli/helpers/run-cli.js';
import { storeLogEntries, type LogRecord } from '../../src/sources/log-catalog.js';
import type { WalRecordBody } from '../../src/snapshot/wal-record.js';

/**
 * A blob damaged in its only copy stays named by every snapshot that had it. After
 * `repair packs` took it out, `repair snapshots` writes snapshots without the files
 * and directories that need it, so that check passes and restores are whole again
 * (restic's `repair snapshots [--forget]`).
 */
describe('repair snapshots', () => {
  let t: TempRepo;
  let s: RepositorySession;
  afterEach(async () => {
    await s?.close();
    await t?.cleanup();
  });

  const small = (i: number) => pseudoRandom(300 + i, 4_000 + i * 100);

  async function setup(): Promise<{ src: string; first: SnapshotInfo; second: SnapshotInfo }> {
    t = await makeTempRepo();
    const src = join(t.dir, 'src');
    await mkdir(join(src, 'docs', 'deep'), { recursive: true });
    for (let i = 0; i < 8; i++) await writeFile(join(src, 'docs', `n${i}.txt`), small(i));
    await writeFile(join(src, 'docs', 'deep', 'inner.txt'), 'inside\n');
    await writeFile(join(src, 'big.bin'), pseudoRandom(9, 1_500_000));
    s = await t.open();
    const first = (await s.backup({ paths: [src] })).snapshot;
    await writeFile(join(src, 'later.txt'), 'added after the first snapshot\n');
    const second = (await s.backup({ paths: [src] })).snapshot;
    return { src, first, second };
  }

  async function nodeIn(snap: SnapshotInfo, dir: string, name: string) {
    const tree = (await s.cat('tree', `${snap.id}:${dir}`)) as Tree;
    return tree.nodes.find((n) => n.name === name)!;
  }

  /** Flips one byte inside a blob; returns its pack. */
  const damageBlob = (type: 'data' | 'tree', id: BlobId): Promise<string> => damageBlobIn(t, t.dir, type, id);


  /** n3.txt's data and docs/deep's listing damaged, then taken out by repair packs. */
  async function loseData(src: string, snap: SnapshotInfo): Promise<void> {
    const packs = new Set([
      await damageBlob('data', (await nodeIn(snap, join(src, 'docs'), 'n3.txt')).content![0]!),
      await damageBlob('tree', (await nodeIn(snap, join(src, 'docs'), 'deep')).subtree!),
    ]);
    await s.close();
    s = await t.open();
    const repaired = await s.repairPacks([...packs]);
    expect(repaired.blobsLost).toBe(2);
  }

  it('a dry run names what each snapshot would lose and changes nothing', async () => {
    const { src, first, second } = await setup();
    await loseData(src, second);
    const r = await s.repairSnapshots([], { dryRun: true });
    expect(r.checked).toBe(2);
    expect(r.repaired.map((x) => x.snapshot).sort()).toEqual([first.id, second.id].sort());
    for (const x of r.repaired) {
      expect(x.removedFiles).toEqual([join(src, 'docs', 'n3.txt')]);
      expect(x.emptiedDirs).toEqual([join(src, 'docs', 'deep')]);
      expect(x.repairedAs).toBeNull();
    }
    expect((await s.snapshots()).map((x) => x.id).sort()).toEqual([first.id, second.id].sort());
    // Named snapshots only; an id of none is SNAPSHOT_NOT_FOUND.
    const one = await s.repairSnapshots([first.id.slice(0, 8)], { dryRun: true });
    expect(one.repaired.map((x) => x.snapshot)).toEqual([first.id]);
    await expect(s.repairSnapshots(['ffffffff'], { dryRun: true })).rejects.toMatchObject({ code: 'SNAPSHOT_NOT_FOUND' });
  });

  it('--forget: repaired snapshots replace the originals; check passes; a restore is whole; a second run repairs nothing', async () => {
    const { src, first, second } = await setup();
    await loseData(src, second);
    expect((await s.check()).ok).toBe(false);

    const r = await s.repairSnapshots([], { forget: true });
    expect(r.repaired).toHaveLength(2);
    const after = await s.snapshots();
    expect(after.map((x) => x.id).sort()).toEqual(r.repaired.map((x) => x.repairedAs!).sort());
    for (const snap of after) {
      expect(snap.tags).toContain('repaired');
      expect(snap.paths).toEqual([src]);
    }
    // Same times as the originals: retention policies see the same history.
    expect(after.map((x) => x.time).sort()).toEqual([first.time, second.time].sort());

    const check = await s.check({ readData: true });
    expect(check.problems).toEqual([]);
    expect(check.ok).toBe(true);

    const latest = after.find((x) => x.time === second.time)!;
    const out = join(t.dir, 'out');
    await s.restore({ snapshot: latest.id, target: out });
    const at = (...p: string[]) => join(out, src, ...p);
    for (let i = 0; i < 8; i++) {
      if (i === 3) continue;
      expect((await readFile(at('docs', `n${i}.txt`))).equals(small(i)), `n${i}.txt`).toBe(true);
    }
    expect((await readdir(at('docs'))).sort()).toEqual(['deep', ...[0, 1, 2, 4, 5, 6, 7].map((i) => `n${i}.txt`)].sort());
    expect(await readdir(at('docs', 'deep'))).toEqual([]);
    expect(await readFile(at('later.txt'), 'utf8')).toBe('added after the first snapshot\n');
    expect((await readFile(at('big.bin'))).equals(pseudoRandom(9, 1_500_000))).toBe(true);

    const again = await s.repairSnapshots([], { forget: true });
    expect(again.repaired).toEqual([]);
    expect((await s.snapshots()).length).toBe(2);
  });

  it('a run cut off between storing a repaired snapshot and forgetting its original: the next run takes that copy, not a second one', async () => {
    const { src, first, second } = await setup();
    await loseData(src, second);
    // Forgetting the first original fails: its repaired copy is stored, it stays.
    const r1 = await Repository.open(
      withFaults(new LocalBackend(t.repo), [{ op: 'remove', match: (name) => name === `snapshots/${first.id}`, fault: 'error' }]),
      t.password,
      { clock: new FakeClock(), random: systemRandom, cacheDir: join(t.dir, 'cache-cut') },
    );
    try {
      await expect(repairSnapshots(r1, [], { forget: true })).rejects.toThrow();
    } finally {
      await r1.close();
    }
    const mid = await s.snapshots();
    expect(mid.map((x) => x.id)).toContain(first.id);
    const copies = mid.filter((x) => x.tags.includes('repaired') && x.time === first.time);
    expect(copies).toHaveLength(1);

    const r = await s.repairSnapshots([], { forget: true });
    expect(r.repaired.find((x) => x.snapshot === first.id)?.repairedAs).toBe(copies[0]!.id);
    const after = await s.snapshots();
    expect(after.map((x) => x.time).sort()).toEqual([first.time, second.time].sort());
    expect(after.every((x) => x.tags.includes('repaired'))).toBe(true);
  });

  /** A Repository of its own (own cache), optionally through a faulty backend. */
  async function withRepo<T>(fn: (repo: Repository) => Promise<T>, faults: Parameters<typeof withFaults>[1] = [], cache = 'cache-direct'): Promise<T> {
    const repo = await Repository.open(withFaults(new LocalBackend(t.repo), faults), t.password, {
      clock: new FakeClock(),
      random: systemRandom,
      cacheDir: join(t.dir, cache),
    });
    try {
      return await fn(repo);
    } finally {
      await repo.close();
    }
  }

  const SEG = 64 * 1024; // one chunk each (chunks are at least 256 KiB)
  const segName = (i: number) => `0000000100000000000000${String(i).padStart(2, '0')}`;

  /** A postgres source's record of segments 1..3, and segment 2's only blob lost (repair packs took it out). */
  async function walWithLostSegment(): Promise<{ rec: LogRecord; lost: string }> {
    t = await makeTempRepo();
    s = await t.open();
    const rec = (await withRepo((repo) =>
      storeLogEntries(
        repo,
        { type: 'postgres', name: 'db1', systemId: '7', segmentSize: SEG },
        [1, 2, 3].map((i) => ({ name: segName(i), partial: false, timeline: 1, bytes: pseudoRandom(700 + i, SEG) })),
      ),
    ))!;
    const lost = rec.body.segments[1]!;
    expect(lost.content).toHaveLength(1);
    const pack = await damageBlob('data', lost.content[0]!);
    await s.close();
    s = await t.open();
    expect((await s.repairPacks([pack])).blobsLost).toBe(1);
    return { rec, lost: lost.name };
  }

  const walRecords = (): Promise<{ id: string; body: WalRecordBody }[]> => withRepo((repo) => repo.listWalRecords(), [], `cache-${Math.random()}`);

  it('WAL catalog records: an entry whose data is lost is left out of a new record; --forget removes the original; check passes', async () => {
    const { rec, lost } = await walWithLostSegment();
    const before = await s.check();
    expect(before.ok).toBe(false);
    expect(before.affectedWal).toEqual([{ source: 'db1', segments: [lost] }]);

    const dry = await s.repairSnapshots([], { dryRun: true });
    expect(dry.walChecked).toBe(1);
    expect(dry.walRepaired).toEqual([{ record: rec.id, source: 'postgres db1', droppedEntries: [lost], repairedAs: null }]);
    expect((await walRecords()).map((r) => r.id)).toEqual([rec.id]);
    // Named snapshots only: the catalog is not looked at.
    await mkdir(join(t.dir, 'src'));
    const snap = (await s.backup({ paths: [join(t.dir, 'src')] })).snapshot;
    const named = await s.repairSnapshots([snap.id], { dryRun: true });
    expect(named).toMatchObject({ checked: 1, walChecked: 0, walRepaired: [] });

    const r = await s.repairSnapshots([], { forget: true });
    expect(r.walRepaired).toEqual([{ record: rec.id, source: 'postgres db1', droppedEntries: [lost], repairedAs: expect.stringMatching(/^[0-9a-f]{64}$/), forgotten: true }]);
    const after = await walRecords();
    expect(after.map((x) => x.id)).toEqual([r.walRepaired[0]!.repairedAs]);
    // The other entries are kept as they were: same blobs, sizes, hashes and times.
    expect(after[0]!.body).toEqual({ ...rec.body, segments: rec.body.segments.filter((e) => e.name !== lost) });

    const check = await s.check({ readData: true });
    expect(check.problems).toEqual([]);
    expect(check.affectedWal ?? []).toEqual([]);
    expect(check.ok).toBe(true);
    const again = await s.repairSnapshots([], { forget: true });
    expect(again).toMatchObject({ walChecked: 1, walRepaired: [] });
  });

  it('WAL catalog records: a run cut off before forgetting the original takes the stored copy; a record of lost entries only is forgotten whole', async () => {
    const { rec, lost } = await walWithLostSegment();
    await withRepo(
      (repo) => expect(repairSnapshots(repo, [], { forget: true })).rejects.toThrow(),
      [{ op: 'remove', match: (name) => name === `wal/${rec.id}`, fault: 'error' }],
      'cache-cut',
    );
    const mid = await walRecords();
    expect(mid).toHaveLength(2);
    const copy = mid.find((x) => x.id !== rec.id)!;
    const r = await s.repairSnapshots([], { forget: true });
    expect(r.walRepaired.map((x) => [x.record, x.repairedAs])).toEqual([[rec.id, copy.id]]);
    expect((await walRecords()).map((x) => x.id)).toEqual([copy.id]);

    // A record whose every entry is lost leaves nothing to keep.
    const only = (await withRepo((repo) =>
      storeLogEntries(repo, { type: 'postgres', name: 'db1', systemId: '7', segmentSize: SEG }, [{ name: segName(4), partial: false, timeline: 1, bytes: pseudoRandom(704, SEG) }]),
    ))!;
    const pack = await damageBlob('data', only.body.segments[0]!.content[0]!);
    await s.close();
    s = await t.open();
    await s.repairPacks([pack]);
    const cli = await runCli(['repair', 'snapshots', '--forget'], {
      engine: t.engine,
      env: { CAIRN_REPO: t.repo, CAIRN_PASSWORD: t.password, CAIRN_CACHE_DIR: t.cacheDir, HOME: t.dir },
    });
    expect(cli.code, cli.stderr).toBe(0);
    expect(cli.stdout).toContain(`WAL record ${only.id.slice(0, 8)} of postgres db1: 1 log entry left out -> nothing left to keep (original forgotten)`);
    expect(cli.stdout).toContain(`  left out: ${segName(4)}`);
    expect(cli.stdout).toContain('1 of 2 WAL records were repaired');
    expect((await walRecords()).map((x) => x.id)).toEqual([copy.id]);
    expect(lost).toBe(segName(2));
  });

  it('the CLI: one snapshot by prefix, without --forget the original stays; --json; a sound repository is left alone', async () => {
    const { src, second } = await setup();
    const cli = (args: string[]) =>
      runCli(args, { engine: t.engine, env: { CAIRN_REPO: t.repo, CAIRN_PASSWORD: t.password, CAIRN_CACHE_DIR: t.cacheDir, HOME: t.dir } });
    const clean = await cli(['repair', 'snapshots']);
    expect(clean.code, clean.stderr).toBe(0);
    expect(clean.stdout).toContain('2 snapshots checked: none names data the repository lacks');

    await loseData(src, second);
    const plain = await cli(['repair', 'snapshots', second.id.slice(0, 8)]);
    expect(plain.code, plain.stderr).toBe(0);
    expect(plain.stdout).toMatch(new RegExp(`^snapshot ${second.id.slice(0, 8)}: 1 file left out, 1 directory emptied -> snapshot [0-9a-f]{8}$`, 'm'));
    expect(plain.stdout).toContain(`  left out: ${join(src, 'docs', 'n3.txt')}`);
    expect(plain.stdout).toContain(`  emptied:  ${join(src, 'docs', 'deep')}/`);
    expect((await s.snapshots()).length).toBe(3); // both originals and the repaired one

    const json = await cli(['--json', 'repair', 'snapshots', '--dry-run']);
    expect(json.code, json.stderr).toBe(0);
    const doc = JSON.parse(json.stdout) as RepairSnapshotsResult;
    expect(doc).toMatchObject({ dryRun: true, checked: 3, unrepairable: [] });
    // The repaired snapshot names nothing missing; both originals still do.
    expect(doc.repaired).toHaveLength(2);
  });
});
