import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { killAllCairns, spawnCairn, type CairnChild } from '../../helpers/cli.js';
import { expectOk, freshRepo, requireBuild, type Cli } from '../../e2e/support.js';

/**
 * The sources contract (src/sources/types.ts) as tests, run through the built CLI
 * against a real store that the adapter starts privately (temp dir, free port):
 *
 *   sourceSuite(adapter);   // test/sources/<store>-contract.test.ts
 *
 * The same scenario for every store. With a log (`hasLog`):
 *   backup → units → `stream` (1 s flush) while units are written → a quiet gap (T1) →
 *   more units → kill -9 of the streamer → units while it is down → restart → quiet gap
 *   (T2) → units → `pitr NAME`: exit 0, one window, no gap → `restore --at T1`, `--at T2`:
 *   exactly the units written before → `--at latest`: all of them → two more backups while
 *   the streamer runs (as the runbooks have it); the second, of an unchanged store, grows
 *   the repository by < 5% of what the first did → `forget --keep-within 30d --prune` → units → SIGTERM: still one
 *   window, restores still exact → `check --read-data`.
 * Without a log (S3): backup → unchanged backup reads nothing new → units → backup →
 *   `restore --at` between the two picks the older state, `latest` the newer → forget,
 *   check.
 *
 * Times T are chosen in quiet gaps of ≥ 1.2 s on both sides: one second is the documented
 * precision of the sqlite, mariadb (binlog event times) and redis (arrival times) logs.
 */
export interface SourceUnderTest {
  /** The store's type as snapshots and `pitr` report it. */
  type: 'postgres' | 'mariadb' | 'redis' | 'sqlite' | 's3';
  /** The --name used throughout. */
  name: string;
  /** False for stores without a continuous log (s3): no stream, no pitr. */
  hasLog: boolean;
  /**
   * Starts the private store (free port, temp dir) with ~`fillerBytes` of distinct
   * data that never changes, so that "an unchanged backup adds almost nothing" is
   * measured against more than the chunker's 1 MiB average chunk. `dir` is scratch.
   */
  start(dir: string, fillerBytes: number): Promise<void>;
  stop(): Promise<void>;
  /** Extra environment for every cairn command (credentials of the store). */
  env?(): Record<string, string>;
  /** What `cairn backup` / `cairn stream` take. */
  url(): string;
  /** Writes one unit of data (a row, a key, an object) identified by i; resolves when acknowledged. */
  write(i: number): Promise<void>;
  /**
   * The tail of `cairn restore --source NAME --at AT …` for this store (--target DIR,
   * --to URL, --start --port …). `target` is a fresh path that does not exist yet.
   */
  restoreArgs(target: string): Promise<string[]>;
  /** Which units the restore into `target` holds (sorted ascending). */
  read(target: string): Promise<number[]>;
  /** Releases what a restore started (a server on the restored data directory). */
  cleanupRestore?(target: string): Promise<void>;
  /**
   * The log must be streaming before the first backup (PostgreSQL: the streamer starts
   * at the server's current WAL position through a new slot, so WAL written between an
   * earlier base backup and the first `stream` is never stored; docs/runbooks/postgres-pitr.md
   * starts the streamer first). Other stores continue from the backup's coordinates
   * (mariadb) or take their own base when streaming starts (sqlite, redis).
   */
  streamFirst?: boolean;
  /**
   * A store whose snapshot format rewrites a fixed number of chunks on every backup even
   * when nothing changed (a header with a timestamp, a whole-file checksum trailer) costs
   * a constant, not a share: the unchanged backup is then held to at most `maxDataBlobs`
   * new data blobs instead of < 5% of the first. Say why; it is a finding, not a pass.
   */
  unchangedBackup?: { maxDataBlobs: number; why: string };
  /** The exact commit time of unit i, where the store knows it (ISO with offset). */
  commitTime?(i: number): Promise<string>;
}

