import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CAIRN_BUILT, cairnEnv, killAllCairns, runCairn, spawnCairn } from '../helpers/cli.js';
import { crashSeed, dataNames, killWhen, prng, SourceTree } from './crash-kit.js';
import type { CheckResult } from '../../src/engine/types.js';

/**
 * A backup killed after storing packs but before naming them in an index file leaves
 * packs no index names. `check` reports them (they are not damage, so it still passes),
 * and the next backup indexes them. Before, check said nothing about them at all.
 */

const SEED = crashSeed();

describe.skipIf(!CAIRN_BUILT)('packs a killed backup left unindexed', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'cairn-crash-unindexed-'));
  });
  afterAll(async () => {
    killAllCairns();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('check names them without failing; the next backup indexes them', { timeout: 90_000 }, async () => {
    const src = new SourceTree(join(dir, 'src'), prng(SEED), SEED, { bigFiles: 4, bigMinMiB: 12, bigMaxMiB: 16, smallFiles: 20 });
    await src.create();
    const repo = join(dir, 'repo');
    const env = cairnEnv(repo, join(dir, 'cache'));
    expect((await runCairn(['init'], env)).code).toBe(0);

    const child = spawnCairn(['backup', src.root], env);
    const finishedPack = async () => [...(await dataNames(repo))].some((f) => !f.startsWith('.tmp-'));
    expect(await killWhen(child, finishedPack), 'the backup ended before it stored a pack').toBe(true);
    await child.done;
    expect(await readdir(join(repo, 'index')).catch(() => []), 'an index file was written before the kill').toEqual([]);

    // Another host's view: a cache that never saw those packs.
    const fresh = cairnEnv(repo, join(dir, 'cache-fresh'));
    const before = await runCairn(['--json', 'check'], fresh);
    expect(before.code, before.stderr).toBe(0);
    const report = JSON.parse(before.stdout) as CheckResult;
    expect(report.ok).toBe(true);
    expect(report.unindexedPacks.length).toBeGreaterThan(0);
    const plain = await runCairn(['check'], fresh);
    expect(plain.stdout).toMatch(/packs? (is|are) in the repository but in no index file/);
    expect(plain.stdout).toContain('no errors were found');

    expect((await runCairn(['backup', src.root], env)).code).toBe(0);
    const after = JSON.parse((await runCairn(['--json', 'check', '--read-data'], fresh)).stdout) as CheckResult;
    expect(after).toMatchObject({ ok: true, unindexedPacks: [] });
  });
});
