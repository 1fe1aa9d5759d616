import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { CAIRN_BUILT, cairnEnv, killAllCairns, runCairn, spawnCairn } from '../helpers/cli.js';
import { crashSeed, killWhen, namesIn, prng, sleep } from './crash-kit.js';
import { makeTempRepo, type TempRepo } from '../helpers/temp-repo.js';
import type { CheckResult, SnapshotInfo } from '../../src/engine/types.js';

/**
 * `rewrite --exclude ... --forget` SIGKILLed at random moments never loses a snapshot:
 * each time is always held by the original or its rewrite (at most those two), the
 * repository always checks, and a final run leaves one rewritten snapshot per time.
 */

const SEED = crashSeed();

describe.skipIf(!CAIRN_BUILT)('SIGKILL during rewrite --forget', () => {
  let t: TempRepo | undefined;
  afterAll(async () => {
    killAllCairns();
    await t?.cleanup();
  });

  it(`no snapshot is lost, none is rewritten twice; a re-run completes (seed ${SEED})`, { timeout: 120_000 }, async () => {
    const rand = prng(SEED);
    t = await makeTempRepo();
    const src = join(t.dir, 'src');
    await mkdir(src, { recursive: true });
    await writeFile(join(src, 'secret.key'), 'do not keep\n');
    const s = await t.open();
    const times: string[] = [];
    for (let k = 0; k < 8; k++) {
      await writeFile(join(src, `v${k}.txt`), `version ${k}\n`);
      times.push((await s.backup({ paths: [src] })).snapshot.time);
    }
    await s.close();

    const env = cairnEnv(t.repo, t.cacheDir, t.password);
    const listing = async (): Promise<SnapshotInfo[]> => JSON.parse((await runCairn(['--json', 'snapshots'], env)).stdout) as SnapshotInfo[];
    let killed = 0;
    for (let round = 0; round < 6; round++) {
      const before = (await namesIn(t.repo, 'snapshots')).length;
      const child = spawnCairn(['rewrite', '--exclude', 'secret.key', '--forget'], env);
      // Even rounds: once the first snapshot file came or went. Odd: at a random moment.
      if (round % 2 === 0) {
        if (await killWhen(child, async () => (await namesIn(t!.repo, 'snapshots')).length !== before)) killed++;
      } else {
        await sleep(Math.floor(rand() * 700));
        if (child.kill('SIGKILL')) killed++;
      }
      await child.done;
      const now = await listing();
      expect([...new Set(now.map((x) => x.time))].sort(), `round ${round}: a snapshot lost`).toEqual([...times].sort());
      for (const time of times) expect(now.filter((x) => x.time === time).length, `round ${round}: ${time}`).toBeLessThanOrEqual(2);
      const check = await runCairn(['--json', 'check'], env);
      expect(check.code, check.stdout).toBe(0);
    }
    const last = await runCairn(['--json', 'rewrite', '--exclude', 'secret.key', '--forget'], env);
    expect(last.code, last.stderr).toBe(0);
    const final = await listing();
    expect(final.map((x) => x.time).sort()).toEqual([...times].sort());
    expect(final.every((x) => x.tags.includes('rewritten'))).toBe(true);
    const check = await runCairn(['--json', 'check', '--read-data'], env);
    expect(check.code, check.stdout).toBe(0);
    expect((JSON.parse(check.stdout) as CheckResult).problems).toEqual([]);
    console.log(`rewrite: ${killed} of 6 runs killed before they finished`);
  });
});
