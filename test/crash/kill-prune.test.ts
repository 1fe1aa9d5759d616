import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pLimit from 'p-limit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CAIRN_BUILT, cairnEnv, cairnJson, killAllCairns, runCairn, spawnCairn } from '../helpers/cli.js';
import { LocalBackend } from '../../src/backend/local-backend.js';
import { systemClock } from '../../src/core/clock.js';
import { systemRandom } from '../../src/core/random.js';
import { sealFile } from '../../src/format/sealed-file.js';
import { Repository } from '../../src/repository/repository.js';
import { pseudoRandom } from '../helpers/data.js';
import {
  crashSeed,
  dataNames,
  duplicateBlobs,
  expectCheckPasses,
  expectRestores,
  listSnapshots,
  lockFiles,
  killWhen,
  MiB,
  namesIn,
  newFileInData,
  packsOnDisk,
  prng,
  readIndexFiles,
  sleep,
  SourceTree,
  tempFiles,
  totalSize,
  type ContentHashes,
} from './crash-kit.js';

/**
 * Acceptance: killing `prune` with SIGKILL at random points, repeatedly, never leaves a
 * repository that fails `check` or loses a snapshot; a prune that is let run completes
 * and frees the space. Also: a backup and a prune started together both succeed and
 * the backup's snapshot survives the sweep that follows.
 *
 * `prune --gc-delay 0s` marks and, with no live writer, sweeps in the same run, so each
 * kill lands in one of: index sync and adopting orphan packs, reachability, repacking
 * (uploads), writing the mark, or the sweep (new index, deletes). Every round adds new
 * garbage (new backup + forget) so that each prune has work to be killed in. Replay a
 * failure with CAIRN_CRASH_SEED=<seed>.
 */

const SEED = crashSeed();
const ROUNDS = 7;

interface PruneJson {
  marked: { packs: number; bytes: number };
  swept: { packs: number; bytes: number };
  repacked: { packs: number; blobs: number };
  deferred: number;
}

interface BackupJson {
  snapshot: { id: string };
}

