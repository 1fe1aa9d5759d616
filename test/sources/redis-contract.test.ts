import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdir } from 'node:fs/promises';
import { describe } from 'vitest';
import { freePort } from '../helpers/free-port.js';
import { RedisLink } from '../../src/sources/redis/replica-link.js';
import { parseRedisLocation } from '../../src/sources/redis/redis-location.js';
import { RespError } from '../../src/sources/redis/resp.js';
import { sourceSuite } from './testing/source-suite.js';

/**
 * The shared source suite against a private redis-server (free port, temp dir, no
 * persistence of its own); a restore is read by a second private redis-server loading
 * the restored dump.rdb. Units are keys u:<i>.
 */
const skip = spawnSync('redis-server', ['--version']).status !== 0;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const procs = new Set<ChildProcess>();

async function startRedis(dir: string, extra: string[] = []): Promise<{ url: string; proc: ChildProcess }> {
  await mkdir(dir, { recursive: true });
  const port = await freePort();
  const proc = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--dir', dir, '--save', '', '--appendonly', 'no', '--repl-diskless-sync', 'yes', '--repl-diskless-sync-delay', '0', ...extra], { stdio: 'ignore' });
  procs.add(proc);
  const url = `redis://127.0.0.1:${port}`;
  for (let i = 0; i < 100; i++) {
    try {
      const l = await RedisLink.open(parseRedisLocation(url));
      const r = await l.call(['PING']);
      l.close();
      if (r === 'PONG') return { url, proc };
    } catch {
      // starting
    }
    await sleep(50);
  }
  throw new Error('redis-server did not start');
}

async function stopRedis(proc: ChildProcess): Promise<void> {
  if (proc.exitCode !== null || proc.signalCode !== null) return;
  const done = new Promise((r) => proc.once('exit', r));
  proc.kill('SIGKILL');
  await done;
  procs.delete(proc);
}

let src: { url: string; proc: ChildProcess } | null = null;
let link: RedisLink | null = null;

describe.skipIf(skip)('redis', () => {
  sourceSuite({
    type: 'redis',
    name: 'cache1',
    hasLog: true,
    async start(dir, fillerBytes) {
      src = await startRedis(dir);
      link = await RedisLink.open(parseRedisLocation(src.url));
      for (let k = 0; k * 1024 * 1024 < fillerBytes; k++) await link.call(['SET', `filler:${k}`, randomBytes(1024 * 1024)]);
    },
    async stop() {
      link?.close();
      for (const p of procs) await stopRedis(p);
    },
    url: () => src!.url,
    async write(i) {
      const r = await link!.call(['SET', `u:${i}`, String(i)]);
      if (r instanceof RespError) throw r;
    },
    async restoreArgs(target) {
      return ['--target', target];
    },
    async read(target) {
      const s = await startRedis(target, ['--dbfilename', 'dump.rdb']);
      try {
        const l = await RedisLink.open(parseRedisLocation(s.url));
        const keys = ((await l.call(['KEYS', 'u:*'])) as Buffer[]).map((k) => Number(k.toString().slice(2)));
        l.close();
        return keys.sort((a, b) => a - b);
      } finally {
        await stopRedis(s.proc);
      }
    },
    unchangedBackup: {
      maxDataBlobs: 2,
      why: 'the RDB of an unchanged server differs in its first chunk (aux fields ctime, used-mem, repl offset) and its last (the CRC64 trailer): 2 chunks, 0.5-8 MiB with 1 MiB average chunks, whatever the data size (measured 1.3-3.8 MB on 25-50 MB)',
    },
  });
});
