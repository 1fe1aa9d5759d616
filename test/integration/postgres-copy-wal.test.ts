import { promises as fsp } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { killAllCairns, spawnCairn, type CairnChild } from '../helpers/cli.js';
import { freePort, pgUnavailable, psqlAt, startPgCluster, stopDataDir, type PgCluster } from '../helpers/pg-cluster.js';
import { cliFor, expectOk, requireBuild, scratchDir, type Cli } from '../e2e/support.js';
import { openBackend } from '../../src/backend/open-backend.js';
import { systemClock } from '../../src/core/clock.js';
import { systemRandom } from '../../src/core/random.js';
import { syncIndex } from '../../src/repository/index-sync.js';
import { Repository } from '../../src/repository/repository.js';
import { bestWalSegments } from '../../src/snapshot/wal-record.js';

/**
 * WAL survives copy (issue #4 for databases), against one private PostgreSQL 15 cluster,
 * through the built CLI: stream + base backup into A; `copy` to an independent B (other
 * password: blobs method) and to a mirror M (init --mirror-of A: packs method); `pitr`
 * shows the same window on A, B and M; a second copy moves nothing; after more WAL the
 * next copy moves only the new records; `restore --source --at T` from B alone (A moved
 * away) gives exactly the rows committed before T; check on a copy of A whose WAL pack
 * was removed names the affected segment.
 */
const skip = pgUnavailable();
const d = skip ? describe.skip : describe;
const NAME = 'db1';

let pg: PgCluster;
let dir: string;
let A: Cli;
let B: Cli;
let M: Cli;
let streamer: CairnChild | null = null;
let firstCopied = 0;
const times: Record<string, string> = {};

async function waitFor(what: string, ok: () => Promise<boolean>, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await ok()) return;
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error(`timed out waiting for ${what}`);
}

async function pitr(c: Cli): Promise<{ code: number | null; report: any }> {
  const r = await c.run(['--json', 'pitr', NAME]);
  return { code: r.code, report: JSON.parse(r.stdout) };
}

async function serverNow(): Promise<string> {
  return pg.sql(`SELECT to_char(clock_timestamp() AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')`);
}

async function insert(id: number): Promise<void> {
  await pg.sql(`INSERT INTO t VALUES (${id}, 'row ${id}')`);
  await new Promise((r) => setTimeout(r, 30));
}

/** Streams until A's stored WAL reaches a commit at or after `time`, then stops the streamer (SIGTERM: stores what arrived, exits 0). */
async function streamUntil(time: string): Promise<void> {
  await waitFor(`WAL up to ${time}`, async () => {
    const { report } = await pitr(A);
    return report.windows?.length > 0 && report.windows.at(-1).to >= time;
  });
  streamer!.kill('SIGTERM');
  const done = await streamer!.done;
  streamer = null;
  expect(done.code, done.stderr).toBe(0);
}

function startStreamer(): void {
  streamer = spawnCairn(['stream', pg.url, '--name', NAME, '--flush-interval', '1s'], A.env);
}

async function copyTo(c: Cli): Promise<any> {
  const r = await c.run(['--json', 'copy', '--from', A.repo], { CAIRN_FROM_PASSWORD: A.env.CAIRN_PASSWORD });
  expectOk(r, ['copy', '--from', A.repo]);
  return JSON.parse(r.stdout);
}

/** Windows without the snapshot id (a blobs copy gives the base backup another id). */
const shape = (report: any) => ({
  windows: report.windows.map((w: any) => ({ from: w.from, to: w.to, lastSegment: w.lastSegment })),
  gaps: report.gaps,
});

