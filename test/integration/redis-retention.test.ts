import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { FakeClock } from '../../src/core/clock.js';
import { makeTempRepo, type TempRepo } from '../helpers/temp-repo.js';
import { RedisLink } from '../../src/sources/redis/replica-link.js';
import { parseRedisLocation } from '../../src/sources/redis/redis-location.js';
import type { RepositorySession } from '../../src/engine/types.js';
import { freePort } from '../helpers/free-port.js';

/**
 * `forget --keep-within` on a redis source, through the engine with an injected clock and
 * a private redis-server: bases at day 0, 5 and 40, each followed by some streamed log;
 * at day 45 a 30-day window needs the day-5 base (the newest at or before day 15) even
 * though plain keep-within drops it, and the log of the day-0 base only.
 */
const skip = spawnSync('redis-server', ['--version']).status !== 0;
const d = skip ? describe.skip : describe;
const DAY = 86_400_000;

let server: ChildProcess | null = null;
let tmp: TempRepo | null = null;
let dataDir = '';
afterAll(async () => {
  server?.kill('SIGKILL');
  await tmp?.cleanup();
  if (dataDir) await rm(dataDir, { recursive: true, force: true });
});

async function write(url: string, key: string): Promise<void> {
  const l = await RedisLink.open(parseRedisLocation(url));
  await l.call(['SET', key, '1']);
  l.close();
}

/** Streams until one record with `key` is stored, then stops. */
async function streamOnce(s: RepositorySession, url: string, key: string): Promise<void> {
  const ac = new AbortController();
  let stored = 0;
  const run = s.streamRedis({ url, name: 'c', flushIntervalMs: 200, signal: ac.signal, onFlush: (f) => (stored += f.commands) });
  await new Promise((r) => setTimeout(r, 300));
  await write(url, key);
  const deadline = Date.now() + 10_000;
  while (stored === 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
  ac.abort();
  const res = await run;
  expect(res.bases).toBe(0); // continued from the base just taken: no full resync
}

d('redis retention (forget --keep-within, injected clock)', () => {
  it('keeps the base the window needs and drops only log no kept base uses', async () => {
    dataDir = await mkdtemp(join(tmpdir(), 'cairn-redis-ret-'));
    const port = await freePort();
    server = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--dir', dataDir, '--save', '', '--appendonly', 'no', '--repl-diskless-sync-delay', '0'], { stdio: 'ignore' });
    const url = `redis://127.0.0.1:${port}`;
    for (let i = 0; i < 100; i++) {
      try {
        await write(url, 'up');
        break;
      } catch {
        await new Promise((r) => setTimeout(r, 50));
      }
    }
    const clock = new FakeClock('2026-01-01T00:00:00Z');
    tmp = await makeTempRepo({ clock });
    const s = await tmp.open();
    try {
      const ids: string[] = [];
      for (const day of [0, 5, 40]) {
        clock.set(Date.parse('2026-01-01T00:00:00Z') + day * DAY);
        ids.push((await s.backupRedis({ url, name: 'c' })).snapshot.id);
        await streamOnce(s, url, `day${day}`);
      }
      const before = await s.pitrRedis('c');
      expect(before.bases).toHaveLength(3);
      expect(before.gaps).toEqual([]);
      const records = before.records;
      clock.set(Date.parse('2026-01-01T00:00:00Z') + 45 * DAY);
      const res = await s.forget({ policy: { keepWithin: '30d' }, filter: { source: 'c' } });
      const kept = (await s.snapshots()).map((x) => x.id).sort();
      expect(kept).toEqual([ids[1]!, ids[2]!].sort());
      const log = res.wal!.find((w) => w.source === 'c')!;
      expect(log.removed.length).toBeGreaterThan(0);
      const after = await s.pitrRedis('c');
      expect(after.records).toBe(records - log.removed.length);
      // Every time from the day-5 base on is still restorable: its chain is intact.
      expect(after.bases.map((b) => b.snapshot).sort()).toEqual([ids[1]!, ids[2]!].sort());
      expect(after.gapAfterNewestBase).toBe(false);
      expect(after.bases.find((b) => b.snapshot === ids[1])!.endOffset).toBe(before.bases.find((b) => b.snapshot === ids[1])!.endOffset);
    } finally {
      await s.close();
    }
  }, 40_000);
});
