import { execFileSync } from 'node:child_process';
import { mkdir, mkdtemp, readdir, rename, rm, symlink } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it, onTestFinished } from 'vitest';
import { checkLocalDatadir } from '../../src/sources/mariadb/physical-backup.js';
import { captureMain } from '../cli/helpers/run-cli.js';
import { mariadbUnavailable, startMariadb, type MariadbServer } from '../helpers/mariadb-server.js';

/**
 * Physical bases (`cairn backup mariadb://…?method=physical`: mariadb-backup --backup,
 * then --prepare) with binlog replay on top, through the CLI in-process (the TypeScript
 * sources, not dist/): rows are inserted while the copy is taken and while `cairn
 * stream` captures; a restore to a time between two quiet gaps (binlog times have
 * one-second resolution) builds a new data directory, which a private mariadbd is then
 * started on and queried. mariadb-backup comes from Debian's `mariadb-backup` package
 * (.ci/run installs it); without it these tests are skipped.
 */
function backupToolMissing(): string | null {
  try {
    execFileSync('sh', ['-c', 'command -v mariadb-backup']);
    return null;
  } catch {
    return 'mariadb-backup not installed and could not be installed (apt-get install mariadb-backup)';
  }
}
const skip = mariadbUnavailable() ?? backupToolMissing();
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const range = (from: number, n: number) => Array.from({ length: n }, (_, i) => from + i);

describe('physical backup needs the data directory on this host', () => {
  it('another host, or a directory that is not here → SOURCE_CONFIG', async () => {
    await expect(checkLocalDatadir('/var/lib/mysql', 'db7', 'mariadb://cairn@db7/', 'backup-host')).rejects.toMatchObject({ code: 'SOURCE_CONFIG', message: expect.stringContaining('runs on host "db7"') });
    await expect(checkLocalDatadir('/nonexistent/cairn-datadir', 'h', 'mariadb://x/', 'h')).rejects.toMatchObject({ code: 'SOURCE_CONFIG', message: expect.stringContaining('does not exist on this host') });
  });
});

