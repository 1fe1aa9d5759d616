import { createHash } from 'node:crypto';
import { mkdir, readdir, readFile, writeFile } from 'node:fs/promises';
import { join, relative } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MemBackend } from '../../src/backend/mem-backend.js';
import type { Backend } from '../../src/backend/types.js';
import { withAppendOnly } from '../../src/backend/with-append-only.js';
import { withFaults, type FaultyBackend } from '../../src/backend/with-faults.js';
import { isCairnError } from '../../src/core/errors/index.js';
import type { RepositorySession } from '../../src/engine/types.js';
import { makeTempRepo, type TempRepo } from '../helpers/temp-repo.js';

/**
 * Append-only keys (issue #4 part 5): a session opened with one may back up and read,
 * and every operation that deletes or rewrites repository files, or changes keys, is
 * refused with APPEND_ONLY before it touches the backend. The backend is wrapped in
 * withFaults (empty plan) only for its log of calls.
 */

const HOST_PW = 'host web1 password';

let t: TempRepo;
let src: string;
/** One FaultyBackend per engine.open, in order. */
const opened: FaultyBackend[] = [];
let adminKeyId: string;
let hostKeyId: string;
let firstSnapshot: string;

async function codeOf(p: Promise<unknown>): Promise<string | undefined> {
  try {
    await p;
    return undefined;
  } catch (err) {
    return isCairnError(err) ? err.code : `not a CairnError: ${String(err)}`;
  }
}

function openHost(): Promise<RepositorySession> {
  return t.engine.open({ repo: t.repo, password: HOST_PW, cacheDir: join(t.dir, 'host-cache') });
}

/** Every file of the repository with a hash of its bytes. */
async function repoFiles(): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  for (const e of await readdir(t.repo, { recursive: true, withFileTypes: true })) {
    if (!e.isFile()) continue;
    const p = join(e.parentPath, e.name);
    out.set(relative(t.repo, p), createHash('sha256').update(await readFile(p)).digest('hex'));
  }
  return out;
}

beforeAll(async () => {
  t = await makeTempRepo({
    wrapBackend: (b: Backend) => {
      const f = withFaults(b, []);
      opened.push(f);
      return f;
    },
  });
  src = join(t.dir, 'src');
  await mkdir(join(src, 'sub'), { recursive: true });
  await writeFile(join(src, 'a.txt'), 'first version\n');
  await writeFile(join(src, 'sub', 'b.bin'), Buffer.alloc(200_000, 3));

  const admin = await t.open();
  expect(admin.role).toBe('full');
  firstSnapshot = (await admin.backup({ paths: [src] })).snapshot.id;
  const host = await admin.addKey(HOST_PW, { role: 'append-only', label: 'web1' });
  expect(host).toMatchObject({ role: 'append-only', current: false, label: 'web1' });
  hostKeyId = host.id;
  adminKeyId = (await admin.listKeys()).find((k) => k.current)!.id;
  await admin.close();
});

afterAll(async () => {
  await t?.cleanup();
});

