import { spawn } from 'node:child_process';
import { chownSync, promises as fsp } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CAIRN_BIN, cairnEnv, type CairnRun } from '../helpers/cli.js';
import { freePort, pgUnavailable, postgresUser, psqlAt, startPgCluster, stopDataDir, PG_BIN, type PgCluster } from '../helpers/pg-cluster.js';
import { requireBuild, runCairnAs, scratchDir } from '../e2e/support.js';

/**
 * The PostgreSQL source's operator paths besides streaming, against one private PG15
 * cluster that archives with `archive_command = '… cairn wal-push %p --name arch'`
 * (the recipe of docs/sources/postgres.md, "archive_command"):
 *   - archiving through wal-push gives an unbroken window; restore --at T is exact;
 *   - wal-push is idempotent, a failing push makes PostgreSQL retry (and the retry
 *     fills the chain), a different segment under a stored name is refused;
 *   - pitr --server reports a slot that retains WAL and exits SLOT_LAG above the limit;
 *   - backup --logical: one pg_dump per database, loadable with pg_restore, deduplicated;
 *   - after restore --start (promotion to timeline 2), the restored server backed up and
 *     streamed under the same name: pitr lists one window per timeline.
 * Every cairn that writes the repository runs as `postgres`, like the archiver itself
 * (a repository written by two users gets directories the other cannot write).
 */
const skip = pgUnavailable();
const d = skip ? describe.skip : describe;
const NAME = 'arch';
const TS = `'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'`;

let pg: PgCluster;
let dir: string;
let env: Record<string, string>;
let PG: { uid: number; gid: number };
const cleanup: (() => Promise<void>)[] = [];

/** cairn as the postgres user (the archiver's user), with the archive_command's environment. */
function asPg(args: string[], extra: Record<string, string> = {}): Promise<CairnRun> {
  return runCairnAs(PG, args, { ...env, ...extra });
}

function ok(r: CairnRun, what: string): CairnRun {
  if (r.code !== 0) throw new Error(`${what} exited ${r.code}\n${r.stdout}\n${r.stderr}`);
  return r;
}

async function pitr(args: string[] = []): Promise<{ code: number | null; report: any; stdout: string; stderr: string }> {
  const r = await asPg(['--json', 'pitr', NAME, ...args]);
  const human = await asPg(['pitr', NAME, ...args]);
  return { code: r.code, report: JSON.parse(r.stdout), stdout: human.stdout, stderr: human.stderr };
}

async function waitFor(what: string, check: () => Promise<boolean>, timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await check()) return;
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error(`timed out waiting for ${what}`);
}

async function commitOf(c: { sql(q: string): Promise<string> }, id: number): Promise<string> {
  return c.sql(`SELECT to_char(pg_xact_commit_timestamp(xmin) AT TIME ZONE 'UTC', ${TS}) FROM t WHERE id = ${id}`);
}

/** Switches to a new segment and waits until the archiver has pushed the one it closed. */
async function switchAndArchive(): Promise<string> {
  const closed = await pg.sql('SELECT pg_walfile_name(pg_switch_wal())');
  await waitFor(`archiving of ${closed}`, async () => (await pg.sql('SELECT last_archived_wal FROM pg_stat_archiver')) >= closed);
  return closed;
}

async function restoreAndQuery(at: string, query = 'SELECT id FROM t ORDER BY id'): Promise<{ rows: number[]; port: number; target: string; result: any }> {
  const target = join(dir, `restore-${Math.random().toString(36).slice(2)}`);
  const port = await freePort();
  const r = ok(await runCairnAs({ uid: 0, gid: 0 }, ['--json', 'restore', '--source', NAME, '--at', at, '--target', target, '--start', '--port', String(port)], { ...env, CAIRN_CACHE_DIR: join(dir, 'root-cache') }), `restore --at ${at}`);
  const rows = await psqlAt(port, query, target);
  return { rows: rows === '' ? [] : rows.split('\n').map(Number), port, target, result: JSON.parse(r.stdout) };
}

async function dropRestore(target: string): Promise<void> {
  await stopDataDir(target);
  await fsp.rm(target, { recursive: true, force: true });
}