describe.skipIf(skip !== null)('mariadb physical base (mariadb-backup) + binlog replay', () => {
  let a: MariadbServer;
  let dir: string;
  let env: Record<string, string>;
  const times: Record<string, string> = {};

  // The real engine, in-process: env, cwd and home are this suite's directory.
  const cairn = (args: string[], signal?: AbortSignal) => captureMain(args, { env, cwd: dir, homedir: dir, ...(signal ? { signal } : {}) });
  async function json(args: string[]): Promise<any> {
    const r = await cairn(['--json', ...args]);
    expect(r.code, `cairn ${args.join(' ')}\n${r.stdout}\n${r.stderr}`).toBe(0);
    return JSON.parse(r.stdout);
  }
  async function insert(from: number, n: number): Promise<void> {
    for (let i = from; i < from + n; i++) {
      await a.sql(`INSERT INTO shop.t VALUES (${i})`);
      await sleep(50);
    }
  }
  /** Restores into a new directory, starts a server on it and returns shop.t's ids. */
  async function restoreAndQuery(stop: string[]): Promise<{ result: any; ids: number[] }> {
    const target = join(dir, `restore-${Math.random().toString(36).slice(2, 8)}`);
    onTestFinished(() => rm(target, { recursive: true, force: true }));
    const result = await json(['restore', '--source', 'db1', ...stop, '--target', target]);
    const server = await startMariadb({ dataDir: target, binlog: false });
    onTestFinished(() => server.stop());
    const ids = (await server.sql('SELECT id FROM shop.t ORDER BY id')).split('\n').filter(Boolean).map(Number);
    return { result, ids };
  }

  beforeAll(async () => {
    process.env.CAIRN_KDF_N = '1024';
    a = await startMariadb();
    dir = await mkdtemp(join(tmpdir(), 'cairn-mariadb-physical-'));
    env = { CAIRN_REPO: join(dir, 'repo'), CAIRN_PASSWORD: 'physical test', CAIRN_CACHE_DIR: join(dir, 'cache'), HOME: dir, PATH: process.env.PATH ?? '' };
    await json(['init']);
  }, 60_000);

  afterAll(async () => {
    await a?.stop();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('backup ?method=physical while rows are inserted; stream; restore --at T and --at-gtid into --target DIR', async () => {
    await a.sql('CREATE DATABASE shop; CREATE TABLE shop.t (id INT PRIMARY KEY) ENGINE=InnoDB; INSERT INTO shop.t VALUES (1), (2), (3)');
    // Rows committed during the copy: its binlog coordinates must split them exactly.
    const [backup] = await Promise.all([json(['backup', `${a.url}?method=physical`, '--name', 'db1']), insert(50, 15)]);
    expect(backup.snapshot.source).toEqual({ type: 'mariadb', name: 'db1' });
    expect(backup.snapshot.sourceMeta).toMatchObject({ kind: 'physical', binlogFile: 'binlog.000001', gtid: expect.stringMatching(/^0-1-\d+$/), datadir: join(a.dir, 'data') });
    expect(backup.snapshot.sourceMeta.binlogPos).toBeGreaterThan(4);

    const stop = new AbortController();
    const streaming = cairn(['stream', a.url, '--name', 'db1', '--flush-interval', '1s'], stop.signal);
    await insert(100, 6); // concurrent with capture
    await sleep(1300);
    times.t1 = new Date().toISOString();
    await sleep(1300);
    await insert(200, 6);
    const gtid = (await a.sql('INSERT INTO shop.t VALUES (300); SELECT @@last_gtid')).trim();
    await insert(301, 3);
    await sleep(1600);
    stop.abort();
    const s = await streaming;
    expect(s.code, s.stderr).toBe(0);

    const report = await json(['pitr', 'db1']);
    expect(report.bases).toMatchObject([{ kind: 'physical', gtid: backup.snapshot.sourceMeta.gtid }]);

    const atTime = await restoreAndQuery(['--at', times.t1]);
    expect(atTime.ids).toEqual([1, 2, 3, ...range(50, 15), ...range(100, 6)]);
    expect(atTime.result).toMatchObject({ kind: 'physical', targetTime: expect.stringMatching(/Z$/) });

    const atGtid = await restoreAndQuery(['--at-gtid', gtid]);
    expect(atGtid.ids).toEqual([1, 2, 3, ...range(50, 15), ...range(100, 6), ...range(200, 6), 300]);
    expect(atGtid.result).toMatchObject({ kind: 'physical', gtid, targetGtid: gtid });
  }, 60_000);

  it('a physical base does not restore --to a server (USAGE); the staging next to the target is cleaned up', async () => {
    const r = await cairn(['restore', '--source', 'db1', '--at', 'latest', '--to', 'mariadb://root@127.0.0.1:1/']);
    expect(r.code, r.stderr).toBe(2);
    expect(r.stderr.split('\n')[0]).toMatch(/^cairn: error: the base for this restore is physical .*\[USAGE\]$/);
    expect((await readdir(dir)).filter((n) => n.startsWith('.cairn-mariadb-'))).toEqual([]);
  });

  it('the data directory not on this host, or mariadb-backup missing → SOURCE_CONFIG (exit 45) with a hint', async () => {
    const data = join(a.dir, 'data');
    // The server keeps running on its open files; its @@datadir no longer exists here.
    await rename(data, `${data}-elsewhere`);
    try {
      const r = await cairn(['backup', `${a.url}?method=physical`, '--name', 'db1']);
      expect(r.code, r.stderr).toBe(45);
      expect(r.stderr.split('\n')[0]).toMatch(/data directory .* does not exist on this host \[SOURCE_CONFIG\]$/);
    } finally {
      await rename(`${data}-elsewhere`, data);
    }
    // A PATH with the client tools but without mariadb-backup.
    const bin = join(dir, 'bin');
    await mkdir(bin, { recursive: true });
    for (const t of ['mariadb', 'mariadb-dump', 'mariadb-binlog']) await symlink(execFileSync('sh', ['-c', `command -v ${t}`], { encoding: 'utf8' }).trim(), join(bin, t));
    const path = process.env.PATH;
    process.env.PATH = bin;
    try {
      const r = await cairn(['backup', `${a.url}?method=physical`, '--name', 'db1']);
      expect(r.code, r.stderr).toBe(45);
      expect(r.stderr).toMatch(/mariadb-backup not found on PATH.*\[SOURCE_CONFIG\]\nhint: .*apt-get install mariadb-backup/);
    } finally {
      process.env.PATH = path;
    }
    const bad = await cairn(['backup', `${a.url}?method=snapshot`, '--name', 'db1']);
    expect(bad.code).toBe(2);
  });
});
