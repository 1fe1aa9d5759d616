import { cp, mkdtemp, rm } from 'node:fs/promises';
import { flipByte } from '../helpers/damage.js';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CAIRN_BUILT, cairnEnv, cairnJson, killAllCairns, runCairn, spawnCairn } from '../helpers/cli.js';
import {
  crashSeed,
  dataNames,
  expectCheckPasses,
  expectRestores,
  killWhen,
  namesIn,
  newFileInData,
  packsOnDisk,
  prng,
  sleep,
  SourceTree,
  type CheckReport,
} from './crash-kit.js';

/**
 * Acceptance: killing `repair packs` with SIGKILL at random points never costs a blob
 * that still reads. Each round damages one more data pack (one flipped byte in the
 * middle: one blob), then runs `repair packs` on every damaged pack still in data/ and
 * kills it. Afterwards `check --read-data` may name only the damaged packs and the
 * blobs that were damaged. A repair that is let run then takes every damaged pack out,
 * a backup stores the lost data again, and every snapshot restores. Replay a failure
 * with CAIRN_CRASH_SEED=<seed>.
 */

const SEED = crashSeed();
const ROUNDS = 5;

interface RepairJson {
  packs: { id: string; status: string; lost: { type: string; id: string }[] }[];
  packsRemoved: number;
  blobsLost: number;
}

