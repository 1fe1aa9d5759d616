import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openBackend } from '../../src/backend/open-backend.js';
import { systemRandom } from '../../src/core/random.js';
import { syncIndex } from '../../src/repository/index-sync.js';
import { Repository } from '../../src/repository/repository.js';
import { bestWalSegments } from '../../src/snapshot/wal-record.js';
import { loadSegment, storeSegments, type SegmentFile } from '../../src/sources/postgres/wal-catalog.js';
import { CAIRN_BUILT, cairnEnv, killAllCairns, runCairn, spawnCairn } from '../helpers/cli.js';
import { pseudoRandom } from '../helpers/data.js';
import { crashSeed, dataNames, expectCheckPasses, killWhen, namesIn, newFileInData, prng, sleep } from './crash-kit.js';

/**
 * "A kill at any point never leaves a WAL record naming missing data", for `copy` of WAL
 * records (no PostgreSQL needed: synthetic segments stored the way the streamer stores
 * them). A primary P gets new records each round; `copy P → O` (other password: blobs
 * method) or `copy P → M` (mirror: packs method) is SIGKILLed at a seeded random time, at
 * its first new file in data/, or at its first new WAL record. After every kill the
 * destination passes check --read-data (which verifies that every blob a record names is
 * indexed) and every segment it holds loads with its recorded hash; the re-run completes,
 * and then the destination's best segment versions equal the primary's.
 * Replay with CAIRN_CRASH_SEED=<seed>.
 */

const SEED = crashSeed();
const ROUNDS = 6;
const SEG = 2 * 1024 * 1024;
const SOURCE = { name: 'db1', systemId: '7712695244149835622', segmentSize: 16 * 1024 * 1024 };

function segName(n: number): string {
  return `0000000100000000${n.toString(16).toUpperCase().padStart(8, '0')}`;
}

function segment(n: number, fill: number, partial: boolean): SegmentFile {
  const bytes = Buffer.alloc(SEG);
  pseudoRandom(SEED * 1000 + n, fill).copy(bytes);
  return { name: segName(n), partial, bytes };
}

async function openRepo(repo: string, password: string): Promise<Repository> {
  let t = Date.now();
  const clock = { now: () => new Date((t += 1)) };
  const r = await Repository.open(openBackend(repo), password, { clock, random: systemRandom, cacheDir: ':memory:', threads: 0 });
  await syncIndex(r);
  return r;
}

/** Best version per segment: name → sha256 (+ partial), each loaded and checked against its hash. */
async function catalog(repo: string, password: string): Promise<Record<string, string>> {
  const r = await openRepo(repo, password);
  try {
    const out: Record<string, string> = {};
    for (const { segment: s } of bestWalSegments(await r.listWalRecords()).values()) {
      await loadSegment(r, s); // throws on a missing blob or a hash mismatch
      out[s.name] = `${s.sha256}${s.partial ? ' partial' : ''}`;
    }
    return out;
  } finally {
    await r.close();
  }
}

describe.skipIf(!CAIRN_BUILT)('SIGKILL during copy of WAL records', () => {
  let dir: string;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'cairn-crash-copy-wal-'));
  });

  afterAll(async () => {
    killAllCairns();
    if (dir && !process.env.CAIRN_CRASH_KEEP) await rm(dir, { recursive: true, force: true });
    else if (dir) console.log(`kept ${dir}`);
  });

  it(`never leaves a record naming missing data; a re-run completes (seed ${SEED})`, { timeout: 180_000 }, async () => {
    const rand = prng(SEED);
    const cache = join(dir, 'cache');
    const P = cairnEnv(join(dir, 'P'), cache, 'primary password');
    const M = cairnEnv(join(dir, 'M'), cache, 'mirror password');
    const O = cairnEnv(join(dir, 'O'), cache, 'other password');
    expect((await runCairn(['init'], P)).code).toBe(0);
    expect((await runCairn(['init', '--mirror-of', P.CAIRN_REPO], { ...M, CAIRN_MIRROR_OF_PASSWORD: P.CAIRN_PASSWORD })).code).toBe(0);
    expect((await runCairn(['init'], O)).code).toBe(0);
    const fromP = { CAIRN_FROM_PASSWORD: P.CAIRN_PASSWORD };

    let next = 1;
    /** One streamer-like flush: segment `next` completes, `next + 1` is partial. */
    const flush = async (): Promise<void> => {
      const p = await openRepo(P.CAIRN_REPO, P.CAIRN_PASSWORD);
      try {
        await storeSegments(p, SOURCE, [segment(next, SEG, false), segment(next + 1, Math.floor(SEG * (0.2 + rand() * 0.6)), true)]);
      } finally {
        await p.close();
      }
      next++;
    };

    let killed = 0;
    for (let round = 0; round < ROUNDS; round++) {
      for (let i = 0; i < 3; i++) await flush();
      const [env, name] = round % 2 === 0 ? [{ ...O, ...fromP }, 'O'] : [{ ...M, ...fromP }, 'M'];
      const dest = env.CAIRN_REPO;
      const context = `round ${round} (copy P → ${name}, seed ${SEED})`;
      const dataBefore = await dataNames(dest);
      const walBefore = new Set(await namesIn(dest, 'wal'));
      const args = ['copy', '--from', P.CAIRN_REPO];
      const child = spawnCairn(args, env);
      const how = Math.floor(round / 2) % 3;
      if (how === 0) {
        await sleep(50 + rand() * 600);
        if (child.kill('SIGKILL')) killed++;
      } else if (how === 1) {
        if (await killWhen(child, () => newFileInData(dest, dataBefore))) killed++;
      } else if (await killWhen(child, async () => (await namesIn(dest, 'wal')).some((f) => !walBefore.has(f)))) killed++;
      const r = await child.done;
      if (r.signal === null) expect(r.code, `${context}: ${r.stdout}${r.stderr}`).toBe(0);

      await expectCheckPasses(env, `${context}, after the kill`);
      await catalog(dest, env.CAIRN_PASSWORD); // every segment present loads and matches its hash
      const again = await runCairn(args, env);
      expect(again.code, `${context}: re-run: ${again.stdout}${again.stderr}`).toBe(0);
      await expectCheckPasses(env, `${context}, after the re-run`);
      expect(await catalog(dest, env.CAIRN_PASSWORD), context).toEqual(await catalog(P.CAIRN_REPO, P.CAIRN_PASSWORD));
    }
    expect(killed, 'no copy was killed: the test proved nothing').toBeGreaterThan(ROUNDS / 2);
  });
});
