import { spawn } from 'node:child_process';
import { readlink, rm, symlink } from 'node:fs/promises';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { killAllCairns, spawnCairn, type CairnChild } from '../helpers/cli.js';
import { expectOk, freshRepo, requireBuild, type Cli } from './support.js';

/**
 * docs/runbooks/sqlite-pitr.md, step by step, with the built CLI: stream, nightly base,
 * SIGKILL of the streamer and restart (nothing lost, one window), `cairn pitr`, restore
 * to times in the writer's quiet pauses (exactly the rows written before) and `latest`,
 * and the refusals (a time before the window: 14; a database not in WAL mode: 45).
 */
const WRITER = new URL('../sources/sqlite/writer.mjs', import.meta.url).pathname;
let cli: Cli;
let db: string;

beforeAll(async () => {
  requireBuild();
  cli = await freshRepo('sqlite');
  db = join(cli.dir, 'app.db');
});
afterAll(async () => {
  killAllCairns();
  if (!process.env.KEEP_SQLITE_E2E) await rm(cli.dir, { recursive: true, force: true });
  else console.log('DIR', cli.dir);
});

function writer(ms: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const p = spawn(process.execPath, [WRITER, db, String(ms)], { stdio: 'inherit' });
    p.on('exit', (c) => (c === 0 ? resolve() : reject(new Error(`writer exited ${c}`))));
  });
}

function rows(path: string): { id: number; ts: string }[] {
  const d = new Database(path, { readonly: true });
  try {
    return d.prepare('SELECT id, ts FROM t ORDER BY id').all() as { id: number; ts: string }[];
  } finally {
    d.close();
  }
}

const micros = (ms: number) => new Date(ms).toISOString().replace(/Z$/, '000Z');

function quietTimes(all: { ts: string }[]): string[] {
  const out: string[] = [];
  for (let i = 1; i < all.length; i++) {
    const a = Date.parse(all[i - 1]!.ts);
    const b = Date.parse(all[i]!.ts);
    if (b - a > 900) out.push(micros((a + b) / 2));
  }
  return out;
}

async function startStreamer(): Promise<{ c: CairnChild; err: () => string }> {
  const c = spawnCairn(['stream', `sqlite://${db}`, '--name', 'app', '--flush-interval', '1s'], cli.env);
  let err = '';
  c.child.stderr!.on('data', (b: Buffer) => (err += b.toString()));
  for (let i = 0; i < 200 && !/capturing WAL frames/.test(err); i++) {
    if (c.exited) throw new Error(`streamer exited: ${err}`);
    await new Promise((r) => setTimeout(r, 50));
  }
  expect(err).toMatch(/capturing WAL frames/);
  return { c, err: () => err };
}

