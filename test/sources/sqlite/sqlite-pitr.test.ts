import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, describe, expect, it } from 'vitest';
import { makeTempRepo } from '../../helpers/temp-repo.js';

const dir = mkdtempSync(join(tmpdir(), 'cairn-sqlite-test-'));
const dbPath = join(dir, 'app.db');
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function writer(ms: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const p = spawn(process.execPath, [new URL('./writer.mjs', import.meta.url).pathname, dbPath, String(ms)], { stdio: 'inherit' });
    p.on('exit', (c) => (c === 0 ? resolve() : reject(new Error(`writer exited ${c}`))));
  });
}

function rows(path: string): { id: number; ts: string }[] {
  const db = new Database(path, { readonly: true });
  try {
    return db.prepare('SELECT id, ts FROM t ORDER BY id').all() as { id: number; ts: string }[];
  } finally {
    db.close();
  }
}

const micros = (ms: number) => new Date(ms).toISOString().replace(/Z$/, '000Z');

describe('sqlite source: stream, restore --at, restart, lost frames', () => {
  it('restores exactly the rows committed before T, resumes after a restart, detects frame loss', async () => {
    const db = new Database(dbPath);
    db.pragma('journal_mode = WAL');
    db.exec('CREATE TABLE t (id INTEGER PRIMARY KEY, ts TEXT, pad TEXT)');
    db.close();
    // The application's own connection: it has read, so it holds the WAL open. Were the
    // last connection closed, SQLite would checkpoint and delete the WAL (a new base).
    const keeper = new Database(dbPath);
    keeper.prepare('SELECT count(*) FROM t').get();
    const t = await makeTempRepo();
    const s = await t.open();
    try {
      // 1. stream while another process writes; checkpoints every 700 ms start new WAL generations.
      const ac = new AbortController();
      const streaming = s.streamSqlite({ path: dbPath, name: 'app', pollIntervalMs: 20, flushIntervalMs: 300, checkpointIntervalMs: 700, signal: ac.signal });
      await new Promise((r) => setTimeout(r, 300));
      const backup = (async () => {
        await new Promise((r) => setTimeout(r, 800));
        return s.backupSqlite({ path: dbPath, name: 'app' }); // a base taken during writes
      })();
      await writer(6000);
      await backup;
      await new Promise((r) => setTimeout(r, 300));
      ac.abort();
      const r1 = await streaming;
      expect(r1.commits).toBeGreaterThan(100);
      expect(r1.lostFrames).toBe(0);
      // The precision of commit times: T below is ≥ 750 ms from every commit. A failure
      // here means the process stalled longer than that (a machine overloaded), not wrong rows.
      expect(r1.maxReadGapMs).toBeLessThan(700);
      const all = rows(dbPath);
      // T in the middle of each 1.5 s pause of the writer: commit times are observation
      // times (poll interval + processing late), so T must not fall inside that margin.
      const times = quietTimes(all);
      expect(times.length).toBeGreaterThanOrEqual(3);
      for (const [k, at] of times.entries()) {
        const target = join(dir, `r${k}.db`);
        const res = await s.restoreSqlite({ source: 'app', at, target });
        expect(res.integrity).toBe('ok');
        const want = all.filter((r) => r.ts.replace(/Z$/, '000Z') <= at).map((r) => r.id);
        expect(rows(target).map((r) => r.id)).toEqual(want);
      }
      let p = (await s.pitrSqlite('app'))!;
      expect(p.gaps).toEqual([]);
      expect(p.windows).toHaveLength(1);

      // 2. restart (stopped cleanly here; test/e2e/sqlite-pitr-cli.test.ts kills it with
      // SIGKILL): resumes from the stored position, one unbroken window.
      const ac2 = new AbortController();
      const warnings2: string[] = [];
      const s2 = s.streamSqlite({ path: dbPath, name: 'app', pollIntervalMs: 20, flushIntervalMs: 300, signal: ac2.signal, onWarning: (m) => warnings2.push(m) });
      await writer(600);
      await new Promise((r) => setTimeout(r, 200));
      ac2.abort();
      const r2 = await s2;
      expect(warnings2).toEqual([]);
      expect(r2.bases).toEqual([]);
      expect(r2.commits).toBeGreaterThan(10);
      p = (await s.pitrSqlite('app'))!;
      expect(p.windows).toHaveLength(1);
      const latest = join(dir, 'latest.db');
      await s.restoreSqlite({ source: 'app', at: 'latest', target: latest });
      expect(rows(latest).map((r) => r.id)).toEqual(rows(dbPath).map((r) => r.id));
      // The window spans the restart: times on both sides restore exactly.
      const all2 = rows(dbPath);
      for (const [k, at] of quietTimes(all2).entries()) {
        const target = join(dir, `s${k}.db`);
        await s.restoreSqlite({ source: 'app', at, target });
        expect(rows(target).map((r) => r.id)).toEqual(all2.filter((r) => r.ts.replace(/Z$/, '000Z') <= at).map((r) => r.id));
      }

      // 3. while no streamer runs, another process truncates the WAL: frames lost → new base, gap.
      await writer(400);
      const other = new Database(dbPath);
      other.pragma('wal_checkpoint(TRUNCATE)');
      other.prepare('INSERT INTO t (ts, pad) VALUES (?, ?)').run(new Date().toISOString(), 'y');
      other.close();
      const ac3 = new AbortController();
      const warnings: string[] = [];
      const s3 = s.streamSqlite({ path: dbPath, name: 'app', pollIntervalMs: 20, flushIntervalMs: 300, signal: ac3.signal, onWarning: (m) => warnings.push(m) });
      await writer(400);
      ac3.abort();
      const r3 = await s3;
      expect(r3.bases).toHaveLength(1);
      expect(warnings.join('\n')).toMatch(/lost/);
      p = (await s.pitrSqlite('app'))!;
      expect(p.gaps).toHaveLength(1);
      expect(p.windows).toHaveLength(2);
      const end = join(dir, 'end.db');
      await s.restoreSqlite({ source: 'app', at: 'latest', target: end });
      expect(rows(end).map((r) => r.id)).toEqual(rows(dbPath).map((r) => r.id));
      await expect(s.restoreSqlite({ source: 'app', at: midpoint(p.gaps[0]!.from, p.gaps[0]!.to), target: join(dir, 'gap.db') })).rejects.toMatchObject({ code: 'WAL_GAP' });
    } finally {
      keeper.close();
      await s.close();
      await t.cleanup?.();
    }
  }, 60_000);
});

/** For each pause of the writer (> 900 ms without a row): its middle. */
export function quietTimes(all: { ts: string }[]): string[] {
  const times: string[] = [];
  for (let i = 1; i < all.length; i++) {
    const a = Date.parse(all[i - 1]!.ts);
    const b = Date.parse(all[i]!.ts);
    if (b - a > 900) times.push(micros((a + b) / 2));
  }
  return times;
}

function midpoint(a: string, b: string): string {
  return micros((Date.parse(a) + Date.parse(b)) / 2);
}