describe.skipIf(!CAIRN_BUILT)('SIGKILL during prune', () => {
  let dir: string;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'cairn-crash-prune-'));
  });

  afterAll(async () => {
    killAllCairns();
    if (dir && !process.env.CAIRN_CRASH_KEEP) await rm(dir, { recursive: true, force: true });
    else if (dir) console.log(`kept ${dir}`);
  });

  it(`never loses a snapshot or fails check; an uninterrupted prune then frees the space (seed ${SEED})`, { timeout: 180_000 }, async () => {
    const rand = prng(SEED);
    const base = join(dir, 'kill');
    const src = new SourceTree(join(base, 'src'), rand, SEED, { bigFiles: 8, bigMinMiB: 8, bigMaxMiB: 14, smallFiles: 150 });
    await src.create();
    const password = 'crash test password';
    const repo = join(base, 'repo');
    const env = cairnEnv(repo, join(base, 'cache'), password);
    const calibEnv = cairnEnv(join(base, 'calib-repo'), join(base, 'calib-cache'), password);
    for (const e of [env, calibEnv]) expect((await runCairn(['init'], e)).code).toBe(0);

    // History: four backups, three big files rewritten each time, then keep the last two.
    // The forgotten snapshots leave whole packs unused and others partly used (repacked).
    const hashesOf = new Map<string, ContentHashes>();
    const backupBoth = async (withCalib: boolean): Promise<string> => {
      const hashes = await src.hashes();
      if (withCalib) await cairnJson(['backup', src.root], calibEnv);
      const r = await cairnJson<BackupJson>(['backup', src.root], env);
      hashesOf.set(r.snapshot.id, hashes);
      return r.snapshot.id;
    };
    for (let h = 0; h < 4; h++) {
      if (h > 0) await src.mutate(3);
      await backupBoth(true);
    }
    for (const e of [env, calibEnv]) await cairnJson(['forget', '--keep-last', '2'], e);

    // Calibration: how long an uninterrupted prune of the same history takes.
    const calib = await runCairn(['--json', 'prune', '--gc-delay', '0s'], calibEnv);
    expect(calib.code, calib.stderr).toBe(0);
    const calibResult = JSON.parse(calib.stdout) as PruneJson;
    expect(calibResult.repacked.packs, 'the history must make prune repack').toBeGreaterThan(0);
    expect(calibResult.swept.packs).toBeGreaterThan(0);

    const sizeBeforePruning = totalSize(await packsOnDisk(repo));
    // Kill points: two rounds at chosen steps — mid-upload of the first repacked pack,
    // and the moment the gc mark is written (the sweep follows at once) — the others at
    // random times, stratified over the prune's life (one slot each, shuffled).
    const plans: ('upload' | 'mark' | number)[] = ['upload', 'mark'];
    for (let i = 0; i < ROUNDS - 2; i++) plans.push(i);
    for (let i = plans.length - 1; i > 0; i--) {
      const j = Math.floor(rand() * (i + 1));
      [plans[i], plans[j]] = [plans[j]!, plans[i]!];
    }
    const log: string[] = [];

    for (let round = 0; round < ROUNDS; round++) {
      const ctx = (what: string) => `seed ${SEED}, round ${round}: ${what}`;
      const kept = (await listSnapshots(env)).map((s) => s.id);
      const plan = plans[round]!;
      const before = await packsOnDisk(repo);
      const namesBefore = await dataNames(repo);
      const marksBefore = new Set(await namesIn(repo, 'gc'));

      const victim = spawnCairn(['--json', 'prune', '--gc-delay', '0s'], env);
      let how: string;
      if (plan === 'upload') {
        await killWhen(victim, () => newFileInData(repo, namesBefore));
        how = 'kill when a new pack is being written';
      } else if (plan === 'mark') {
        await killWhen(victim, async () => (await namesIn(repo, 'gc')).some((m) => !marksBefore.has(m)));
        how = 'kill when the gc mark appears';
      } else {
        // Up to 1.25 × the calibrated time: garbage left by killed rounds makes later prunes longer.
        const delay = Math.round(50 + ((plan + rand()) / (ROUNDS - 2)) * Math.max(0, 1.25 * calib.ms - 50));
        await sleep(delay);
        victim.kill('SIGKILL');
        how = `kill at ${delay}/${Math.round(calib.ms)} ms`;
      }
      const run = await victim.done;
      const killed = run.signal === 'SIGKILL';
      if (!killed) expect(run.code, ctx(`prune finished before the kill but failed: ${run.stdout} ${run.stderr}`)).toBe(0);
      const after = await packsOnDisk(repo);
      const added = [...after.keys()].filter((p) => !before.has(p)).length;
      const removed = [...before.keys()].filter((p) => !after.has(p)).length;
      const marks = (await namesIn(repo, 'gc')).length;
      const temps = (await tempFiles(repo)).length;
      const locks = (await lockFiles(repo)).length;

      await expectCheckPasses(env, ctx(`after ${how}`));
      const now = (await listSnapshots(env)).map((s) => s.id);
      expect(new Set(now), ctx('prune changed the set of snapshots')).toEqual(new Set(kept));
      const limit = pLimit(2);
      await Promise.all(
        now.map((id) => limit(() => expectRestores(env, id, src.root, hashesOf.get(id)!, base, ctx('restore after killed prune')))),
      );
      log.push(
        `round ${round}: ${how} -> ${killed ? 'killed' : `exit ${run.code}`}, ` +
          `packs +${added} -${removed}, ${marks} marks, ${temps} temp, ${locks} locks left`,
      );

      // New garbage for the next round: rewrite three big files, back up, keep the last two.
      await src.mutate(3);
      await backupBoth(false);
      await cairnJson(['forget', '--keep-last', '2'], env);
    }

    // A prune that is let run: completes (the dead maintenance locks do not block it),
    // leaves a repository that checks and restores, and is smaller than before pruning.
    const kept = (await listSnapshots(env)).map((s) => s.id);
    const sizeBefore = totalSize(await packsOnDisk(repo));
    const final = await runCairn(['--json', 'prune', '--gc-delay', '0s'], env);
    expect(final.code, `seed ${SEED}: final prune: ${final.stdout} ${final.stderr}`).toBe(0);
    const result = JSON.parse(final.stdout) as PruneJson;
    expect(result.deferred).toBe(0);
    await expectCheckPasses(env, `seed ${SEED}, after the final prune`);
    expect(new Set((await listSnapshots(env)).map((s) => s.id))).toEqual(new Set(kept));
    for (const id of kept) await expectRestores(env, id, src.root, hashesOf.get(id)!, base, `seed ${SEED}, final`);
    const sizeAfter = totalSize(await packsOnDisk(repo));
    expect(sizeAfter).toBeLessThan(sizeBefore);
    expect(sizeAfter).toBeLessThan(sizeBeforePruning);
    // Nothing collectable is left, and no blob is stored twice.
    const dry = await cairnJson<PruneJson>(['prune', '--dry-run'], env);
    expect(dry.marked.packs, `seed ${SEED}: garbage left after the final prune`).toBe(0);
    expect(duplicateBlobs(await readIndexFiles(repo, password))).toEqual([]);
    console.log(
      `kill-prune seed ${SEED}: ${(sizeBeforePruning / MiB).toFixed(1)} MiB before pruning, ` +
        `${(sizeBefore / MiB).toFixed(1)} MiB before the final prune, ${(sizeAfter / MiB).toFixed(1)} MiB after\n  ${log.join('\n  ')}`,
    );
  });

  it('a backup and a prune started together both succeed, and the backup survives the sweep', { timeout: 120_000 }, async () => {
    const rand = prng(SEED ^ 0x5eed);
    const base = join(dir, 'concurrent');
    const src = new SourceTree(join(base, 'src'), rand, SEED, { bigFiles: 5, bigMinMiB: 8, bigMaxMiB: 12, smallFiles: 100 });
    await src.create();
    const password = 'crash test password';
    const repo = join(base, 'repo');
    const env = cairnEnv(repo, join(base, 'cache'), password);
    expect((await runCairn(['init'], env)).code).toBe(0);
    const hashesOf = new Map<string, ContentHashes>();
    const backup = async (): Promise<string> => {
      const hashes = await src.hashes();
      const r = await cairnJson<BackupJson>(['backup', src.root], env);
      hashesOf.set(r.snapshot.id, hashes);
      return r.snapshot.id;
    };
    await backup();

    // Each iteration: rewrite two big files and back up, forget the older snapshot (its
    // versions of the files become garbage), then put the old versions back, so that the
    // concurrent backup wants exactly the blobs the prune is marking and sweeping.
    const iterations: { offsetMs: number; backupFirst: boolean; ownCache: boolean }[] = [
      { offsetMs: 0, backupFirst: false, ownCache: false },
      { offsetMs: 150, backupFirst: true, ownCache: false },
      { offsetMs: 250, backupFirst: false, ownCache: true },
    ];
    const outcomes: string[] = [];
    for (const [i, plan] of iterations.entries()) {
      const ctx = (what: string) => `seed ${SEED}, concurrent ${i} (${JSON.stringify(plan)}): ${what}`;
      const old = await Promise.all(src.big.slice(0, 2).map((p) => readFile(p)));
      for (const [k, p] of src.big.slice(0, 2).entries()) await writeFile(p, pseudoRandom((SEED + 1000 * i + k) >>> 0, 9 * MiB + k));
      const newer = await backup();
      await cairnJson(['forget', '--keep-last', '1'], env);
      for (const [k, p] of src.big.slice(0, 2).entries()) await writeFile(p, old[k]!);
      await writeFile(join(src.root, `added-${i}.bin`), pseudoRandom((SEED + 77 * i) >>> 0, 3 * MiB));
      const hashes = await src.hashes();

      const backupEnv = plan.ownCache ? { ...env, CAIRN_CACHE_DIR: join(base, `other-cache-${i}`) } : env;
      const start = (what: 'backup' | 'prune') =>
        what === 'backup'
          ? spawnCairn(['--json', 'backup', src.root], backupEnv)
          : spawnCairn(['--json', 'prune', '--gc-delay', '0s'], env);
      const first = start(plan.backupFirst ? 'backup' : 'prune');
      await sleep(plan.offsetMs);
      const second = start(plan.backupFirst ? 'prune' : 'backup');
      const [b, p] = plan.backupFirst ? [await first.done, await second.done] : [await second.done, await first.done];
      expect(b.code, ctx(`backup failed: ${b.stdout} ${b.stderr}`)).toBe(0);
      expect(p.code, ctx(`prune failed: ${p.stdout} ${p.stderr}`)).toBe(0);
      const snap = (JSON.parse(b.stdout) as BackupJson).snapshot.id;
      hashesOf.set(snap, hashes);
      const pr = JSON.parse(p.stdout) as PruneJson;
      outcomes.push(
        `${JSON.stringify(plan)}: prune marked ${pr.marked.packs}, swept ${pr.swept.packs}, deferred ${pr.deferred}; ` +
          `backup added ${(JSON.parse(b.stdout) as BackupJson & { snapshot: { summary: { bytesAddedPacked: number } } }).snapshot.summary.bytesAddedPacked} B`,
      );

      await expectCheckPasses(env, ctx('after the concurrent run'));
      await expectRestores(env, snap, src.root, hashes, base, ctx('the concurrent backup'));
      // The next prune sweeps what the first one marked (or deferred): the snapshot
      // written meanwhile must keep every pack it references.
      const sweep = await cairnJson<PruneJson>(['prune', '--gc-delay', '0s'], env);
      expect(sweep.deferred, ctx('sweep deferred with no backup running')).toBe(0);
      await expectCheckPasses(env, ctx('after the following prune'));
      const snaps = (await listSnapshots(env)).map((s) => s.id);
      expect(new Set(snaps), ctx('snapshots')).toEqual(new Set([newer, snap]));
      for (const id of snaps) await expectRestores(env, id, src.root, hashesOf.get(id)!, base, ctx('after the following prune'));
      expect(await namesIn(repo, 'gc'), ctx('marks left')).toEqual([]);
    }
    expect(await lockFiles(repo)).toEqual([]);
    console.log(`concurrent backup + prune (seed ${SEED}):\n  ${outcomes.join('\n  ')}`);
  });

  // Bug (src/maintenance/prune.ts, sweep()): the swept packs' sizes are read from the
  // cache after step 2 has dropped the superseded index files, which drops the packs
  // only they named, so `swept.bytes` is 0 however much was deleted.
  it('prune reports the bytes it deleted', { timeout: 60_000 }, async () => {
    const base = join(dir, 'swept-bytes');
    const src = join(base, 'src');
    await mkdir(src, { recursive: true });
    await writeFile(join(src, 'keep.bin'), pseudoRandom(SEED >>> 0, 6 * MiB));
    await writeFile(join(src, 'drop.bin'), pseudoRandom((SEED + 1) >>> 0, 40 * MiB));
    const env = cairnEnv(join(base, 'repo'), join(base, 'cache'));
    expect((await runCairn(['init'], env)).code).toBe(0);
    const first = await cairnJson<BackupJson>(['backup', src], env);
    await rm(join(src, 'drop.bin'));
    await cairnJson<BackupJson>(['backup', src], env);
    await cairnJson(['forget', first.snapshot.id], env);

    const before = await packsOnDisk(join(base, 'repo'));
    const r = await cairnJson<PruneJson>(['prune', '--gc-delay', '0s'], env);
    const after = await packsOnDisk(join(base, 'repo'));
    const deleted = [...before].filter(([id]) => !after.has(id));
    expect(r.swept.packs).toBe(deleted.length);
    expect(deleted.length).toBeGreaterThan(0);
    expect(r.swept.bytes).toBe(deleted.reduce((n, [, size]) => n + size, 0));
  });

  // Issue #4: "no unattended backup may ever stop because of a lock left by a dead
  // process". kill-backup covers a dead writer's lock; this puts every kind of leftover
  // lock in the repository at once — a SIGKILLed prune's maintenance lock, a SIGKILLed
  // backup's writer lock, and fresh-looking locks of both kinds from another host whose
  // processes are gone (their pids cannot be checked from here) — and runs a backup at
  // once, without `unlock`.
  it('a backup right after a killed prune and a killed backup, beside other hosts\' locks, succeeds without unlock', { timeout: 120_000 }, async () => {
    const rand = prng(SEED ^ 0x10c5);
    const base = join(dir, 'dead-locks');
    const src = new SourceTree(join(base, 'src'), rand, SEED, { bigFiles: 4, bigMinMiB: 8, bigMaxMiB: 12, smallFiles: 100 });
    await src.create();
    const password = 'crash test password';
    const repo = join(base, 'repo');
    const env = cairnEnv(repo, join(base, 'cache'), password);
    expect((await runCairn(['init'], env)).code).toBe(0);
    // Garbage, so the prune has packs to repack (it runs long enough to be killed).
    for (let i = 0; i < 3; i++) {
      if (i > 0) await src.mutate(2);
      await cairnJson(['backup', src.root], env);
    }
    await cairnJson(['forget', '--keep-last', '1'], env);

    // 1. SIGKILL a prune while it holds the maintenance lock.
    const prune = spawnCairn(['--json', 'prune', '--gc-delay', '0s'], env);
    expect(await killWhen(prune, async () => (await lockFiles(repo)).length > 0), 'prune finished before it could be killed').toBe(true);
    await prune.done;
    expect(await lockFiles(repo)).toHaveLength(1);

    // 2. SIGKILL a backup mid-run (its writer lock is there, it has started storing data).
    await src.mutate(2);
    const dataBefore = await dataNames(repo);
    const backup = spawnCairn(['--json', 'backup', src.root], env);
    expect(
      await killWhen(backup, async () => (await lockFiles(repo)).length > 1 && (await newFileInData(repo, dataBefore))),
      'backup finished before it could be killed',
    ).toBe(true);
    await backup.done;
    expect(await lockFiles(repo)).toHaveLength(2);

    // 3. Locks of both kinds from another host, refreshed just now.
    const r = await Repository.open(new LocalBackend(repo), password, { clock: systemClock, random: systemRandom, cacheDir: ':memory:' });
    for (const kind of ['maintenance', 'writer'] as const) {
      const now = new Date().toISOString();
      const body = { kind, host: 'host-that-died', pid: 4242, user: 'x', created: now, refreshed: now };
      const keyId = r.masterKey.currentEncKey;
      const { bytes } = sealFile('lock', body, keyId, r.keyFor(keyId), systemRandom);
      await r.backend.save(`locks/${systemRandom(32).toString('hex')}`, bytes, { overwrite: true });
    }
    await r.close();
    expect(await lockFiles(repo)).toHaveLength(4);

    // 4. The next backup runs at once and succeeds; nobody ran `unlock`.
    const hashes = await src.hashes();
    const next = await runCairn(['--json', 'backup', src.root], env);
    expect(next.code, `backup beside dead locks: ${next.stdout} ${next.stderr}`).toBe(0);
    expect(next.ms, 'the backup waited').toBeLessThan(20_000);
    expect(next.stderr).not.toMatch(/lock/i);
    const id = (JSON.parse(next.stdout) as BackupJson).snapshot.id;
    await expectRestores(env, id, src.root, hashes, base, 'backup beside dead locks');
    await expectCheckPasses(env, 'after the backup beside dead locks');

    // Prune on this host ignores its own dead processes' locks at once, but another
    // host's fresh maintenance lock holds it off (for at most 30 minutes): a maintenance
    // job may wait; a backup never does.
    const blocked = await runCairn(['prune', '--gc-delay', '0s'], env);
    expect(blocked.code, blocked.stderr).toBe(11);
    expect(blocked.stderr).toMatch(/host-that-died/);
    expect((await runCairn(['--json', 'backup', src.root], env)).code).toBe(0);
  });
});
