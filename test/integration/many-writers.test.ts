import { mkdir, mkdtemp, rm, stat, unlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import pLimit from 'p-limit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CAIRN_BUILT, cairnEnv, cairnJson, killAllCairns, runCairn, spawnCairn, type CairnChild, type CairnRun } from '../helpers/cli.js';
import { pseudoRandom } from '../helpers/data.js';
import {
  crashSeed,
  expectCheckPasses,
  expectRestores,
  listSnapshots,
  lockFiles,
  namesIn,
  prng,
  sleep,
  hashTree,
  type ContentHashes,
} from '../crash/crash-kit.js';

/**
 * Issue #4 part 3, "many writers, one repository": two `cairn backup` processes, as if
 * on two hosts (own cache directory, own --host), and a `prune` (in some rounds after a
 * `forget --keep-last 2`) run at the same time on one repository, round after round,
 * with the sources changed between rounds. Content recurs (a small pool of big files
 * shared by both writers), so backups deduplicate against packs that prune is marking,
 * repacking and sweeping. Rounds are of two kinds (seeded): "free", the three start at
 * random offsets in any order; "paused", both backups are SIGSTOPped mid-run while
 * forget and prune run to completion, then continued (a slow backup, deterministically
 * overlapping the whole prune).
 *
 * Every backup and every prune must succeed (nobody waits for or fails on anyone),
 * except one SIGKILLed on purpose: in some free rounds of the first variant a seeded
 * victim (either backup or the prune) is killed at a seeded moment. At the end every
 * snapshot reported and not forgotten exists (plus at most one per killed backup),
 * check --read-data passes, and, after a last prune has swept every outstanding mark,
 * every reported one restores byte for byte to the content of its round.
 *
 * Variant "sweep while backing up": prune has --gc-delay 1s and each round's backups
 * run with their clocks advanced by round × 10 min (many-writers-clock-offset.mjs),
 * standing for backups that start long after the previous round's mark. So the marks
 * of one round are swept in a later round while that round's (paused) backups are
 * running: their locks do not hold the sweep back (they "started" > 5 min after the
 * mark), and must not need to, because they saw the mark when they started. (Without
 * the offset every sweep would wait for them: the 5-minute skew margin.)
 *
 * Replay with CAIRN_CRASH_SEED=<seed>.
 */

const SEED = crashSeed();
const ROUNDS = 7;
const CLOCK_PRELOAD = fileURLToPath(new URL('./many-writers-clock-offset.mjs', import.meta.url));
const KiB = 1024;

interface BackupJson {
  snapshot: { id: string; host: string };
}
interface PruneJson {
  marked: { packs: number };
  swept: { packs: number };
  repacked: { packs: number };
  deferred: number;
}

/** One simulated host: its source directory (same path every round), cache and host name. */
class Writer {
  readonly root: string;
  private small: string[] = [];
  private seq = 0;

  constructor(
    readonly name: string,
    base: string,
    readonly env: Record<string, string>,
    private readonly rand: () => number,
  ) {
    this.root = join(base, `src-${name}`);
  }

  private next(): number {
    return ((SEED ^ (this.name.charCodeAt(0) << 24)) + ++this.seq * 7919) >>> 0;
  }

  /** Changes the source the way a live system does; returns the content it now has. */
  async change(round: number): Promise<ContentHashes> {
    await mkdir(this.root, { recursive: true });
    // From a pool of four shared by both writers: content comes back after being forgotten.
    const pool = 1 + Math.floor(this.rand() * 4);
    await writeFile(join(this.root, 'pool.bin'), pseudoRandom(pool, 500 * KiB + pool * 150 * KiB));
    await writeFile(join(this.root, 'own.bin'), pseudoRandom(this.next() >>> 0, 600 * KiB));
    if (round === 0) await writeFile(join(this.root, 'steady.bin'), pseudoRandom(this.next() >>> 0, 700 * KiB));
    const edits = round === 0 ? 30 : 4;
    for (let i = 0; i < edits; i++) {
      if (round === 0 || this.small.length === 0) {
        const p = join(this.root, 's', `d${i % 5}`, `f${this.seq}.txt`);
        await mkdir(join(p, '..'), { recursive: true });
        this.small.push(p);
      }
      const p = round === 0 ? this.small[this.small.length - 1]! : this.small[Math.floor(this.rand() * this.small.length)]!;
      const n = this.next();
      await writeFile(p, this.rand() < 0.5 ? `${this.name} ${n}\n`.repeat(200 + (n % 500)) : pseudoRandom(n >>> 0, 2 * KiB + (n % 20) * KiB));
    }
    if (round > 0 && this.rand() < 0.5) await unlink(this.small.splice(Math.floor(this.rand() * this.small.length), 1)[0]!);
    return hashTree(this.root);
  }
}

describe.skipIf(!CAIRN_BUILT)('many writers, one repository', () => {
  let dir: string;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'cairn-many-writers-'));
  });
  afterAll(async () => {
    killAllCairns();
    if (dir && !process.env.CAIRN_CRASH_KEEP) await rm(dir, { recursive: true, force: true });
    else if (dir) console.log(`kept ${dir}`);
  });

  const variants = [
    { name: 'gc-delay 0s', gcDelay: '0s', skewWriters: false },
    { name: 'gc-delay 1s, marks swept in later rounds while backups run', gcDelay: '1s', skewWriters: true },
  ];

  for (const [vi, v] of variants.entries()) {
    it(`two backups and a prune at once, ${ROUNDS} rounds: ${v.name} (seed ${SEED})`, { timeout: 150_000 }, async () => {
      const rand = prng((SEED + vi * 0x9e3779b9) >>> 0);
      const base = join(dir, `v${vi}`);
      const repo = join(base, 'repo');
      const envFor = (cache: string) => ({ ...cairnEnv(repo, join(base, cache)), CAIRN_THREADS: '1' });
      const maintEnv = envFor('cache-maint');
      expect((await runCairn(['init'], maintEnv)).code).toBe(0);
      const writers = ['a', 'b'].map((n) => new Writer(n, base, envFor(`cache-${n}`), prng((SEED + n.charCodeAt(0)) >>> 0)));

      const expected = new Map<string, { writer: Writer; hashes: ContentHashes; round: number }>();
      const forgotten = new Set<string>();
      const log: string[] = [];
      let sweptWhileBackingUp = 0;
      const ctx = (round: number, what: string) => `seed ${SEED}, ${v.name}, round ${round}: ${what}`;
      const ok = (r: CairnRun, what: string) => {
        expect(r.code, `${what} exited ${r.code ?? r.signal}\nstdout: ${r.stdout}\nstderr: ${r.stderr}`).toBe(0);
        return JSON.parse(r.stdout) as unknown;
      };

      let lastPruneEnd = 0;
      let killedBackups = 0;
      for (let round = 0; round < ROUNDS; round++) {
        const contents = await Promise.all(writers.map((w) => w.change(round)));
        // In the sweep variant every later round forgets and pauses, so that each prune
        // has a mark of the round before to sweep while the backups are stopped.
        const forget = round >= 2 && (v.skewWriters || round % 2 === 0 || rand() < 0.5);
        // Two kinds of round. free: the three start at seeded offsets, in any order.
        // paused: each backup is SIGSTOPped mid-run (a seeded delay after its lock
        // appears) while forget and prune run to the end, then continued.
        const paused = (v.skewWriters && round >= 3) || round % 2 === 1 || rand() < 0.3;
        const offsets = [0, 1, 2].map(() => Math.floor(rand() * (paused ? 150 : 600)));
        const offsetEnv = (w: Writer) =>
          v.skewWriters ? { ...w.env, NODE_OPTIONS: `--import ${CLOCK_PRELOAD}`, CAIRN_TEST_CLOCK_OFFSET_MS: String(round * 10 * 60_000) } : w.env;
        const spawnBackup = (w: Writer) => spawnCairn(['--json', 'backup', w.root, '--host', `host-${w.name}`], offsetEnv(w));
        const children: CairnChild[] = [];
        let backups: Promise<CairnRun[]>;
        let stopped = 0;
        if (paused) {
          for (const [i, w] of writers.entries()) {
            const locksBefore = new Set(await lockFiles(repo));
            const c = spawnBackup(w);
            children.push(c);
            const deadline = Date.now() + 20_000;
            let mine: string | undefined;
            while (!(mine = (await lockFiles(repo)).find((f) => !locksBefore.has(f))) && !c.exited && Date.now() < deadline) await sleep(2);
            // In even rounds the backup is stopped only once its lock records the gc marks
            // it loaded (the lock's first rewrite, recordMarksSeen), so the prune may sweep
            // the marks of earlier rounds: this variant must see that happen. In odd rounds
            // it may be stopped before, and the prune must then defer the sweep. (Stopping
            // at any point made every round defer on a loaded machine.)
            if (mine && v.skewWriters && round % 2 === 0) {
              const inode = () => stat(join(repo, 'locks', mine!)).then((s) => s.ino, () => -1);
              const first = await inode();
              while ((await inode()) === first && !c.exited && Date.now() < deadline) await sleep(2);
            }
            await sleep(offsets[i]!);
            if (c.kill('SIGSTOP')) stopped++;
          }
          backups = Promise.all(children.map((c) => c.done));
          // Let marks of earlier rounds age past the gc delay, so this prune may sweep them.
          await sleep(Math.max(0, lastPruneEnd + 1200 - performance.now()));
        } else {
          backups = Promise.all(
            writers.map(async (w, i) => {
              await sleep(offsets[i]!);
              const c = spawnBackup(w);
              children[i] = c;
              return c.done;
            }),
          );
        }
        // In some free rounds of the first variant one of the three is SIGKILLed at a
        // seeded moment: a reported snapshot must survive any process dying anywhere.
        const victim = !v.skewWriters && !paused && round > 0 && rand() < 0.8 ? Math.floor(rand() * 3) : -1;
        const killAt = 150 + Math.floor(rand() * 900);
        let pruneChild: CairnChild | undefined;
        const killer = (async () => {
          if (victim < 0) return false;
          await sleep(killAt);
          const target = victim < 2 ? children[victim] : pruneChild;
          return target?.kill('SIGKILL') ?? false;
        })();
        const maintenance = (async () => {
          if (!paused) await sleep(offsets[2]!);
          try {
            let removed: string[] = [];
            if (forget) removed = (ok(await runCairn(['--json', 'forget', '--keep-last', '2'], maintEnv), 'forget') as { removed: string[] }).removed;
            pruneChild = spawnCairn(['--json', 'prune', '--gc-delay', v.gcDelay], maintEnv);
            const run = await pruneChild.done;
            lastPruneEnd = performance.now();
            const prune = run.signal === 'SIGKILL' ? null : (ok(run, 'prune') as PruneJson);
            return { removed, prune };
          } finally {
            for (const c of children) c?.kill('SIGCONT');
          }
        })();
        const [results, m, killed] = await Promise.all([backups, maintenance, killer]);

        for (const [i, r] of results.entries()) {
          if (r.signal === 'SIGKILL') {
            killedBackups++;
            continue; // reported nothing; may or may not have committed
          }
          const b = ok(r, ctx(round, `backup ${writers[i]!.name}`)) as BackupJson;
          expect(b.snapshot.host).toBe(`host-${writers[i]!.name}`);
          expected.set(b.snapshot.id, { writer: writers[i]!, hashes: contents[i]!, round });
        }
        for (const id of m.removed) {
          // Only a killed backup can have left a snapshot nobody reported.
          if (!expected.has(id)) expect(killedBackups, ctx(round, `forget removed ${id.slice(0, 8)}, which no backup reported`)).toBeGreaterThan(0);
          expected.delete(id);
          forgotten.add(id);
        }
        if (stopped > 0 && m.prune && m.prune.swept.packs > 0) sweptWhileBackingUp++;
        const p = m.prune;
        log.push(
          `round ${round}: ${paused ? `${stopped} backups paused during forget+prune` : `offsets ${offsets.join('/')} ms`}, ` +
            `${forget ? `forgot ${m.removed.length}, ` : ''}` +
            (p ? `prune marked ${p.marked.packs}, repacked ${p.repacked.packs}, swept ${p.swept.packs}, deferred ${p.deferred}` : 'prune killed') +
            (killed ? `; SIGKILL ${['backup a', 'backup b', 'prune'][victim]} at ${killAt} ms` : ''),
        );
        if (round === Math.floor(ROUNDS / 2)) await expectCheckPasses(maintEnv, ctx(round, 'mid-run check'));
      }

      console.log(`many writers (${v.name}, seed ${SEED}):\n  ${log.join('\n  ')}`);
      // The snapshots are those reported and not forgotten, plus at most one per killed
      // backup (killed after its snapshot was saved, before it could report it).
      const listed = (await listSnapshots(maintEnv)).map((s) => s.id);
      for (const id of expected.keys()) expect(listed, `seed ${SEED}: reported snapshot ${id.slice(0, 8)} is gone`).toContain(id);
      expect(listed.filter((id) => !expected.has(id)).length, `seed ${SEED}: snapshots nobody reported`).toBeLessThanOrEqual(killedBackups);
      await expectCheckPasses(maintEnv, `seed ${SEED}, ${v.name}, after the rounds`);

      // A last prune with nothing running sweeps every mark left; then everything restores.
      const last = await cairnJson<PruneJson>(['prune', '--gc-delay', '0s'], maintEnv);
      expect(last.deferred, 'a dead process held the last prune back').toBe(0);
      expect(await namesIn(repo, 'gc')).toEqual([]);
      await expectCheckPasses(maintEnv, `seed ${SEED}, ${v.name}, after the last prune`);
      const limit = pLimit(2);
      await Promise.all(
        [...expected].map(([id, s]) =>
          limit(() => expectRestores(s.writer.env, id, s.writer.root, s.hashes, base, `seed ${SEED}, ${v.name}, round ${s.round}, writer ${s.writer.name}`)),
        ),
      );
      expect(await lockFiles(repo), 'locks left behind').toEqual([]);
      if (v.skewWriters) expect(sweptWhileBackingUp, 'no sweep happened while a backup was running').toBeGreaterThan(0);
      console.log(
        `many writers (${v.name}, seed ${SEED}): ${expected.size} snapshots kept, ${forgotten.size} forgotten, ` +
          `${sweptWhileBackingUp} rounds swept while backups were paused mid-run; last prune swept ${last.swept.packs}`,
      );
    });
  }
});
