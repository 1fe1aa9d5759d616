import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { CAIRN_BUILT, cairnEnv, killAllCairns, runCairn, spawnCairn } from '../helpers/cli.js';
import { crashSeed, killWhen, namesIn, prng, sleep } from './crash-kit.js';
import { damageBlobIn } from '../helpers/damage.js';
import { makeTempRepo, type TempRepo } from '../helpers/temp-repo.js';
import { pseudoRandom } from '../helpers/data.js';
import type { CheckResult, SnapshotInfo } from '../../src/engine/types.js';
import type { Tree } from '../../src/snapshot/tree.js';

/**
 * `repair snapshots --forget` SIGKILLed at random moments never loses a snapshot: each
 * original's time is always held by the original or by its repaired copy, a repaired
 * copy is never stored twice, and a final run leaves one repaired snapshot per original
 * and a repository that checks.
 */

const SEED = crashSeed();

describe.skipIf(!CAIRN_BUILT)('SIGKILL during repair snapshots --forget', () => {
  let t: TempRepo | undefined;
  afterAll(async () => {
    killAllCairns();
    await t?.cleanup();
  });

  it(`no snapshot is lost, none is repaired twice; a re-run completes (seed ${SEED})`, { timeout: 120_000 }, async () => {
    const rand = prng(SEED);
    t = await makeTempRepo();
    const src = join(t.dir, 'src');
    await mkdir(join(src, 'docs'), { recursive: true });
    for (let i = 0; i < 6; i++) await writeFile(join(src, 'docs', `n${i}.txt`), pseudoRandom(500 + i, 3_000));
    let s = await t.open();
    const times: string[] = [];
    for (let k = 0; k < 6; k++) {
      await writeFile(join(src, `v${k}.txt`), `version ${k}\n`);
      times.push((await s.backup({ paths: [src] })).snapshot.time);
    }
    // n2.txt's only copy damaged and taken out: every snapshot names it.
    const snaps = await s.snapshots();
    const tree = (await s.cat('tree', `${snaps[0]!.id}:${join(src, 'docs')}`)) as Tree;
    const blob = tree.nodes.find((n) => n.name === 'n2.txt')!.content![0]!;
    await s.close();
    const pack = await damageBlobIn(t, t.dir, 'data', blob, 5);
    s = await t.open();
    expect((await s.repairPacks([pack])).blobsLost).toBe(1);
    await s.close();

    const env = cairnEnv(t.repo, t.cacheDir, t.password);
    const listing = async (): Promise<SnapshotInfo[]> => JSON.parse((await runCairn(['--json', 'snapshots'], env)).stdout) as SnapshotInfo[];
    let killed = 0;
    for (let round = 0; round < 6; round++) {
      const before = (await namesIn(t.repo, 'snapshots')).length;
      const child = spawnCairn(['repair', 'snapshots', '--forget'], env);
      // Even rounds: right after a repaired snapshot was stored, before its original
      // is forgotten. Odd rounds: at a random moment.
      if (round % 2 === 0) {
        if (await killWhen(child, async () => (await namesIn(t!.repo, 'snapshots')).length > before)) killed++;
      } else {
        await sleep(Math.floor(rand() * 700));
        if (child.kill('SIGKILL')) killed++;
      }
      await child.done;
      const now = await listing();
      // Every original time is still held, by the original or its repaired copy...
      expect([...new Set(now.map((x) => x.time))].sort(), `round ${round}`).toEqual([...times].sort());
      // ...and by at most one repaired copy.
      const repaired = now.filter((x) => x.tags.includes('repaired')).map((x) => x.time);
      expect(new Set(repaired).size, `round ${round}: a repaired copy stored twice`).toBe(repaired.length);
    }
    const last = await runCairn(['--json', 'repair', 'snapshots', '--forget'], env);
    expect(last.code, last.stderr).toBe(0);
    const final = await listing();
    expect(final.map((x) => x.time).sort()).toEqual([...times].sort());
    expect(final.every((x) => x.tags.includes('repaired'))).toBe(true);
    const check = await runCairn(['--json', 'check', '--read-data'], env);
    expect(check.code, check.stdout).toBe(0);
    expect((JSON.parse(check.stdout) as CheckResult).problems).toEqual([]);
    console.log(`repair snapshots: ${killed} of 6 runs killed before they finished`);
  });
});
