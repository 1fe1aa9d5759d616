import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, promises as fsp, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { killAllCairns, spawnCairn, type CairnChild } from '../helpers/cli.js';
import { cliFor, requireBuild, scratchDir, type Cli } from '../e2e/support.js';
import { RedisLink } from '../../src/sources/redis/replica-link.js';
import { parseRedisLocation } from '../../src/sources/redis/redis-location.js';
import { RespError } from '../../src/sources/redis/resp.js';
import { freePort } from '../helpers/free-port.js';

/**
 * Issue #6 item 2 done-when, against private redis-servers (free port, temp dir, no
 * persistence), through the built CLI:
 *   stream (full resync → base) with a concurrent writer (SET, INCR, MULTI/EXEC, PEXPIRE)
 *   → restore --at several T: every write acknowledged before T is there, none sent after
 *   T is, transactions whole → kill -9 + restart: +CONTINUE, nothing lost, one window →
 *   streamer down while more than the (16 KiB) backlog is written: a new base and a gap
 *   in `cairn pitr` → the runbook's cairn steps → --to into a running server.
 */
const skip = spawnSync('redis-server', ['--version']).status !== 0;
const d = skip ? describe.skip : describe;

interface Server {
  port: number;
  url: string;
  proc: ChildProcess;
}
const servers: Server[] = [];

