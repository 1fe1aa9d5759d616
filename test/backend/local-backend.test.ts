import { spawn, spawnSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { chmod, mkdir, mkdtemp, open, readdir, rm, truncate, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { isCairnError } from '../../src/core/errors/index.js';
import { LocalBackend } from '../../src/backend/local-backend.js';
import { backendSuite } from '../../src/backend/testing/suite.js';
import { buildChildModules } from './build-child-modules.js';
import { alignedSharedBuffer } from '../../src/util/aligned-buffer.js';
import { native } from '../../src/util/native-addon.js';

backendSuite('LocalBackend', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'cairn-local-'));
  // A root that doesn't exist yet: directories must be created on first save.
  return { backend: new LocalBackend(join(dir, 'repo')), cleanup: () => rm(dir, { recursive: true, force: true }) };
});

/** Every file under dir, relative, including temp files list() hides. */
async function allFiles(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { recursive: true, withFileTypes: true });
  return entries.filter((e) => e.isFile()).map((e) => join(e.parentPath, e.name).slice(dir.length + 1)).sort();
}

async function names(b: LocalBackend, prefix = ''): Promise<string[]> {
  const out: string[] = [];
  for await (const f of b.list(prefix)) out.push(f.name);
  return out.sort();
}

const sha256 = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');

describe('LocalBackend on disk', () => {
  let dir: string;
  let b: LocalBackend;
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'cairn-local-'));
    b = new LocalBackend(dir);
  });
  afterEach(async () => {
    await b.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('maps names to nested paths, creating data/xx/ lazily, leaving no temp files', async () => {
    expect(await readdir(dir)).toEqual([]);
    await b.save('data/ab/abcdef', new Uint8Array([1, 2, 3]));
    await b.save('config', new Uint8Array([4]));
    expect(await allFiles(dir)).toEqual(['config', 'data/ab/abcdef']);
  });

  it('reads into the caller\'s buffer, shared memory included, for whole files and ranges', async () => {
    await b.save('data/ab/p1', Buffer.from('0123456789'));
    const into = Buffer.from(new SharedArrayBuffer(16));
    const whole = await b.load('data/ab/p1', undefined, into);
    expect(whole.buffer).toBe(into.buffer);
    expect(whole.toString()).toBe('0123456789');
    const part = await b.load('data/ab/p1', { offset: 2, length: 3 }, into);
    expect(part.buffer).toBe(into.buffer);
    expect(part.toString()).toBe('234');
  });

  it('reads whole packs into an aligned buffer with O_DIRECT, byte for byte, whatever their size', async () => {
    const into = alignedSharedBuffer(3 * 2 ** 20);
    for (const n of [0, 1, 4095, 4096, 4097, 2 ** 20 + 3]) {
      const data = randomBytes(n);
      await b.save(`data/ab/p${n}`, data);
      into.fill(0xee);
      const got = await b.load(`data/ab/p${n}`, undefined, into);
      expect(got.buffer).toBe(into.buffer);
      expect(got.equals(data)).toBe(true);
    }
    // White box: the file system here (ext4 under the temp dir) took O_DIRECT.
    expect((b as unknown as { noDirect: boolean }).noDirect).toBe(false);
  });

  it('falls back to the page cache where O_DIRECT is refused (ramfs), and stops trying', async (ctx) => {
    if (!native?.addressMod) return ctx.skip('no native addon: no aligned buffers, O_DIRECT is never tried');
    const mnt = join(dir, 'ramfs');
    await mkdir(mnt);
    // tmpfs takes O_DIRECT since Linux 6.6; ramfs refuses it at open (EINVAL).
    const mounted = spawnSync('mount', ['-t', 'ramfs', 'ramfs', mnt], { encoding: 'utf8' });
    if (mounted.status !== 0) return ctx.skip(`cannot mount a ramfs (needs root/CAP_SYS_ADMIN): ${mounted.stderr || mounted.error}`);
    const onRamfs = new LocalBackend(mnt);
    try {
      const data = randomBytes(10_000);
      await onRamfs.save('data/ab/pack', data);
      const into = alignedSharedBuffer(data.length);
      expect((await onRamfs.load('data/ab/pack', undefined, into)).equals(data)).toBe(true);
      expect((onRamfs as unknown as { noDirect: boolean }).noDirect).toBe(true);
      expect((await onRamfs.load('data/ab/pack', undefined, into)).equals(data)).toBe(true);
    } finally {
      await onRamfs.close();
      spawnSync('umount', [mnt]);
    }
  });

  it('resolves a relative root to an absolute location', () => {
    expect(new LocalBackend('some/rel').location).toBe(join(process.cwd(), 'some/rel'));
  });

  it('never lists temp files of in-flight or killed saves', async () => {
    await b.save('data/ab/p1', new Uint8Array(3));
    await writeFile(join(dir, '.tmp-abc'), 'junk');
    await writeFile(join(dir, 'data', 'ab', '.tmp-def'), 'junk');
    expect(await names(b)).toEqual(['data/ab/p1']);
    expect(await names(b, 'data/ab/')).toEqual(['data/ab/p1']);
  });

  it('cleanTemp removes only temp files older than the limit', async () => {
    const now = Date.parse('2026-01-01T12:00:00Z');
    b = new LocalBackend(dir, { now: () => now });
    await b.save('data/ab/p1', new Uint8Array(3));
    const oldTemp = join(dir, 'data', 'ab', '.tmp-old');
    const youngTemp = join(dir, '.tmp-young');
    await writeFile(oldTemp, 'x');
    await writeFile(youngTemp, 'x');
    await utimes(oldTemp, new Date(now - 2 * 3600_000), new Date(now - 2 * 3600_000));
    await utimes(youngTemp, new Date(now - 60_000), new Date(now - 60_000));
    expect(await b.cleanTemp(3600_000)).toBe(1);
    expect(await allFiles(dir)).toEqual(['.tmp-young', 'data/ab/p1']);
  });

  it('cleanTemp on a root that does not exist removes nothing', async () => {
    expect(await new LocalBackend(join(dir, 'nope')).cleanTemp(0)).toBe(0);
  });

  it('loads a range with positional reads, never the whole file', async () => {
    // An 8 GiB sparse file: reading it whole would fail (over Node's 2 GiB buffer limit).
    await b.save('data/ab/huge', new Uint8Array(0));
    const path = join(dir, 'data', 'ab', 'huge');
    await truncate(path, 8 * 1024 ** 3);
    const fh = await open(path, 'r+');
    await fh.write(Buffer.from('tail!'), 0, 5, 8 * 1024 ** 3 - 5);
    await fh.close();
    const got = await b.load('data/ab/huge', { offset: 8 * 1024 ** 3 - 5, length: 5 });
    expect(got.toString()).toBe('tail!');
  });

  it('reports a file truncated on disk as IO_ERROR', async () => {
    await b.save('data/ab/p', new Uint8Array(100).fill(7));
    await truncate(join(dir, 'data', 'ab', 'p'), 50);
    const err = await b.load('data/ab/p', { offset: 40, length: 20 }).catch((e: unknown) => e);
    expect(isCairnError(err, 'IO_ERROR')).toBe(true);
    expect((err as Error).message).toMatch(/truncated/);
  });

  it('removes its temp file when a save fails, and reports a CairnError', async () => {
    // The target is a non-empty directory, so the final rename fails.
    await mkdir(join(dir, 'data', 'ab', 'p', 'x'), { recursive: true });
    const err = await b.save('data/ab/p', new Uint8Array(10)).catch((e: unknown) => e);
    expect(isCairnError(err)).toBe(true);
    expect(await readdir(join(dir, 'data', 'ab'))).toEqual(['p']);
  });

  it('does not fsync-fail or error when removing from a missing folder', async () => {
    await b.remove('data/zz/none');
    await b.remove('config');
  });
});