describe.skipIf(!CAIRN_BUILT)('SIGKILL during repair packs', () => {
  let dir: string;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'cairn-crash-repair-'));
  });

  afterAll(async () => {
    killAllCairns();
    if (dir && !process.env.CAIRN_CRASH_KEEP) await rm(dir, { recursive: true, force: true });
    else if (dir) console.log(`kept ${dir}`);
  });

  it(`loses nothing that reads; the repair then completes and a backup heals (seed ${SEED})`, { timeout: 180_000 }, async () => {
    const rand = prng(SEED);
    const base = join(dir, 'kill');
    const src = new SourceTree(join(base, 'src'), rand, SEED, { bigFiles: 12, bigMinMiB: 6, bigMaxMiB: 12, smallFiles: 120 });
    await src.create();
    const repo = join(base, 'repo');
    const cache = join(base, 'cache');
    const env = cairnEnv(repo, cache);
    expect((await runCairn(['init'], env)).code).toBe(0);
    // One backup: every blob is the current content of a file, so a backup can store any lost one again.
    const hashes = await src.hashes();
    const snapshot = (await cairnJson<{ snapshot: { id: string } }>(['backup', src.root], env)).snapshot.id;

    // Only packs of this backup are damaged: a pack salvaged by a killed repair holds
    // copies, and a blob damaged there may still read in the pack it came from.
    const original = new Set((await packsOnDisk(repo)).keys());
    const damaged = new Set<string>();
    const lost = new Set<string>();
    const log: string[] = [];
    let calibMs = 0;
    for (let round = 0; round < ROUNDS; round++) {
      const ctx = (what: string) => `seed ${SEED}, round ${round}: ${what}`;
      // Damage a data pack not damaged before (packs of a few MiB hold file data).
      const candidates = [...(await packsOnDisk(repo))].filter(([id, size]) => original.has(id) && size > 4 * 2 ** 20 && !damaged.has(id));
      expect(candidates.length, ctx('no data pack left to damage')).toBeGreaterThan(0);
      const [victimPack, size] = candidates[Math.floor(rand() * candidates.length)]!;
      await flipByte(join(repo, 'data', victimPack.slice(0, 2), victimPack), Math.floor(size / 2));
      damaged.add(victimPack);
      const present = new Set((await packsOnDisk(repo)).keys());
      const ids = [...damaged].filter((id) => present.has(id));
      const args = ['--json', 'repair', 'packs', ...ids];
      const dry = await cairnJson<RepairJson>(['repair', 'packs', '--dry-run', ...ids], env);
      for (const p of dry.packs) for (const b of p.lost) lost.add(b.id);

      if (round === 0) {
        // Calibration on a copy: how long an uninterrupted repair of the same state takes.
        const calibRepo = join(base, 'calib-repo');
        const calibCache = join(base, 'calib-cache');
        await cp(repo, calibRepo, { recursive: true });
        await cp(cache, calibCache, { recursive: true });
        const calib = await runCairn(args, cairnEnv(calibRepo, calibCache));
        expect(calib.code, calib.stderr).toBe(0);
        expect((JSON.parse(calib.stdout) as RepairJson).packsRemoved).toBe(1);
        calibMs = calib.ms;
        await rm(calibRepo, { recursive: true, force: true });
        await rm(calibCache, { recursive: true, force: true });
      }

      // Kill points: when the first salvaged pack is being written, when the index is
      // rewritten, or at a random time over the repair's life.
      const namesBefore = await dataNames(repo);
      const indexBefore = new Set(await namesIn(repo, 'index'));
      const victim = spawnCairn(args, env);
      const plan = round % 3;
      let how: string;
      if (plan === 0) {
        await killWhen(victim, () => newFileInData(repo, namesBefore));
        how = 'kill when a salvaged pack is being written';
      } else if (plan === 1) {
        await killWhen(victim, async () => (await namesIn(repo, 'index')).some((f) => !indexBefore.has(f)));
        how = 'kill when a new index file appears';
      } else {
        const delay = Math.round(rand() * 1.1 * calibMs);
        await sleep(delay);
        victim.kill('SIGKILL');
        how = `kill at ${delay}/${Math.round(calibMs)} ms`;
      }
      const run = await victim.done;
      const killed = run.signal === 'SIGKILL';
      if (!killed) expect(run.code, ctx(`repair finished before the kill but failed: ${run.stdout} ${run.stderr}`)).toBe(0);

      // Nothing that reads is lost: check names only damaged packs and damaged blobs.
      const r = await runCairn(['--json', 'check', '--read-data'], env);
      const report = JSON.parse(r.stdout) as CheckReport;
      for (const p of report.problems) {
        const known = (p.kind === 'pack' && damaged.has(p.id)) || (p.kind === 'blob' && lost.has(p.id));
        expect(known, ctx(`after ${how}: unexpected problem ${JSON.stringify(p)}`)).toBe(true);
      }
      log.push(`round ${round}: ${how} -> ${killed ? 'killed' : `exit ${run.code}`}, ${report.problems.length} known problems`);
    }

    // A repair that is let run takes every damaged pack out, keeping what reads.
    const present = new Set((await packsOnDisk(repo)).keys());
    const left = [...damaged].filter((id) => present.has(id));
    if (left.length > 0) {
      const final = await runCairn(['--json', 'repair', 'packs', ...left], env);
      expect(final.code, `seed ${SEED}: final repair: ${final.stdout} ${final.stderr}`).toBe(0);
    }
    for (const id of damaged) expect((await packsOnDisk(repo)).has(id)).toBe(false);
    const after = JSON.parse((await runCairn(['--json', 'check', '--read-data'], env)).stdout) as CheckReport;
    expect(after.problems.every((p) => p.kind === 'blob' && lost.has(p.id)), JSON.stringify(after.problems)).toBe(true);
    expect([...new Set(after.problems.map((p) => p.id))].sort(), JSON.stringify(after.problems)).toEqual([...lost].sort());

    // The files did not change since the backup: backing up again stores the lost blobs,
    // and the first snapshot, which names the same content, is whole again.
    await cairnJson(['backup', src.root], env);
    await expectCheckPasses(env, `seed ${SEED}, after the healing backup`);
    await expectRestores(env, snapshot, src.root, hashes, base, `seed ${SEED}, restore of the first snapshot`);
    console.log(`kill-repair-packs seed ${SEED}: ${damaged.size} packs damaged, ${lost.size} blobs lost\n  ${log.join('\n  ')}`);
  });
});
