import { mkdtemp, rm } from 'node:fs/promises';
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
  newFileInData,
  prng,
  sleep,
  SourceTree,
  type ContentHashes,
} from './crash-kit.js';

/**
 * Acceptance: "killing any process at random points never loses a reported snapshot",
 * for the replication paths. Three repositories: a primary P, a mirror M (init
 * --mirror-of P) and an independent O with its own password. Each round changes the
 * source and SIGKILLs, at a seeded random time or at a chosen step (the first new file
 * in the destination's data/), one of: `backup --mirror M` into P, `copy P → O` (blobs
 * method), `copy P → M` (packs method). After every kill, in every repository:
 * check --read-data passes, and every snapshot present restores byte for byte to the
 * source state it was made from (matched by snapshot time, which copies keep); then the
 * interrupted command is run again and completes. Replay with CAIRN_CRASH_SEED=<seed>.
 */

const SEED = crashSeed();
const ROUNDS = 6;

interface Snap {
  id: string;
  time: string;
}

describe.skipIf(!CAIRN_BUILT)('SIGKILL during copy and mirrored backup', () => {
  let dir: string;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'cairn-crash-copy-'));
  });

  afterAll(async () => {
    killAllCairns();
    if (dir && !process.env.CAIRN_CRASH_KEEP) await rm(dir, { recursive: true, force: true });
    else if (dir) console.log(`kept ${dir}`);
  });

  it(`never loses a snapshot; a re-run completes (seed ${SEED})`, { timeout: 240_000 }, async () => {
    const rand = prng(SEED);
    const src = new SourceTree(join(dir, 'src'), rand, SEED, { bigFiles: 3, bigMinMiB: 2, bigMaxMiB: 4, smallFiles: 60 });
    await src.create();
    const cache = join(dir, 'cache');
    const P = cairnEnv(join(dir, 'P'), cache, 'primary password');
    const M = cairnEnv(join(dir, 'M'), cache, 'mirror password');
    const O = cairnEnv(join(dir, 'O'), cache, 'other password');
    expect((await runCairn(['init'], P)).code).toBe(0);
    expect((await runCairn(['init', '--mirror-of', P.CAIRN_REPO], { ...M, CAIRN_MIRROR_OF_PASSWORD: P.CAIRN_PASSWORD })).code).toBe(0);
    expect((await runCairn(['init'], O)).code).toBe(0);
    const fromP = { CAIRN_FROM_PASSWORD: P.CAIRN_PASSWORD };

    /** Source content by snapshot time (copies keep the time). */
    const states = new Map<string, ContentHashes>();
    /** Per repository, snapshot ids already restored and compared (snapshots are immutable). */
    const verified = new Map<string, Set<string>>([
      ['P', new Set()],
      ['M', new Set()],
      ['O', new Set()],
    ]);
    const repos: [string, Record<string, string>][] = [
      ['P', P],
      ['M', M],
      ['O', O],
    ];

    /** Checks the named repositories (default all): the ones the killed command wrote to. */
    const verifyAll = async (current: ContentHashes, context: string, only?: string[]): Promise<void> => {
      for (const [name, env] of repos) {
        if (only && !only.includes(name)) continue;
        await expectCheckPasses(env, `${context}, ${name}`);
        const snaps = await cairnJson<Snap[]>(['snapshots'], env);
        for (const s of snaps) {
          // A snapshot time never seen before can only come from the killed command (a
          // backup of the current state); copies carry the source's time.
          if (!states.has(s.time)) {
            expect(name, `${context}: unknown snapshot ${s.id.slice(0, 8)} in ${name}`).toBe('P');
            states.set(s.time, current);
          }
          if (verified.get(name)!.has(s.id)) continue;
          await expectRestores(env, s.id, src.root, states.get(s.time)!, dir, `${context}, ${name}`);
          verified.get(name)!.add(s.id);
        }
      }
    };

    // Round 0: a plain first backup so that copies have something to move.
    const b0 = await cairnJson<{ snapshot: Snap }>(['backup', src.root], P);
    const initial = await src.hashes();
    states.set(b0.snapshot.time, initial);

    const kinds = ['backup', 'copy-blobs', 'copy-packs'] as const;
    let killed = 0;
    for (let round = 0; round < ROUNDS; round++) {
      const kind = kinds[round % kinds.length]!;
      await src.mutate(1);
      const current = await src.hashes();
      if (kind !== 'backup') {
        // New data for the copy to move.
        const b = await cairnJson<{ snapshot: Snap }>(['backup', src.root], P);
        states.set(b.snapshot.time, current);
      }
      const [args, env, dest] =
        kind === 'backup'
          ? [['backup', src.root, '--mirror', M.CAIRN_REPO!], P, M.CAIRN_REPO!]
          : kind === 'copy-blobs'
            ? [['copy', '--from', P.CAIRN_REPO!], { ...O, ...fromP }, O.CAIRN_REPO!]
            : [['copy', '--from', P.CAIRN_REPO!], { ...M, ...fromP }, M.CAIRN_REPO!];
      const context = `round ${round} (${kind}, seed ${SEED})`;
      const before = await dataNames(dest);
      const child = spawnCairn(args, env);
      const atStep = Math.floor(round / kinds.length) % 2 === 1;
      if (atStep) {
        if (await killWhen(child, () => newFileInData(dest, before))) killed++;
      } else {
        await sleep(150 + rand() * 900);
        if (child.kill('SIGKILL')) killed++;
      }
      const r = await child.done;
      if (r.signal === null) expect([0, 5], `${context}: ${r.stdout}${r.stderr}`).toContain(r.code);

      const touched = kind === 'backup' ? ['P', 'M'] : kind === 'copy-blobs' ? ['O'] : ['M'];
      await verifyAll(current, `${context}, after the kill`, touched);
      // The same command again completes.
      const again = await runCairn(args, env);
      expect(again.code, `${context}: re-run: ${again.stdout}${again.stderr}`).toBe(0);
      if (kind === 'backup') {
        const snaps = await cairnJson<Snap[]>(['snapshots'], P);
        states.set(snaps[snaps.length - 1]!.time, current);
      }
      await verifyAll(current, `${context}, after the re-run`, touched);
    }
    // Finally both copies hold everything the primary holds.
    expect((await runCairn(['copy', '--from', P.CAIRN_REPO!], { ...O, ...fromP })).code).toBe(0);
    expect((await runCairn(['copy', '--from', P.CAIRN_REPO!], { ...M, ...fromP })).code).toBe(0);
    const times = async (env: Record<string, string>) => (await cairnJson<Snap[]>(['snapshots'], env)).map((s) => s.time).sort();
    const pTimes = await times(P);
    expect(await times(O)).toEqual(pTimes);
    expect(await times(M)).toEqual(pTimes);
    await verifyAll(await src.hashes(), 'final');
    expect(killed, 'most commands should have been killed while running').toBeGreaterThanOrEqual(ROUNDS / 2);
  });
});