describe('runbook: sqlite point-in-time recovery (CLI)', () => {
  it('stream, base, SIGKILL + restart, pitr, restore --at T / latest', async () => {
    const setup = new Database(db);
    setup.pragma('journal_mode = WAL');
    setup.exec('CREATE TABLE t (id INTEGER PRIMARY KEY, ts TEXT, pad TEXT)');
    setup.close();
    // The application's connection (has read, so it holds the WAL open).
    const app = new Database(db);
    app.prepare('SELECT count(*) FROM t').get();
    try {
      // Step 1: the streamer; step 2: a base while it runs.
      const s1 = await startStreamer();
      expect(s1.err()).toMatch(/new base/);
      expectOk(await cli.run(['backup', `sqlite://${db}`, '--name', 'app']));
      await writer(2600);
      // Crash: SIGKILL right after the last burst (frames of up to 1 s are not stored yet).
      s1.c.kill('SIGKILL');
      await s1.c.done;
      // Step 9: start it again: it resumes (no new base) from the stored position.
      const s2 = await startStreamer();
      expect(s2.err()).toMatch(/\(resumed\)/);
      await writer(2600);
      await new Promise((r) => setTimeout(r, 300));
      s2.c.kill('SIGTERM');
      const end = await s2.c.done;
      expect(end.code, end.stderr).toBe(0);
      expect(end.stderr).not.toMatch(/lost/);
      // The precision of commit times in this run (T below is ≥ 750 ms from every commit).
      const late = /late by at most (\d+) ms/.exec(end.stdout + end.stderr);
      expect(late, end.stdout + end.stderr).not.toBeNull();
      expect(Number(late![1])).toBeLessThan(700);

      // Step 3/4: one unbroken window, exit 0.
      const pitr = await cli.json(['pitr', 'app']);
      expect(pitr.gaps).toEqual([]);
      expect(pitr.windows).toHaveLength(1);
      const text = await cli.run(['pitr', 'app']);
      expectOk(text);
      expect(text.stdout).toMatch(/restorable windows/);

      // Steps 5-7: restore to times in the writer's pauses, on both sides of the crash.
      const all = rows(db);
      const times = quietTimes(all);
      expect(times.length).toBeGreaterThanOrEqual(3);
      for (const [k, at] of times.entries()) {
        const target = join(cli.dir, `r${k}.db`);
        expectOk(await cli.run(['restore', '--source', 'app', '--at', at, '--target', target]));
        expect(rows(target).map((r) => r.id), at).toEqual(all.filter((r) => r.ts.replace(/Z$/, '000Z') <= at).map((r) => r.id));
      }
      const latest = join(cli.dir, 'latest.db');
      expectOk(await cli.run(['restore', '--source', 'app', '--at', 'latest', '--target', latest]));
      expect(rows(latest).map((r) => r.id)).toEqual(all.map((r) => r.id));

      // Refusals: before the first window → TIME_OUT_OF_RANGE (14), nothing written.
      const early = await cli.run(['restore', '--source', 'app', '--at', '2000-01-01T00:00:00Z', '--target', join(cli.dir, 'early.db')]);
      expect(early.code, early.stderr).toBe(14);
      expect(early.stderr).toMatch(/TIME_OUT_OF_RANGE|before the first restorable time/);
      // A target that is there in any form is never replaced, a dangling symlink included
      // (before: the existence check followed it, and the restore replaced the link).
      const dangling = join(cli.dir, 'dangling.db');
      await symlink(join(cli.dir, 'nowhere'), dangling);
      const refused = await cli.run(['restore', '--source', 'app', '--at', 'latest', '--target', dangling]);
      expect(refused.code, refused.stderr).toBe(2);
      expect(refused.stderr).toMatch(/already exists \[USAGE\]/);
      expect(await readlink(dangling)).toBe(join(cli.dir, 'nowhere'));
      // Flags of other restores are refused, not ignored: before, --verify, --include and
      // --start were dropped without a word and the restore went ahead.
      for (const extra of [['--verify'], ['--include', '/x'], ['--start'], ['--port', '5433']]) {
        const target = join(cli.dir, 'flagged.db');
        const r = await cli.run(['restore', '--source', 'app', '--at', 'latest', '--target', target, ...extra]);
        expect(r.code, r.stderr).toBe(2);
        expect(r.stderr).toContain(`${extra[0]} does not apply to a sqlite source [USAGE]`);
      }
    } finally {
      app.close();
    }
  }, 90_000);

  it('frames lost while the streamer is down (TRUNCATE checkpoint by another process): warning, new base, GAP in pitr, restore into the gap → WAL_GAP (22)', async () => {
    const app = new Database(db);
    app.prepare('SELECT count(*) FROM t').get();
    try {
      await writer(400);
      const other = new Database(db);
      other.pragma('wal_checkpoint(TRUNCATE)');
      other.prepare('INSERT INTO t (ts, pad) VALUES (?, ?)').run(new Date().toISOString(), 'y');
      other.close();
      const s = await startStreamer();
      expect(s.err()).toMatch(/were lost/);
      expect(s.err()).toMatch(/new base/);
      await writer(400);
      s.c.kill('SIGTERM');
      expect((await s.c.done).code).toBe(0);
      const pitr = await cli.run(['pitr', 'app']);
      expectOk(pitr);
      expect(pitr.stdout).toMatch(/GAP: /);
      const rep = await cli.json(['pitr', 'app']);
      expect(rep.gaps).toHaveLength(1);
      const mid = micros((Date.parse(rep.gaps[0].from) + Date.parse(rep.gaps[0].to)) / 2);
      const r = await cli.run(['restore', '--source', 'app', '--at', mid, '--target', join(cli.dir, 'gap.db')]);
      expect(r.code, r.stderr).toBe(22);
      expect(r.stderr).toMatch(/gap/);
      const latest = join(cli.dir, 'latest2.db');
      expectOk(await cli.run(['restore', '--source', 'app', '--at', 'latest', '--target', latest]));
      expect(rows(latest).map((x) => x.id)).toEqual(rows(db).map((x) => x.id));
    } finally {
      app.close();
    }
  }, 60_000);

  it('flags for other sources are refused by backup and stream (USAGE), before anything runs', async () => {
    const cases: [string[], string][] = [
      [['backup', `sqlite://${db}`, '--exclude', '*.tmp'], '--exclude'],
      [['backup', `sqlite://${db}`, '--mode', 'full'], '--mode'],
      [['backup', `sqlite://${db}`, '--dry-run'], '--dry-run'],
      [['stream', `sqlite://${db}`, '--spool-dir', cli.dir], '--spool-dir'],
      [['stream', `sqlite://${db}`, '--slot', 's'], '--slot'],
    ];
    const before = (await cli.json(['snapshots'])).length;
    for (const [args, flag] of cases) {
      const r = await cli.run(args);
      expect(r.code, r.stderr).toBe(2);
      expect(r.stderr).toContain(`${flag} does not apply to a sqlite:// source [USAGE]`);
    }
    expect(await cli.json(['snapshots'])).toHaveLength(before);
  }, 30_000);

  it('a database in journal_mode=DELETE: stream refuses with SOURCE_CONFIG (45), backup takes a snapshot', async () => {
    const path = join(cli.dir, 'plain.db');
    const d = new Database(path);
    d.exec('CREATE TABLE x (a)');
    d.prepare('INSERT INTO x VALUES (1)').run();
    d.close();
    const r = await cli.run(['stream', `sqlite://${path}`, '--name', 'plain']);
    expect(r.code, r.stderr).toBe(45);
    expect(r.stderr).toMatch(/journal_mode=delete/);
    const b = await cli.run(['backup', `sqlite://${path}`, '--name', 'plain']);
    expectOk(b);
    expect(b.stdout).toMatch(/no continuous capture/);
  }, 30_000);
});