describe('an append-only session', () => {
  it('opens with the append-only password and says so', async () => {
    const s = await openHost();
    try {
      expect(s.role).toBe('append-only');
      const keys = await s.listKeys();
      expect(keys.find((k) => k.current)).toMatchObject({ id: hostKeyId, role: 'append-only' });
      expect(keys.find((k) => k.id === adminKeyId)).toMatchObject({ role: 'full', current: false });
    } finally {
      await s.close();
    }
  });

  it('backs up: adds a snapshot, deletes only its own lock, overwrites nothing that existed', async () => {
    await writeFile(join(src, 'a.txt'), 'second version, written by the host\n');
    await writeFile(join(src, 'new.bin'), Buffer.alloc(300_000, 9));
    const before = await repoFiles();
    const s = await openHost();
    const log = opened.at(-1)!;
    try {
      const r = await s.backup({ paths: [src] });
      expect(r.snapshot.summary!.packs).toBeGreaterThan(0);
      expect((await s.snapshots()).map((x) => x.id)).toEqual([firstSnapshot, r.snapshot.id]);
    } finally {
      await s.close();
    }
    const saves = log.calls.filter((c) => c.op === 'save').map((c) => c.name);
    const removes = log.calls.filter((c) => c.op === 'remove').map((c) => c.name);
    // The writer lock: saved (and refreshed) and removed by this session, nothing else removed.
    expect(removes.length).toBeGreaterThan(0);
    for (const name of removes) {
      expect(name).toMatch(/^locks\//);
      expect(saves).toContain(name);
    }
    // Every other save is a new file in data/, index/ or snapshots/: none replaced an existing one.
    for (const name of saves.filter((n) => !n.startsWith('locks/'))) {
      expect(name).toMatch(/^(data|index|snapshots)\//);
      expect(before.has(name), `${name} existed before the backup`).toBe(false);
    }
    // What was there before is still there, byte for byte.
    const after = await repoFiles();
    for (const [name, hash] of before) {
      if (name.startsWith('locks/')) continue;
      expect(after.get(name), name).toBe(hash);
    }
  });

  it('refuses forget, prune, repair index and packs, key add/remove/passwd, unlock --all and tag with APPEND_ONLY, deleting nothing', async () => {
    const before = await repoFiles();
    const s = await openHost();
    const log = opened.at(-1)!;
    try {
      const refused: Array<[string, () => Promise<unknown>]> = [
        ['forget', () => s.forget({ ids: [firstSnapshot] })],
        ['forget', () => s.forget({ policy: { keepLast: 1 } })],
        ['forget', () => s.forget({ ids: [firstSnapshot], prune: true })],
        ['prune', () => s.prune()],
        ['prune', () => s.prune({ gcDelayMs: 0 })],
        ['repair index', () => s.repairIndex()],
        ['repair packs', () => s.repairPacks(['0'.repeat(64)])],
        ['key add', () => s.addKey('another password')],
        ['key add', () => s.addKey('another password', { role: 'append-only' })],
        ['key remove', () => s.removeKey(adminKeyId)],
        ['key passwd', () => s.changePassword('new host password')],
        ['unlock --all', () => s.unlock({ all: true })],
        ['tag', () => s.tag([firstSnapshot], { add: ['keep'] })],
        ['tag', () => s.tag([], { set: [] })],
        ['rewrite --forget', () => s.rewrite([], { excludes: ['*'], forget: true })],
      ];
      for (const [op, run] of refused) {
        let caught: unknown;
        await run().catch((err: unknown) => (caught = err));
        expect(isCairnError(caught, 'APPEND_ONLY'), `${op}: ${String(caught)}`).toBe(true);
        const err = caught as { message: string; hint?: string; exitCode: number };
        expect(err.message).toBe(`${op} is refused: the repository was opened with an append-only key`);
        expect(err.hint).toMatch(/full-access key/);
        expect(err.exitCode).toBe(16);
      }
    } finally {
      await s.close();
    }
    expect(log.calls.filter((c) => c.op === 'remove')).toEqual([]);
    expect(log.calls.filter((c) => c.op === 'save')).toEqual([]);
    expect(await repoFiles()).toEqual(before);
  });

  it('still reads everything, previews forget, prune and tag with dry runs, and runs a plain unlock', async () => {
    const s = await openHost();
    const log = opened.at(-1)!;
    try {
      const f = await s.forget({ ids: [firstSnapshot], dryRun: true });
      expect(f.dryRun).toBe(true);
      expect(f.removed).toEqual([firstSnapshot]); // what it would remove
      expect((await s.prune({ dryRun: true })).dryRun).toBe(true);
      const tagged = await s.tag([firstSnapshot], { add: ['keep'] }, { dryRun: true });
      expect(tagged.changed).toEqual([expect.objectContaining({ snapshot: firstSnapshot, newTags: expect.arrayContaining(['keep']), taggedAs: null })]);
      const pack = [...(await repoFiles()).keys()].find((f) => f.startsWith('data/'))!.split('/').pop()!;
      expect((await s.repairPacks([pack], { dryRun: true })).packs[0]!.status).toBe('intact');
      expect(await s.unlock()).toMatchObject({ removed: 0 });
      expect((await s.check({ readData: true })).problems).toEqual([]);
      expect((await s.stats()).snapshots).toBe(2); // the dry run removed nothing
      const r = await s.restore({ snapshot: firstSnapshot, target: join(t.dir, 'restore-host'), verify: true });
      expect(r.verified!.mismatches).toEqual([]);
      expect(await readFile(join(t.dir, 'restore-host', src, 'a.txt'), 'utf8')).toBe('first version\n');
      expect(await s.cat('key', hostKeyId.slice(0, 8))).toMatchObject({ role: 'append-only' });
    } finally {
      await s.close();
    }
    expect(log.calls.filter((c) => c.op === 'remove' || c.op === 'save')).toEqual([]);
  });
});

describe('the full-access key afterwards', () => {
  it('can still forget and prune, and the host snapshot survives', async () => {
    const s = await t.open();
    const log = opened.at(-1)!;
    try {
      expect(s.role).toBe('full');
      const f = await s.forget({ ids: [firstSnapshot] });
      expect(f.removed).toEqual([firstSnapshot]);
      const p = await s.prune({ gcDelayMs: 0 });
      expect(p.dryRun).toBe(false);
      const left = await s.snapshots();
      expect(left).toHaveLength(1);
      const r = await s.restore({ snapshot: 'latest', target: join(t.dir, 'restore-admin'), verify: true });
      expect(r.verified!.mismatches).toEqual([]);
      expect(await readFile(join(t.dir, 'restore-admin', src, 'a.txt'), 'utf8')).toBe('second version, written by the host\n');
      // And a full key can remove the host's key.
      await s.removeKey(hostKeyId);
      expect((await s.listKeys()).map((k) => k.id)).toEqual([adminKeyId]);
    } finally {
      await s.close();
    }
    expect(log.calls.some((c) => c.op === 'remove' && c.name === `snapshots/${firstSnapshot}`)).toBe(true);
    expect(await codeOf(openHost())).toBe('WRONG_PASSWORD');
  });
});

describe('withAppendOnly (the backstop under an append-only session)', () => {
  it('lets lock files be rewritten and removed, and refuses removes, overwrites and cleanup elsewhere', async () => {
    const inner = new MemBackend();
    Object.assign(inner, { cleanup: async () => 0 });
    const b = withAppendOnly(inner);
    await b.save('locks/l1', Buffer.from('a'), { overwrite: true });
    await b.save('locks/l1', Buffer.from('b'), { overwrite: true });
    await b.remove('locks/l1');
    await b.save('data/ab/p1', Buffer.from('pack'));
    await b.save('snapshots/s1', Buffer.from('snap'));
    expect(await codeOf(b.remove('snapshots/s1'))).toBe('APPEND_ONLY');
    expect(await codeOf(b.remove('data/ab/p1'))).toBe('APPEND_ONLY');
    expect(await codeOf(b.remove('keys/k1'))).toBe('APPEND_ONLY');
    expect(await codeOf(b.save('keys/k1', Buffer.from('slot'), { overwrite: true }))).toBe('APPEND_ONLY');
    expect(await codeOf(b.save('config', Buffer.from('{}'), { overwrite: true }))).toBe('APPEND_ONLY');
    expect(await codeOf(b.cleanup!(0))).toBe('APPEND_ONLY');
    expect((await inner.load('snapshots/s1')).toString()).toBe('snap');
    expect((await inner.load('data/ab/p1')).toString()).toBe('pack');
  });

  it('is what an append-only Repository writes through, so a forgotten role check cannot delete', async () => {
    const s = await t.open();
    await s.addKey(HOST_PW + ' 2', { role: 'append-only' });
    await s.close();
    const host = await t.engine.open({ repo: t.repo, password: HOST_PW + ' 2', cacheDir: join(t.dir, 'host-cache-2') });
    try {
      const repo = (host as unknown as { repo: { backend: Backend } }).repo;
      const [snap] = await host.snapshots();
      expect(await codeOf(repo.backend.remove(`snapshots/${snap!.id}`))).toBe('APPEND_ONLY');
      expect(await host.snapshots()).toHaveLength(1);
    } finally {
      await host.close();
    }
  });
});