d('PostgreSQL: archive_command, slots, --logical, timelines (private PG15 cluster)', () => {
  beforeAll(async () => {
    requireBuild();
    PG = postgresUser();
    dir = await scratchDir('pg-ops');
    chownSync(dir, PG.uid, PG.gid);
    // The recipe: everything the archiver needs is in archive_command itself, because
    // the server's environment is not cairn's. The password file is postgres's, 0600.
    const pw = join(dir, 'repo-password');
    await fsp.writeFile(pw, 'ops password\n', { mode: 0o600 });
    chownSync(pw, PG.uid, PG.gid);
    env = { ...cairnEnv(join(dir, 'repo'), join(dir, 'pg-cache')), CAIRN_PASSWORD_FILE: pw };
    delete (env as Record<string, string | undefined>).CAIRN_PASSWORD;
    ok(await asPg(['init']), 'init');
    const archive = `CAIRN_REPO=${env.CAIRN_REPO} CAIRN_PASSWORD_FILE=${pw} CAIRN_CACHE_DIR=${env.CAIRN_CACHE_DIR} ${process.execPath} ${CAIRN_BIN} wal-push %p --name ${NAME}`;
    pg = await startPgCluster({ archive_mode: 'on', archive_command: `'${archive}'`, track_commit_timestamp: 'on' });
    await pg.sql('CREATE TABLE t (id int PRIMARY KEY, note text)');
  }, 120_000);

  afterAll(async () => {
    for (const c of cleanup.reverse()) await c().catch(() => undefined);
    await pg?.stop();
    if (dir) await fsp.rm(dir, { recursive: true, force: true });
  });

  it('archive_command = cairn wal-push: an unbroken window from pushed segments; restore --at T gives exactly the rows before T', async () => {
    const b = ok(await asPg(['--json', 'backup', pg.url, '--name', NAME]), 'backup');
    expect(JSON.parse(b.stdout).snapshot.sourceMeta).toMatchObject({ kind: 'base', timeline: 1 });
    await pg.sql("INSERT INTO t VALUES (1, 'one')");
    await pg.sql("INSERT INTO t VALUES (2, 'two')");
    await switchAndArchive();
    await pg.sql("INSERT INTO t VALUES (3, 'three')");
    await switchAndArchive();
    await pg.sql("INSERT INTO t VALUES (4, 'four')");
    await switchAndArchive();
    expect(await pg.sql('SELECT failed_count FROM pg_stat_archiver')).toBe('0');

    const { code, report } = await pitr();
    expect(code).toBe(0);
    expect(report.gaps).toEqual([]);
    expect(report.windows).toEqual([{ timeline: 1, from: report.bases[0].from, to: await commitOf(pg, 4) }]);

    // T between the commits of rows 2 and 3 (microsecond timestamps: the midpoint).
    const c2 = Date.parse(await commitOf(pg, 2));
    const c3 = Date.parse(await commitOf(pg, 3));
    expect(c3 - c2).toBeGreaterThan(1);
    const between = new Date(Math.floor((c2 + c3) / 2)).toISOString();
    const r1 = await restoreAndQuery(between);
    expect(r1.rows).toEqual([1, 2]);
    await dropRestore(r1.target);
    const r2 = await restoreAndQuery('latest');
    expect(r2.rows).toEqual([1, 2, 3, 4]);
    await dropRestore(r2.target);
  }, 180_000);

  it('wal-push: a repeated push is a no-op, a failed push is retried by PostgreSQL, other bytes under a stored name are refused', async () => {
    // A segment the archiver stored, copied out of pg_wal before a checkpoint recycles it.
    const name = await pg.sql('SELECT last_archived_wal FROM pg_stat_archiver');
    const copy = join(dir, 'again', name);
    await fsp.mkdir(join(dir, 'again'), { recursive: true });
    await fsp.copyFile(join(pg.dataDir, 'pg_wal', name), copy);
    chownSync(join(dir, 'again'), PG.uid, PG.gid);
    chownSync(copy, PG.uid, PG.gid);

    // PostgreSQL retries archive_command after a crash between push and its own bookkeeping.
    const again = JSON.parse(ok(await asPg(['--json', 'wal-push', copy, '--name', NAME]), 'second push').stdout);
    expect(again).toMatchObject({ name: NAME, segment: name, stored: false });
    expect(again.recordId).toMatch(/^[0-9a-f]{64}$/);

    // Same name, other content (a restored copy of this server archiving to the same name).
    const bytes = await fsp.readFile(copy);
    bytes[bytes.length - 1] ^= 0xff;
    const forged = join(dir, 'forged', name);
    await fsp.mkdir(join(dir, 'forged'), { recursive: true });
    await fsp.writeFile(forged, bytes);
    const mismatch = await asPg(['wal-push', forged, '--name', NAME]);
    expect(mismatch.code, mismatch.stderr).toBe(45);
    expect(mismatch.stderr).toMatch(/archive mismatch: WAL segment .* already stored with other content.*\[SOURCE_CONFIG\]/);

    // A push that fails (the repository's WAL directory not writable for postgres) exits
    // non-zero: PostgreSQL keeps the segment, counts the failure and retries.
    const walDir = join(env.CAIRN_REPO!, 'wal');
    await fsp.chmod(walDir, 0o555);
    let failedBefore = Number(await pg.sql('SELECT failed_count FROM pg_stat_archiver'));
    let closed: string;
    try {
      await pg.sql("INSERT INTO t VALUES (5, 'five')");
      closed = await pg.sql('SELECT pg_walfile_name(pg_switch_wal())');
      await waitFor('a failed archive attempt', async () => Number(await pg.sql('SELECT failed_count FROM pg_stat_archiver')) > failedBefore);
      expect(await pg.sql('SELECT last_failed_wal FROM pg_stat_archiver')).toBe(closed);
      const direct = await asPg(['wal-push', join(pg.dataDir, 'pg_wal', closed), '--name', NAME]);
      expect(direct.code).toBe(40);
      expect(direct.stderr).toMatch(/PERMISSION_DENIED/);
    } finally {
      await fsp.chmod(walDir, 0o755);
    }
    failedBefore = Number(await pg.sql('SELECT failed_count FROM pg_stat_archiver'));
    await switchAndArchive(); // wakes the archiver: it retries the failed segment first
    const { code, report } = await pitr();
    expect(code).toBe(0);
    expect(report.gaps).toEqual([]);
    expect(report.windows.at(-1).to).toBe(await commitOf(pg, 5));
  }, 180_000);

  it('pitr --server: a slot that is not consumed is reported with the WAL it retains; above --max-slot-lag exit 23 SLOT_LAG', async () => {
    await pg.sql("SELECT pg_create_physical_replication_slot('forgotten', true)");
    cleanup.push(async () => void (await pg.sql("SELECT pg_drop_replication_slot('forgotten')")));
    for (let i = 0; i < 3; i++) {
      await pg.sql(`INSERT INTO t SELECT g, 'pad' FROM generate_series(${1000 + i * 1000}, ${1000 + i * 1000 + 999}) g`);
      await switchAndArchive();
    }
    const retained = Number(await pg.sql("SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), restart_lsn) FROM pg_replication_slots WHERE slot_name = 'forgotten'"));
    expect(retained).toBeGreaterThan(3 * 16 * 1024 * 1024 - 1024 * 1024);

    const under = await pitr(['--server', pg.url, '--max-slot-lag', '1GiB']);
    expect(under.code, under.stderr).toBe(0);
    const slot = under.report.slots.find((s: any) => s.name === 'forgotten');
    expect(slot).toMatchObject({ active: false, tooMuch: false, walStatus: 'reserved' });
    expect(slot.retainedBytes).toBeGreaterThanOrEqual(retained);
    expect(slot.retainedBytes).toBeLessThan(retained + 1024 * 1024);
    expect(under.stdout).toMatch(/slot forgotten: INACTIVE, retains \d+(\.\d+)? MiB of WAL\n/);

    const over = await pitr(['--server', pg.url, '--max-slot-lag', '16MiB']);
    expect(over.code).toBe(23);
    expect(over.report.slots.find((s: any) => s.name === 'forgotten').tooMuch).toBe(true);
    expect(over.stdout).toMatch(/slot forgotten: INACTIVE, retains .* of WAL — TOO MUCH/);
    expect(over.stderr).toMatch(/^cairn: error: replication slot forgotten \(.*\) retains more WAL than --max-slot-lag 16\.0 MiB \[SLOT_LAG\]$/m);
    await pg.sql("SELECT pg_drop_replication_slot('forgotten')");
    cleanup.pop();
  }, 120_000);

  it('backup --logical: one uncompressed pg_dump per database, loadable with pg_restore; an unchanged database deduplicates', async () => {
    await pg.sql('CREATE DATABASE app');
    const appSql = async (q: string) =>
      (await new Promise<string>((resolve, reject) => {
        const c = spawn(join(PG_BIN!, 'psql'), ['-X', '-A', '-t', '-h', '127.0.0.1', '-p', String(pg.port), '-U', 'postgres', '-d', 'app', '-c', q]);
        let out = '';
        c.stdout.on('data', (b) => (out += b));
        c.on('close', (code) => (code === 0 ? resolve(out) : reject(new Error(`psql app: ${q} exited ${code}`))));
      })).trim();
    await appSql("CREATE TABLE orders AS SELECT g AS id, md5(g::text) || repeat(md5((g * 3)::text), 3) AS pad FROM generate_series(1, 100000) g");
    const first = JSON.parse(ok(await asPg(['--json', 'backup', pg.url, '--name', NAME, '--logical']), 'backup --logical').stdout);
    expect(first.logical).toBeDefined();
    const logicalId: string = first.logical.id;
    const snaps = JSON.parse(ok(await asPg(['--json', 'snapshots']), 'snapshots').stdout);
    const logical = snaps.find((s: any) => s.id === logicalId);
    expect(logical.tags).toContain('logical');
    expect(logical.source).toEqual({ type: 'postgres', name: NAME });
    expect(logical.sourceMeta).toMatchObject({ kind: 'logical', databases: ['app', 'postgres'] });
    const ls = JSON.parse(ok(await asPg(['--json', 'ls', logicalId, '--recursive']), 'ls').stdout);
    const names = JSON.stringify(ls);
    expect(names).toContain('app.dump');
    expect(names).toContain('postgres.dump');
    expect(names).not.toMatch(/template[01]\.dump/);

    const out = join(dir, 'dumps');
    ok(await asPg(['restore', logicalId, '--target', out]), 'restore logical');
    const files = await fsp.readdir(out, { recursive: true });
    const appDump = files.find((f) => String(f).endsWith('app.dump'))!;
    expect(appDump).toBeDefined();
    const dumpPath = join(out, String(appDump));
    const dumpSize = (await fsp.stat(dumpPath)).size;
    expect(dumpSize).toBeGreaterThan(10 * 1024 * 1024); // -Z0: the data is not compressed
    // Unchanged cluster (before the restore below adds a database): the dumps deduplicate.
    const second = JSON.parse(ok(await asPg(['--json', 'backup', pg.url, '--name', NAME, '--logical']), 'second backup --logical').stdout);
    const secondLogical = JSON.parse(ok(await asPg(['--json', 'snapshots']), 'snapshots').stdout).find((s: any) => s.id === second.logical.id);
    expect(secondLogical.summary.bytesRead).toBeGreaterThan(dumpSize);
    // Only each dump's header and table of contents change (timestamps, OIDs): with
    // ~1 MiB chunks that is a fixed cost of at most two chunks per database, whatever
    // the database's size — not a share of it (2 databases here).
    expect(secondLogical.summary.dataBlobs, `second logical backup added ${secondLogical.summary.dataBlobs} chunks, ${secondLogical.summary.bytesAdded} of ${secondLogical.summary.bytesRead} bytes`).toBeLessThanOrEqual(4);
    expect(secondLogical.summary.bytesAdded).toBeLessThan(secondLogical.summary.bytesRead * 0.5);
    await pg.sql('CREATE DATABASE fresh');
    await new Promise<void>((resolve, reject) => {
      const c = spawn(join(PG_BIN!, 'pg_restore'), ['-h', '127.0.0.1', '-p', String(pg.port), '-U', 'postgres', '-d', 'fresh', '--no-owner', dumpPath], { stdio: ['ignore', 'ignore', 'pipe'] });
      let err = '';
      c.stderr.on('data', (b) => (err += b));
      c.on('close', (code) => (code === 0 ? resolve() : reject(new Error(`pg_restore exited ${code}: ${err}`))));
    });
    const freshCount = await new Promise<string>((resolve, reject) => {
      const c = spawn(join(PG_BIN!, 'psql'), ['-X', '-A', '-t', '-h', '127.0.0.1', '-p', String(pg.port), '-U', 'postgres', '-d', 'fresh', '-c', 'SELECT count(*), sum(id) FROM orders']);
      let o = '';
      c.stdout.on('data', (b) => (o += b));
      c.on('close', (code) => (code === 0 ? resolve(o.trim()) : reject(new Error('psql fresh failed'))));
    });
    expect(freshCount).toBe(`100000|${(100000 * 100001) / 2}`);

    await pg.sql('DROP DATABASE fresh');
    await pg.sql('DROP DATABASE app');
  }, 180_000);

  it('timelines: a restored server promoted to timeline 2, backed up and streamed under the same name, gets its own window; pitr never merges them', async () => {
    // Restore to the latest time and start: recovery ends, the server promotes to timeline 2.
    const before = await pitr();
    const r = await restoreAndQuery('latest', 'SELECT count(*) FROM t WHERE id < 1000');
    cleanup.push(() => dropRestore(r.target));
    const restored = { url: `postgres://postgres@127.0.0.1:${r.port}/`, sql: (q: string) => psqlAt(r.port, q, r.target) };
    expect(await restored.sql('SELECT timeline_id FROM pg_control_checkpoint()')).toBe('2');
    expect(r.rows).toEqual([5]);

    // Stream it (as the runbook says: before its first base backup), then back it up.
    const streamer = spawn(process.execPath, [CAIRN_BIN, 'stream', restored.url, '--name', NAME, '--flush-interval', '1s'], {
      env: { ...env, HOME: '/nonexistent' },
      cwd: '/',
      uid: PG.uid,
      gid: PG.gid,
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let streamErr = '';
    streamer.stderr.on('data', (b) => (streamErr += b));
    const streamerDone = new Promise<number | null>((resolve) => streamer.on('close', (code) => resolve(code)));
    cleanup.push(async () => void streamer.kill('SIGKILL'));
    await waitFor('the streamer on the restored server', async () => (await restored.sql('SELECT count(*) FROM pg_stat_replication')) === '1');
    const b2 = JSON.parse(ok(await asPg(['--json', 'backup', restored.url, '--name', NAME]), 'backup of the restored server').stdout);
    expect(b2.snapshot.sourceMeta).toMatchObject({ kind: 'base', timeline: 2, systemId: JSON.parse((await asPg(['--json', 'snapshots'])).stdout)[0].sourceMeta.systemId });

    // The old server goes on too (timeline 1), then the new one writes (timeline 2).
    await pg.sql("INSERT INTO t VALUES (6, 'old server, timeline 1')");
    await switchAndArchive();
    await restored.sql("INSERT INTO t VALUES (100, 'new server, timeline 2')");
    await restored.sql('SELECT pg_switch_wal()');
    await restored.sql("INSERT INTO t VALUES (101, 'new server, timeline 2')");
    const c101 = await commitOf(restored, 101);
    await waitFor('timeline 2 WAL up to row 101', async () => (await pitr()).report.windows.some((w: any) => w.timeline === 2 && w.to >= c101));
    streamer.kill('SIGTERM');
    expect(await streamerDone, streamErr).toBe(0);
    cleanup.pop();

    const { code, report, stdout } = await pitr();
    expect(code, stdout).toBe(0);
    expect(report.gaps).toEqual([]);
    const tl1 = report.windows.filter((w: any) => w.timeline === 1);
    const tl2 = report.windows.filter((w: any) => w.timeline === 2);
    expect(tl1).toHaveLength(1);
    expect(tl2).toEqual([{ timeline: 2, from: b2.snapshot.sourceMeta.stopTime, to: c101 }]);
    expect(tl1[0].from).toBe(before.report.windows[0].from);
    expect(tl1[0].to).toBe(await commitOf(pg, 6)); // timeline 1 went on after timeline 2 began
    expect(report.bases.map((x: any) => x.timeline).sort()).toEqual([1, 1, 1, 2]);
    expect(stdout).toMatch(/timeline 1: .*\n\s+timeline 2: /);
    expect(stdout).toMatch(/timelines 1 and 2 overlap/);

    // Times only timeline 1 holds restore timeline 1's history; times both hold restore the
    // newest base backup's (timeline 2); latest is the end of timeline 2.
    const onlyTl1 = await restoreAndQuery(await commitOf(pg, 2), 'SELECT id FROM t WHERE id < 1000 ORDER BY id');
    expect(onlyTl1.rows).toEqual([1, 2]);
    expect(onlyTl1.result.window.timeline).toBe(1);
    await dropRestore(onlyTl1.target);
    const latest = await restoreAndQuery('latest', 'SELECT id FROM t WHERE id < 1000 ORDER BY id');
    expect(latest.rows).toEqual([1, 2, 3, 4, 5, 100, 101]);
    expect(latest.result.window.timeline).toBe(2);
    await dropRestore(latest.target);
  }, 240_000);
});