async function startRedis(dir: string, extra: string[] = []): Promise<Server> {
  await fsp.mkdir(dir, { recursive: true });
  const port = await freePort();
  const proc = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--dir', dir, '--save', '', '--appendonly', 'no', '--repl-diskless-sync', 'yes', '--repl-diskless-sync-delay', '0', ...extra], { stdio: 'ignore' });
  const s = { port, url: `redis://127.0.0.1:${port}`, proc };
  servers.push(s);
  for (let i = 0; i < 100; i++) {
    try {
      const l = await RedisLink.open(parseRedisLocation(s.url));
      const r = await l.call(['PING']);
      l.close();
      if (r === 'PONG' || (r instanceof RespError && r.message.startsWith('NOAUTH'))) return s;
    } catch {
      // starting
    }
    await sleep(50);
  }
  throw new Error('redis-server did not start');
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

async function client(url: string): Promise<RedisLink> {
  return RedisLink.open(parseRedisLocation(url));
}

/** Every key of db 0 with its string value (or "<type>" for others). */
async function dumpKeys(url: string): Promise<Map<string, string>> {
  const l = await client(url);
  const out = new Map<string, string>();
  const keys = (await l.call(['KEYS', '*'])) as Buffer[];
  for (const k of keys) {
    const v = await l.call(['GET', k]);
    out.set(k.toString(), v instanceof RespError ? '<other>' : Buffer.isBuffer(v) ? v.toString() : String(v));
  }
  l.close();
  return out;
}

/** The keys of a restored dump.rdb, read by a separate redis-server loading it. */
async function keysOfDump(dir: string): Promise<Map<string, string>> {
  const s = await startRedis(dir, ['--dbfilename', 'dump.rdb']);
  const keys = await dumpKeys(s.url);
  s.proc.kill('SIGKILL');
  return keys;
}

interface Write {
  kind: 'set' | 'incr' | 'multi' | 'expire';
  i: number;
  sent: number;
  acked: number;
}

/** Writes until stopped, on its own connection, recording send and acknowledgement times. */
function startWriter(url: string, prefix: string): { stop: () => Promise<Write[]> } {
  const writes: Write[] = [];
  let stopped = false;
  const done = (async () => {
    const l = await client(url);
    for (let i = 0; !stopped; i++) {
      const kind = (['set', 'incr', 'multi', 'expire'] as const)[i % 4];
      const sent = Date.now();
      if (kind === 'set') await l.call(['SET', `${prefix}:s:${i}`, String(i)]);
      else if (kind === 'incr') await l.call(['INCR', `${prefix}:counter`]);
      else if (kind === 'multi') {
        l.write(Buffer.concat([enc(['MULTI']), enc(['SET', `${prefix}:ma:${i}`, String(i)]), enc(['SET', `${prefix}:mb:${i}`, String(i)]), enc(['EXEC'])]));
        for (let j = 0; j < 4; j++) await l.readValue();
      } else {
        await l.call(['SET', `${prefix}:e:${i}`, String(i)]);
        await l.call(['PEXPIRE', `${prefix}:e:${i}`, '600000']);
      }
      writes.push({ kind, i, sent, acked: Date.now() });
      await sleep(3);
    }
    l.close();
  })();
  return {
    stop: async () => {
      stopped = true;
      await done;
      return writes;
    },
  };
}

function enc(args: string[]): Buffer {
  return Buffer.from(`*${args.length}\r\n${args.map((a) => `$${Buffer.byteLength(a)}\r\n${a}\r\n`).join('')}`);
}

/** Margin between a client's acknowledgement and the replica's arrival time. */
const MARGIN = 150;

function checkAt(T: number, writes: Write[], keys: Map<string, string>, prefix: string): { before: number; after: number } {
  let before = 0;
  let after = 0;
  for (const w of writes) {
    const names = w.kind === 'set' ? [`${prefix}:s:${w.i}`] : w.kind === 'multi' ? [`${prefix}:ma:${w.i}`, `${prefix}:mb:${w.i}`] : w.kind === 'expire' ? [`${prefix}:e:${w.i}`] : [];
    const present = names.map((n) => keys.get(n) === String(w.i));
    // A transaction is whole or absent, whatever T is.
    if (w.kind === 'multi') expect(present[0], `MULTI ${w.i} split at ${new Date(T).toISOString()}`).toBe(present[1]);
    if (w.acked + MARGIN <= T) {
      if (names.length) expect(present.every(Boolean), `${w.kind} ${w.i} acked before T missing`).toBe(true);
      before++;
    } else if (w.sent > T) {
      if (names.length) expect(present.some(Boolean), `${w.kind} ${w.i} sent after T present`).toBe(false);
      after++;
    }
  }
  const incr = writes.filter((w) => w.kind === 'incr');
  const counter = Number(keys.get(`${prefix}:counter`) ?? '0');
  expect(counter).toBeGreaterThanOrEqual(incr.filter((w) => w.acked + MARGIN <= T).length);
  expect(counter).toBeLessThanOrEqual(incr.filter((w) => w.sent <= T).length);
  return { before, after };
}

let cli: Cli;
let src: Server;
let streamer: CairnChild | null = null;
const NAME = 'cache1';

async function pitr(extra: string[] = []): Promise<{ code: number | null; report: any; stderr: string }> {
  const r = await cli.run(['--json', 'pitr', NAME, ...extra]);
  return { code: r.code, report: r.stdout ? JSON.parse(r.stdout) : null, stderr: r.stderr };
}

/** Waits until the stored log has caught up with the master (replica lag 0) and `after` is inside the window. */
async function waitStored(after: number): Promise<any> {
  const deadline = Date.now() + 20_000;
  let last: any;
  while (Date.now() < deadline) {
    const p = await pitr(['--server', src.url]);
    last = p.report;
    if (p.code === 0 && p.report.server?.lagBytes === 0 && Date.parse(p.report.windows.at(-1)?.to ?? 0) >= after) return p.report;
    await sleep(300);
  }
  throw new Error(`log never caught up: ${JSON.stringify(last)}`);
}

async function restoreAt(T: number | 'latest', name: string): Promise<Map<string, string>> {
  const dir = join(cli.dir, name);
  const at = T === 'latest' ? 'latest' : new Date(T).toISOString();
  const r = await cli.run(['restore', '--source', NAME, '--at', at, '--target', dir]);
  expect(r.code, r.stderr).toBe(0);
  return keysOfDump(dir);
}

d('redis source: PITR through the replication protocol', () => {
  beforeAll(async () => {
    requireBuild();
    const dir = await scratchDir('redis');
    cli = cliFor(dir);
    await cli.json(['init']);
    src = await startRedis(join(dir, 'src'), ['--repl-backlog-size', '16384']);
  });

  afterAll(async () => {
    streamer?.kill('SIGKILL');
    killAllCairns();
    for (const s of servers) s.proc.kill('SIGKILL');
    // Killed processes may still be writing into it for a moment.
    if (cli) await fsp.rm(cli.dir, { recursive: true, force: true, maxRetries: 5, retryDelay: 100 });
  });

  it('records concurrent writes; restore --at T holds exactly what was written before T, transactions whole', async () => {
    const pre = await client(src.url);
    await pre.call(['SET', 'before-stream', 'x']);
    pre.close();
    streamer = spawnCairn(['stream', src.url, '--name', NAME, '--flush-interval', '1s'], cli.env);
    // The window opens when the streamer's base is stored; on a loaded machine that can be
    // later than the first write, and T = t0 + 400 ms would then fall before it.
    await waitStored(Date.now());
    const w = startWriter(src.url, 'a');
    await sleep(2500);
    const writes = await w.stop();
    const end = Date.now();
    await waitStored(end);
    const t0 = writes[0]!.sent;
    const times = [t0 + 400, t0 + 1200, t0 + 2000];
    for (const [k, T] of times.entries()) {
      const keys = await restoreAt(T, `at${k}`);
      expect(keys.get('before-stream')).toBe('x');
      const { before, after } = checkAt(T, writes, keys, 'a');
      expect(before).toBeGreaterThan(10);
      expect(after).toBeGreaterThan(10);
    }
    const p = await pitr();
    expect(p.report.windows).toHaveLength(1);
    expect(p.report.gaps).toEqual([]);
  }, 40_000);

  it('kill -9 and restart: the stream continues (+CONTINUE), nothing is lost, one window', async () => {
    streamer!.kill('SIGKILL');
    await streamer!.done;
    const l = await client(src.url);
    for (let i = 0; i < 20; i++) await l.call(['SET', `down:${i}`, String(i)]); // well under the 16 KiB backlog
    l.close();
    streamer = spawnCairn(['stream', src.url, '--name', NAME, '--flush-interval', '1s'], cli.env);
    const t = Date.now();
    const rep = await waitStored(t);
    expect(rep.windows).toHaveLength(1);
    expect(rep.gaps).toEqual([]);
    expect(rep.bases).toHaveLength(1);
    const keys = await restoreAt('latest', 'after-kill');
    for (let i = 0; i < 20; i++) expect(keys.get(`down:${i}`)).toBe(String(i));
  }, 30_000);

  it('a backlog overflow while the streamer is down: a new base, and pitr reports the gap', async () => {
    streamer!.kill('SIGKILL');
    await streamer!.done;
    const l = await client(src.url);
    const big = 'v'.repeat(1000);
    for (let i = 0; i < 100; i++) await l.call(['SET', `flood:${i}`, big]); // ~100 KB > 16 KiB backlog
    l.close();
    streamer = spawnCairn(['stream', src.url, '--name', NAME, '--flush-interval', '1s'], cli.env);
    const t = Date.now();
    const rep = await waitStored(t);
    expect(rep.bases).toHaveLength(2);
    expect(rep.windows).toHaveLength(2);
    expect(rep.gaps).toHaveLength(1);
    expect(rep.gaps[0].reason).toBe('new-base');
    const human = await cli.run(['pitr', NAME]);
    expect(human.code).toBe(0);
    expect(human.stdout).toMatch(/GAP .* full resync \(new base\)/);
    // Inside the gap: refused before anything is written.
    const mid = new Date((Date.parse(rep.gaps[0].from) + Date.parse(rep.gaps[0].to)) / 2).toISOString();
    const r = await cli.run(['restore', '--source', NAME, '--at', mid, '--target', join(cli.dir, 'gap')]);
    expect(r.code).toBe(14);
    expect(r.stderr).toContain('TIME_OUT_OF_RANGE');
    expect(existsSync(join(cli.dir, 'gap', 'dump.rdb'))).toBe(false);
    const keys = await restoreAt('latest', 'after-resync');
    expect(keys.get('flood:99')).toBe(big);
    expect(keys.get('down:19')).toBe('19');
  }, 30_000);

  it('the runbook steps run as written (pitr --server, restore --target, restore --to, forget)', async () => {
    const scratch = await startRedis(join(cli.dir, 'scratch'));
    const l = await client(scratch.url);
    await l.call(['SET', 'only-on-scratch', '1']);
    l.close();
    const m = await client(src.url);
    await m.call(['SET', 'runbook-marker', '1']);
    m.close();
    const rep = await waitStored(Date.now());
    const T = rep.windows.at(-1).to as string; // the end of what is stored: holds the marker
    const vars: Record<string, string> = { URL: src.url, NAME, T, DIR: join(cli.dir, 'runbook'), TO: scratch.url };
    const text = readFileSync(new URL('../../docs/runbooks/redis-pitr.md', import.meta.url), 'utf8');
    const lines = [...text.matchAll(/```sh\n([\s\S]*?)```/g)].flatMap((m) => m[1]!.split('\n')).filter((x) => x.startsWith('cairn '));
    expect(lines.length).toBeGreaterThanOrEqual(5);
    for (const line of lines) {
      const args = line.slice(6).split(/\s+/).map((a) => a.replace(/\$([A-Z]+)/g, (_, v: string) => vars[v]!));
      if (args[0] === 'stream') continue; // running already (step 1)
      const r = await cli.run(args);
      expect(r.code, `${line}\n${r.stderr}`).toBe(0);
    }
    const restored = await keysOfDump(vars.DIR!);
    expect(restored.get('flood:0')).toBeDefined();
    expect(restored.get('runbook-marker')).toBe('1');
    const onScratch = await dumpKeys(scratch.url);
    expect(onScratch.get('only-on-scratch')).toBe('1');
    expect(onScratch.get('flood:99')).toBe('v'.repeat(1000));
    expect(onScratch.get('a:counter')).toBeDefined();
  }, 30_000);

  it('SIGTERM stores what arrived and exits 0', async () => {
    const l = await client(src.url);
    await l.call(['SET', 'last-words', '1']);
    l.close();
    await sleep(200);
    streamer!.kill('SIGTERM');
    const done = await streamer!.done;
    streamer = null;
    expect(done.code, done.stderr).toBe(0);
    const keys = await restoreAt('latest', 'after-term');
    expect(keys.get('last-words')).toBe('1');
  }, 20_000);

  it('errors: unreachable, wrong password, replication refused by ACL — one line each, stable codes', async () => {
    const port = await freePort();
    const r1 = await cli.run(['backup', `redis://127.0.0.1:${port}`]);
    expect(r1.code).toBe(44);
    expect(r1.stderr).toMatch(/SOURCE_UNREACHABLE/);
    const acl = await startRedis(join(cli.dir, 'acl'), ['--requirepass', 'right']);
    const r2 = await cli.run(['backup', `redis://:wrong@127.0.0.1:${acl.port}`]);
    expect(r2.code).toBe(45);
    expect(r2.stderr).toMatch(/refused authentication/);
    const r3 = await cli.run(['backup', `redis://127.0.0.1:${acl.port}`]);
    expect(r3.code).toBe(45);
    expect(r3.stderr).toMatch(/NOAUTH/);
    const a = await RedisLink.open(parseRedisLocation(`redis://:right@127.0.0.1:${acl.port}`));
    await a.call(['ACL', 'SETUSER', 'norepl', 'on', '>pw', '+@all', '-psync', '-sync']);
    await a.call(['ACL', 'SETUSER', 'repl', 'on', '>pw', '+psync', '+replconf', '+ping']);
    a.close();
    const r4 = await cli.run(['backup', `redis://norepl:pw@127.0.0.1:${acl.port}`]);
    expect(r4.code).toBe(45);
    expect(r4.stderr).toMatch(/refused PSYNC: NOPERM/);
    // The minimal replication user of docs/sources/redis.md is enough.
    const r5 = await cli.run(['backup', `redis://repl:pw@127.0.0.1:${acl.port}`, '--name', 'acl']);
    expect(r5.code, r5.stderr).toBe(0);
    for (const r of [r1, r2, r3, r4]) expect(r.stderr.trim().split('\n').filter((x) => !x.startsWith('hint:')).length).toBe(1);
  }, 30_000);
});