describe('LocalBackend under failure', () => {
  let childDir: string;
  let work: string;
  beforeAll(async () => {
    childDir = await buildChildModules();
  });
  afterAll(async () => {
    await rm(childDir, { recursive: true, force: true });
  });
  beforeEach(async () => {
    work = await mkdtemp(join(tmpdir(), 'cairn-fail-'));
    await chmod(work, 0o755);
  });
  afterEach(async () => {
    await rm(work, { recursive: true, force: true });
  });

  it('leaves only complete files when a process is SIGKILLed mid-save', async () => {
    // SIGKILL keeps the page cache, so this proves atomic visibility (never a prefix
    // under a final name), not power-loss durability; that rests on fsync + rename.
    // Several short rounds: each kill lands at a new random point (often mid-write).
    const ROUNDS = 6;
    const root = join(work, 'repo');
    const acknowledged = new Set<string>();
    const delays: number[] = [];
    for (let round = 0; round < ROUNDS; round++) {
      const child = spawn(process.execPath, [join(childDir, 'save-loop.mjs'), root], { stdio: ['ignore', 'pipe', 'inherit'] });
      const exited = new Promise<NodeJS.Signals | null>((resolve) => child.on('exit', (_code, signal) => resolve(signal)));
      let out = '';
      await new Promise<void>((resolve, reject) => {
        child.stdout.on('data', (chunk: Buffer) => {
          out += chunk.toString();
          if (out.includes('\n')) resolve();
        });
        child.on('exit', () => reject(new Error(`child exited early:\n${out}`)));
      });
      const delay = Math.floor(Math.random() * 50);
      delays.push(delay);
      await new Promise((r) => setTimeout(r, delay));
      child.kill('SIGKILL');
      expect(await exited).toBe('SIGKILL');
      // Only complete lines count; the last piece may have been cut by the kill.
      for (const line of out.split('\n').slice(0, -1)) acknowledged.add(line.replace('saved ', ''));
    }
    const b = new LocalBackend(root);
    const listed: { name: string; size: number }[] = [];
    for await (const f of b.list('')) listed.push(f);
    const why = `kill delays ${delays.join(',')} ms`;
    // Every acknowledged save is there; a few more may have finished their rename just
    // before a kill without printing (4 saves run at once).
    const listedIds = new Set(listed.map((f) => f.name.split('/')[2]));
    for (const id of acknowledged) expect(listedIds.has(id), `${id} acknowledged but missing; ${why}`).toBe(true);
    expect(listed.length, why).toBeLessThanOrEqual(acknowledged.size + 4 * ROUNDS);
    for (const f of listed) {
      expect(f.size, `${f.name}: ${why}`).toBe(4 * 1024 * 1024);
      const id = sha256(await b.load(f.name));
      expect(`data/${id.slice(0, 2)}/${id}`, why).toBe(f.name);
    }
    // Whatever temp files the kills left are invisible to list() and cleanTemp removes them.
    await b.cleanTemp(0);
    expect((await allFiles(root)).filter((f) => f.includes('.tmp-'))).toEqual([]);
  });

  it('reports DISK_FULL on a full file system and leaves no temp file', async (ctx) => {
    const mnt = join(work, 'mnt');
    await mkdir(mnt);
    const mounted = spawnSync('mount', ['-t', 'tmpfs', '-o', 'size=1m', 'tmpfs', mnt], { encoding: 'utf8' });
    if (mounted.status !== 0) ctx.skip(`cannot mount a tmpfs (needs root/CAP_SYS_ADMIN): ${mounted.stderr || mounted.error}`);
    try {
      const b = new LocalBackend(mnt);
      await b.save('config', new TextEncoder().encode('config v1'));
      const err = await b.save('data/ab/too-big', new Uint8Array(2 * 1024 * 1024)).catch((e: unknown) => e);
      expect(isCairnError(err, 'DISK_FULL')).toBe(true);
      expect((err as Error & { hint?: string }).hint).toMatch(/free space/);
      expect((await allFiles(mnt)).filter((f) => f.includes('.tmp-'))).toEqual([]);
      expect(await names(b)).toEqual(['config']);
      expect(new TextDecoder().decode(await b.load('config'))).toBe('config v1');
      // Overwriting the config on a full disk fails but keeps the old version intact.
      await b.save('data/ab/filler', new Uint8Array(900 * 1024)).catch(() => {});
      const err2 = await b.save('config', new Uint8Array(512 * 1024), { overwrite: true }).catch((e: unknown) => e);
      expect(isCairnError(err2, 'DISK_FULL')).toBe(true);
      expect(new TextDecoder().decode(await b.load('config'))).toBe('config v1');
      expect((await allFiles(mnt)).filter((f) => f.includes('.tmp-'))).toEqual([]);
    } finally {
      spawnSync('umount', [mnt]);
    }
  });

  it('maps EACCES to PERMISSION_DENIED (checked as user nobody, since root bypasses it)', async (ctx) => {
    const root = join(work, 'repo');
    const b = new LocalBackend(root);
    await b.save('config', new Uint8Array([1]));
    await b.save('data/ab/p', new Uint8Array([2]));
    await chmod(join(root, 'config'), 0o600);
    await chmod(join(root, 'data', 'ab'), 0o700);
    const asNobody = (op: string, name: string) => {
      const r = spawnSync(process.execPath, [join(childDir, 'try-ops.mjs'), root, op, name], {
        uid: 65534,
        gid: 65534,
        encoding: 'utf8',
      });
      if (r.error || r.status !== 0) ctx.skip(`cannot run a child as uid 65534: ${r.error ?? r.stderr}`);
      return JSON.parse(r.stdout) as { ok: boolean; uid: number; code?: string };
    };
    const save = asNobody('save', 'data/cd/new');
    if (save.uid !== 65534) ctx.skip(`child did not drop to uid 65534 (uid ${save.uid})`);
    expect(save).toMatchObject({ ok: false, code: 'PERMISSION_DENIED' });
    expect(asNobody('load', 'config')).toMatchObject({ ok: false, code: 'PERMISSION_DENIED' });
    expect(asNobody('list', 'data/')).toMatchObject({ ok: false, code: 'PERMISSION_DENIED' });
    expect(asNobody('remove', 'config')).toMatchObject({ ok: false, code: 'PERMISSION_DENIED' });
    expect(await allFiles(root)).toEqual(['config', 'data/ab/p']);
  });
});