d('WAL through copy and mirrors (private PG15 cluster)', () => {
  beforeAll(async () => {
    requireBuild();
    pg = await startPgCluster();
    dir = await scratchDir('pg-copy');
    A = cliFor(dir, join(dir, 'a'));
    B = cliFor(dir, join(dir, 'b'));
    B.env.CAIRN_PASSWORD = 'the password of B'; // cli.run reads this env object
    M = cliFor(dir, join(dir, 'm'));
    M.env.CAIRN_PASSWORD = 'the password of M';
    expectOk(await A.run(['init']));
    expectOk(await B.run(['init']));
    expectOk(await M.run(['init', '--mirror-of', A.repo], { CAIRN_MIRROR_OF_PASSWORD: A.env.CAIRN_PASSWORD }));
    await pg.sql('CREATE TABLE t (id int PRIMARY KEY, note text)');
  }, 120_000);

  afterAll(async () => {
    streamer?.kill('SIGKILL');
    killAllCairns();
    await pg?.stop();
    if (dir) await fsp.rm(dir, { recursive: true, force: true });
  });

  it('copies base backup and WAL to B (blobs) and M (packs); pitr shows the same window on all three', async () => {
    startStreamer();
    await waitFor('the replication slot', async () => (await pg.sql("SELECT count(*) FROM pg_replication_slots WHERE slot_name = 'cairn_db1'")) === '1');
    expectOk(await A.run(['backup', pg.url, '--name', NAME]), ['backup']);
    await insert(1);
    await insert(2);
    await pg.sql('SELECT pg_switch_wal()');
    await insert(3);
    times.afterRow3 = await serverNow();
    await insert(4); // a commit after the time waited for
    await streamUntil(times.afterRow3);

    const toB = await copyTo(B);
    expect(toB.method).toBe('blobs');
    expect(toB.copied).toHaveLength(1);
    expect(toB.wal.sources).toEqual([NAME]);
    expect(toB.wal.recordsCopied).toBeGreaterThan(0);
    const toM = await copyTo(M);
    expect(toM.method).toBe('packs');
    expect(toM.wal.recordsCopied).toBe(toB.wal.recordsCopied);
    firstCopied = toM.wal.recordsCopied;

    const a = await pitr(A);
    expect(a.code).toBe(0);
    expect(a.report.windows).toHaveLength(1);
    expect(a.report.windows[0].to >= times.afterRow3).toBe(true);
    for (const c of [B, M]) {
      const r = await pitr(c);
      expect(r.code, JSON.stringify(r.report)).toBe(0);
      expect(shape(r.report)).toEqual(shape(a.report));
    }
    for (const c of [B, M]) expectOk(await c.run(['check', '--read-data']), ['check']);
  }, 120_000);

  it('a second copy moves nothing; after more WAL the next copy moves only the new records', async () => {
    for (const c of [B, M]) {
      const again = await copyTo(c);
      expect(again.copied).toEqual([]);
      expect(again.wal.recordsCopied).toBe(0);
      expect(again.blobsCopied).toBe(0);
      expect(again.bytesCopied).toBe(0);
    }
    const walIn = async (c: Cli) => (await fsp.readdir(join(c.repo, 'wal'))).sort();
    const before = await walIn(A);
    startStreamer();
    await insert(5);
    times.afterRow5 = await serverNow();
    await pg.sql('SELECT pg_switch_wal()');
    await insert(6);
    await streamUntil(times.afterRow5);
    const added = (await walIn(A)).filter((id) => !before.includes(id));
    expect(added.length).toBeGreaterThan(0);

    const mBefore = await walIn(M);
    const toM = await copyTo(M);
    expect(toM.copied).toEqual([]);
    expect(toM.wal.recordsSkipped).toBe(firstCopied); // everything copied before is recognised
    expect(toM.wal.recordsCopied).toBeGreaterThan(0);
    expect(toM.wal.recordsCopied + toM.wal.recordsSkipped + toM.wal.recordsSuperseded).toBe(before.length + added.length);
    // The mirror got exactly new record files of A, byte for byte under the same names.
    const mAdded = (await walIn(M)).filter((id) => !mBefore.includes(id));
    expect(mAdded.length).toBe(toM.wal.recordsCopied);
    for (const id of mAdded) expect(added).toContain(id);
    const toB = await copyTo(B);
    expect(toB.wal.recordsCopied).toBe(toM.wal.recordsCopied);
    expect(toB.wal.recordsSkipped).toBe(toM.wal.recordsSkipped);

    const a = await pitr(A);
    expect(a.report.windows.at(-1).to >= times.afterRow5!).toBe(true);
    for (const c of [B, M]) expect(shape((await pitr(c)).report)).toEqual(shape(a.report));
  }, 120_000);

  it('restore --source --at T from B alone gives exactly the rows committed before T', async () => {
    const away = join(dir, 'a-moved-away');
    await fsp.rename(A.repo, away);
    try {
      const target = join(dir, 'restore-b');
      const port = await freePort();
      const r = await B.run(['restore', '--source', NAME, '--at', times.afterRow5!, '--target', target, '--start', '--port', String(port)]);
      try {
        expectOk(r, ['restore', times.afterRow5!]);
        expect(await psqlAt(port, 'SELECT id FROM t ORDER BY id', target)).toBe('1\n2\n3\n4\n5');
      } finally {
        await stopDataDir(target);
        await fsp.rm(target, { recursive: true, force: true });
      }
    } finally {
      await fsp.rename(away, A.repo);
    }
  }, 120_000);

  it('check names the WAL segment whose pack was removed', async () => {
    // On a copy of A: the test's A stays whole.
    const copyDir = await scratchDir('pg-copy-check');
    try {
      await fsp.cp(A.repo, join(copyDir, 'repo'), { recursive: true });
      const C = cliFor(copyDir);
      // The pack holding the first chunk of the newest complete segment (as restores use it).
      const repo = await Repository.open(openBackend(C.repo), C.env.CAIRN_PASSWORD!, { clock: systemClock, random: systemRandom, cacheDir: ':memory:', threads: 0 });
      let victim: { segment: string; pack: string };
      try {
        await syncIndex(repo);
        const best = [...bestWalSegments(await repo.listWalRecords()).values()].filter((b) => !b.segment.partial);
        const seg = best.sort((x, y) => x.segment.name.localeCompare(y.segment.name)).at(-1)!.segment;
        victim = { segment: seg.name, pack: repo.index.findForRead('data', seg.content[0]!)!.pack };
      } finally {
        await repo.close();
      }
      await fsp.rm(join(C.repo, 'data', victim.pack.slice(0, 2), victim.pack));
      const r = await C.run(['--json', 'check']);
      expect(r.code).toBe(20);
      const report = JSON.parse(r.stdout);
      expect(report.damagedPacks).toEqual([victim.pack]);
      expect(report.affectedWal).toHaveLength(1);
      expect(report.affectedWal[0].source).toBe(NAME);
      expect(report.affectedWal[0].segments).toContain(victim.segment);
      const human = await C.run(['check']);
      expect(human.stdout).toContain('affected WAL segments');
      expect(human.stdout).toContain(victim.segment);
    } finally {
      await fsp.rm(copyDir, { recursive: true, force: true });
    }
  }, 60_000);
});