export interface SourceSuiteOptions {
  /** Distinct (non-repeating), unchanging data in the store (default 24 MiB). */
  fillerBytes?: number;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const range = (from: number, to: number) => Array.from({ length: to - from + 1 }, (_, i) => from + i);
/** Quiet time on each side of a chosen T. */
const QUIET = 1300;

export function sourceSuite(s: SourceUnderTest, options: SourceSuiteOptions = {}): void {
  const fillerBytes = options.fillerBytes ?? 24 * 1024 * 1024;

  describe(`Source contract: ${s.type}`, () => {
    let cli: Cli;
    let streamer: CairnChild | null = null;
    let restores = 0;
    /** Wall times around each unit's write, for stores that do not report commit times. */
    const sent = new Map<number, number>();
    const acked = new Map<number, number>();

    beforeAll(async () => {
      requireBuild();
      cli = await freshRepo(`contract-${s.type}`);
      await s.start(join(cli.dir, 'store'), fillerBytes);
      Object.assign(cli.env, s.env?.() ?? {});
    }, 120_000);

    afterAll(async () => {
      streamer?.kill('SIGKILL');
      killAllCairns();
      await s.stop().catch(() => undefined);
      if (cli) await rm(cli.dir, { recursive: true, force: true });
    }, 60_000);

    async function units(from: number, to: number, spacingMs = 40): Promise<void> {
      for (let i = from; i <= to; i++) {
        sent.set(i, Date.now());
        await s.write(i);
        acked.set(i, Date.now());
        await sleep(spacingMs);
      }
    }

    /** A time between unit `a` and unit `b` (b written after a quiet gap). */
    async function between(a: number, b: number): Promise<string> {
      if (s.commitTime) {
        const [ta, tb] = [Date.parse(await s.commitTime(a)), Date.parse(await s.commitTime(b))];
        expect(tb - ta, `units ${a} and ${b} are ${tb - ta} ms apart`).toBeGreaterThan(2 * QUIET - 200);
        return new Date((ta + tb) / 2).toISOString();
      }
      return new Date((acked.get(a)! + sent.get(b)!) / 2).toISOString();
    }

    async function restoreAt(at: string): Promise<number[]> {
      const target = join(cli.dir, `restore-${++restores}`);
      const tail = await s.restoreArgs(target);
      const args = ['restore', '--source', s.name, '--at', at, ...tail];
      const r = await cli.run(args);
      try {
        expectOk(r, args);
        return await s.read(target);
      } finally {
        await s.cleanupRestore?.(target);
        await rm(target, { recursive: true, force: true });
      }
    }

    async function backup(): Promise<any> {
      const out = await cli.json(['backup', s.url(), '--name', s.name]);
      expect(out.snapshot.source).toEqual({ type: s.type, name: s.name });
      return out;
    }

    async function startStreamer(): Promise<CairnChild> {
      const c = spawnCairn(['stream', s.url(), '--name', s.name, '--flush-interval', '1s'], cli.env);
      let err = '';
      c.child.stderr!.on('data', (b: Buffer) => (err += b.toString()));
      for (let i = 0; i < 300 && !/^(streaming|capturing) /m.test(err); i++) {
        if (c.exited) break;
        await sleep(50);
      }
      if (!/^(streaming|capturing) /m.test(err)) {
        c.kill('SIGKILL');
        const end = await c.done;
        throw new Error(`cairn stream did not start (exit ${end.code ?? end.signal})\n${end.stderr}`);
      }
      return c;
    }

    async function pitrReport(): Promise<any> {
      const r = await cli.run(['--json', 'pitr', s.name]);
      expect(r.code, `pitr ${s.name}\n${r.stdout}\n${r.stderr}`).toBe(0);
      return JSON.parse(r.stdout);
    }

    /** What the first backup grew the repository by (packed: compressed, encrypted). */
    let firstAdded = 0;

    /**
     * Measured as the repository grows (bytesAddedPacked): an unchanged PostgreSQL base
     * still stores its own new WAL segment, mostly zeros, ~4.6 MB raw but ~60 KB packed.
     */
    function expectAlmostNothing(summary: { bytesAddedPacked: number; dataBlobs: number }): void {
      const what = `first backup added ${firstAdded} B packed; the unchanged one ${summary.bytesAddedPacked} B in ${summary.dataBlobs} data blobs`;
      if (s.unchangedBackup) {
        console.warn(`${s.type}: ${what} (known: ${s.unchangedBackup.why})`);
        expect(summary.dataBlobs, what).toBeLessThanOrEqual(s.unchangedBackup.maxDataBlobs);
      } else {
        expect(summary.bytesAddedPacked, what).toBeLessThan(firstAdded * 0.05);
      }
    }
    const times: Record<string, string> = {};

    if (s.hasLog) {
      it('backup, then stream with a concurrent writer, kill -9 and restart: pitr reports one window', async () => {
        if (s.streamFirst) streamer = await startStreamer();
        await units(1, 3);
        const first = await backup();
        firstAdded = first.snapshot.summary.bytesAddedPacked;
        expect(first.snapshot.summary.bytesAdded).toBeGreaterThan(fillerBytes / 2);
        await units(4, 5);

        streamer ??= await startStreamer();
        await units(6, 9); // concurrent with capture
        await sleep(2 * QUIET);
        await units(10, 12);
        times.t1 = await between(9, 10);
        await sleep(1500); // flushed at least once
        streamer.kill('SIGKILL');
        await streamer.done;
        streamer = null;
        await units(13, 15); // while no streamer runs

        streamer = await startStreamer();
        await units(16, 17);
        await sleep(2 * QUIET);
        await units(18, 20);
        times.t2 = await between(17, 18);
        await sleep(2500); // stored by the running streamer (1 s flushes)

        const report = await pitrReport();
        expect(report.gaps, JSON.stringify(report)).toEqual([]);
        expect(report.windows, JSON.stringify(report)).toHaveLength(1);
        const w = report.windows[0];
        expect(w.from <= times.t1! && times.t2! <= w.to, `${times.t1} and ${times.t2} inside ${w.from} .. ${w.to}`).toBe(true);
      }, 90_000);

      it('restore --at T gives exactly the units written before T; latest gives all', async () => {
        expect(await restoreAt(times.t1!), `--at ${times.t1}`).toEqual(range(1, 9));
        expect(await restoreAt(times.t2!), `--at ${times.t2}`).toEqual(range(1, 17));
        expect(await restoreAt('latest')).toEqual(range(1, 20));
      }, 90_000);

      it('a backup of the unchanged store (streamer running) adds almost nothing', async () => {
        await backup(); // the store changed since the first backup: this one may add the changed chunks
        const again = await backup();
        expectAlmostNothing(again.snapshot.summary);
      }, 60_000);

      it('forget --keep-within 30d --prune keeps what the window needs; SIGTERM; check --read-data passes', async () => {
        expectOk(await cli.run(['forget', '--source', s.name, '--keep-within', '30d', '--prune']));
        await units(21, 22);
        await sleep(2500);
        const st = streamer!;
        streamer = null;
        st.kill('SIGTERM');
        const end = await st.done;
        expect(end.code, end.stderr).toBe(0);
        const report = await pitrReport();
        expect(report.gaps, JSON.stringify(report)).toEqual([]);
        expect(report.windows, JSON.stringify(report)).toHaveLength(1);
        expect(await restoreAt(times.t1!), `--at ${times.t1} after forget`).toEqual(range(1, 9));
        expect(await restoreAt('latest')).toEqual(range(1, 22));
        expectOk(await cli.run(['check', '--read-data']), ['check', '--read-data']);
      }, 90_000);
    } else {
      it('backup; an unchanged backup reads nothing new; restore --at between two backups picks the older', async () => {
        await units(1, 3);
        const first = await backup();
        firstAdded = first.snapshot.summary.bytesAddedPacked;
        expect(first.snapshot.summary.bytesAdded).toBeGreaterThan(fillerBytes / 2);
        const second = await backup();
        expect(second.snapshot.summary, JSON.stringify(second.snapshot.summary)).toMatchObject({ filesNew: 0, filesChanged: 0 });
        expectAlmostNothing(second.snapshot.summary);
        await sleep(QUIET);
        times.t1 = new Date().toISOString();
        await sleep(QUIET);
        await units(4, 6);
        const third = await backup();
        expect(third.snapshot.summary.filesNew).toBe(3);
        expect(await restoreAt(times.t1), `--at ${times.t1}`).toEqual(range(1, 3));
        expect(await restoreAt('latest')).toEqual(range(1, 6));
      }, 90_000);

      it('forget --keep-within 30d --prune keeps the snapshots; check --read-data passes', async () => {
        expectOk(await cli.run(['forget', '--source', s.name, '--keep-within', '30d', '--prune']));
        expect(await restoreAt(times.t1!)).toEqual(range(1, 3));
        expectOk(await cli.run(['check', '--read-data']), ['check', '--read-data']);
      }, 60_000);
    }
  });
}
