import { mkdir, mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { withFaults } from '../../src/backend/with-faults.js';
import { createEngine } from '../../src/engine/create-engine.js';
import type { Engine, RepoOptions } from '../../src/engine/types.js';
import { pseudoRandom } from '../helpers/data.js';
import { TEST_KDF } from '../helpers/temp-repo.js';
import { diffHashes, hashTree, packsOnDisk } from '../crash/crash-kit.js';

/**
 * Mirrors: `init --mirror-of` shares the primary's keys; a backup with mirrors writes
 * every pack to them as it goes and the snapshot after; a mirror that fails is reported
 * and never fails the primary; `copy` (method 'packs', byte for byte) or the next backup
 * heals it; a mirror restores alone; a repository with other keys is MIRROR_MISMATCH.
 */

const CHUNKER = { min: 16 * 1024, avg: 64 * 1024, max: 256 * 1024 };

describe('mirrored repositories', () => {
  let dir: string;
  let src: string;
  let primary: RepoOptions;
  let m1: RepoOptions;
  let m2: RepoOptions;
  let other: RepoOptions;
  let plain: Engine;
  /** m2 refuses every pack write: a mirror that is down for data. */
  let broken: Engine;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'cairn-mirror-'));
    src = join(dir, 'src');
    const cacheDir = join(dir, 'cache');
    primary = { repo: join(dir, 'primary'), password: 'primary password', cacheDir };
    m1 = { repo: join(dir, 'm1'), password: 'primary password', cacheDir };
    m2 = { repo: join(dir, 'm2'), password: 'another password for m2', cacheDir };
    other = { repo: join(dir, 'other'), password: 'primary password', cacheDir };
    plain = createEngine({ kdf: TEST_KDF, retry: { attempts: 1 } });
    broken = createEngine({
      kdf: TEST_KDF,
      retry: { attempts: 1 },
      wrapBackend: (b, location) => (location === m2.repo ? withFaults(b, [{ op: 'save', match: /^data\//, fault: 'error' }]) : b),
    });
    await plain.init({ ...primary, chunker: CHUNKER });
    await plain.init({ ...m1, mirrorOf: { repo: primary.repo, password: primary.password } });
    await plain.init({ ...m2, mirrorOf: { repo: primary.repo, password: primary.password } });
    await plain.init({ ...other, chunker: CHUNKER });
    await mkdir(join(src, 'd'), { recursive: true });
    await writeFile(join(src, 'a.bin'), pseudoRandom(11, 700 * 1024));
    await writeFile(join(src, 'd', 'b.txt'), 'mirror me\n'.repeat(3000));
  });

  afterAll(async () => {
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  async function snapshotIds(opts: RepoOptions): Promise<string[]> {
    const s = await plain.open(opts);
    try {
      return (await s.snapshots()).map((x) => x.id);
    } finally {
      await s.close();
    }
  }

  it('a mirror shares the keys and chunking but has its own id and key slot', async () => {
    const p = JSON.parse(await readFile(join(primary.repo, 'config'), 'utf8'));
    const m = JSON.parse(await readFile(join(m2.repo, 'config'), 'utf8'));
    expect(m.id).not.toBe(p.id);
    expect(m.mirrorOf).toBe(p.id);
    expect(m.chunker).toEqual(p.chunker);
    expect(m.keyCheck).toMatch(/^[0-9a-f]{64}$/);
    expect(m.keyCheck).not.toBe(p.keyCheck); // bound to the id: links nothing
    // Opens with its own password (which the primary does not know).
    await expect(plain.open({ ...primary, password: m2.password })).rejects.toMatchObject({ code: 'WRONG_PASSWORD' });
    const s = await plain.open(m2);
    expect(s.id).toBe(m.id);
    await s.close();
  });

  it('refuses a --mirror with other keys before writing anything (MIRROR_MISMATCH)', async () => {
    const s = await plain.open(primary);
    try {
      await expect(s.backup({ paths: [src], mirrors: [m1.repo, other.repo] })).rejects.toMatchObject({ code: 'MIRROR_MISMATCH' });
    } finally {
      await s.close();
    }
    expect(await snapshotIds(primary)).toEqual([]);
    expect((await packsOnDisk(primary.repo)).size).toBe(0);
    expect((await packsOnDisk(m1.repo)).size).toBe(0);
    expect(await readdir(join(m1.repo, 'locks')).catch(() => [])).toEqual([]);
  });

  let first: string;
  it('with one mirror down, stores to the primary and the other mirror and says which failed', async () => {
    const s = await broken.open(primary);
    const r = await s.backup({ paths: [src], mirrors: [m1.repo, m2.repo] });
    await s.close();
    first = r.snapshot.id;
    expect(r.mirrors).toHaveLength(2);
    expect(r.mirrors![0]).toMatchObject({ location: m1.repo, ok: true, packsCopied: 0 });
    expect(r.mirrors![1]).toMatchObject({ location: m2.repo, ok: false, error: { code: 'BACKEND_UNAVAILABLE' } });
    expect(await snapshotIds(primary)).toEqual([first]);
    expect(await snapshotIds(m1)).toEqual([first]); // the same file, byte for byte
    expect(await snapshotIds(m2)).toEqual([]);
    // m1's packs are the primary's, byte for byte.
    const pp = await packsOnDisk(primary.repo);
    expect(await packsOnDisk(m1.repo)).toEqual(pp);
    for (const id of pp.keys()) {
      const name = join('data', id.slice(0, 2), id);
      expect((await readFile(join(m1.repo, name))).equals(await readFile(join(primary.repo, name)))).toBe(true);
    }
    // No lock left behind in any of them.
    for (const r2 of [primary, m1, m2]) expect(await readdir(join(r2.repo, 'locks')).catch(() => [])).toEqual([]);
    const c = await plain.open(m1);
    expect((await c.check({ readData: true })).problems).toEqual([]);
    await c.close();
  });

  it('the next backup heals the failed mirror for its snapshot; copy heals the rest (method packs)', async () => {
    await writeFile(join(src, 'd', 'c.bin'), pseudoRandom(12, 200 * 1024));
    const s = await plain.open(primary);
    const r = await s.backup({ paths: [src], mirrors: [m1.repo, m2.repo] });
    await s.close();
    expect(r.mirrors!.map((m) => m.ok)).toEqual([true, true]);
    expect(r.mirrors![0]!.packsCopied).toBe(0); // m1 got everything as it happened
    expect(r.mirrors![1]!.packsCopied).toBeGreaterThan(0); // m2 caught up on what it missed
    expect(await snapshotIds(m2)).toEqual([r.snapshot.id]);

    const inM2 = await packsOnDisk(m2.repo);
    const lacking = [...(await packsOnDisk(primary.repo)).keys()].filter((id) => !inM2.has(id));
    const c = await plain.copy({ from: primary, to: m2 });
    expect(c.method).toBe('packs');
    expect(c.copied.map((x) => x.copy.id)).toEqual([first]); // the same snapshot file
    expect(c.skipped.map((x) => x.id)).toEqual([r.snapshot.id]);
    // Only what the catch-up did not bring (the first snapshot's own trees), as whole packs.
    expect(c.packsCopied).toBe(lacking.length);
    expect(c.packsCopied).toBeGreaterThan(0);
    expect(await packsOnDisk(m2.repo)).toEqual(await packsOnDisk(primary.repo));
    expect((await snapshotIds(m2)).sort()).toEqual([first, r.snapshot.id].sort());
    // Again: nothing to do.
    const again = await plain.copy({ from: primary, to: m2 });
    expect(again.copied).toEqual([]);
    expect(again.bytesCopied).toBe(0);
  });

  it('a mirror restores alone, with the primary gone', async () => {
    const expected = await hashTree(src);
    const saved = join(dir, 'primary.away');
    await rm(saved, { recursive: true, force: true });
    await rm(join(dir, 'cache'), { recursive: true, force: true }); // no help from any cache either
    const { rename } = await import('node:fs/promises');
    await rename(primary.repo, saved);
    try {
      const s = await plain.open(m2);
      expect((await s.check({ readData: true })).problems).toEqual([]);
      const target = join(dir, 'restore-m2');
      const res = await s.restore({ snapshot: 'latest', target, verify: true });
      expect(res.verified!.mismatches).toEqual([]);
      expect(diffHashes(expected, await hashTree(join(target, src)))).toEqual([]);
      await s.close();
    } finally {
      await rename(saved, primary.repo);
    }
  });

  it('copy to a fresh mirror copies pack files byte for byte (method packs)', async () => {
    const m3: RepoOptions = { repo: join(dir, 'm3'), password: 'third', cacheDir: join(dir, 'cache') };
    await plain.init({ ...m3, mirrorOf: { repo: primary.repo, password: primary.password } });
    const c = await plain.copy({ from: primary, to: m3 });
    expect(c.method).toBe('packs');
    expect(c.copied).toHaveLength(2);
    const pp = await packsOnDisk(primary.repo);
    const mp = await packsOnDisk(m3.repo);
    expect(mp).toEqual(pp); // every pack is needed by some snapshot here
    expect(c.packsCopied).toBe(pp.size);
    expect(c.bytesCopied).toBe([...pp.values()].reduce((a, b) => a + b, 0));
    for (const id of mp.keys()) {
      const name = join('data', id.slice(0, 2), id);
      expect((await readFile(join(m3.repo, name))).equals(await readFile(join(primary.repo, name)))).toBe(true);
    }
    expect((await readdir(join(m3.repo, 'snapshots'))).sort()).toEqual((await readdir(join(primary.repo, 'snapshots'))).sort());
    const s = await plain.open(m3);
    expect((await s.check({ readData: true })).problems).toEqual([]);
    await s.close();
  });

  it('a primary whose config predates keyCheck gets one when its first mirror is made', async () => {
    const old: RepoOptions = { repo: join(dir, 'old'), password: 'old', cacheDir: join(dir, 'cache') };
    await plain.init(old);
    const cfgPath = join(old.repo, 'config');
    const cfg = JSON.parse(await readFile(cfgPath, 'utf8'));
    delete cfg.keyCheck;
    await writeFile(cfgPath, JSON.stringify(cfg));
    const mirror: RepoOptions = { repo: join(dir, 'old-mirror'), password: 'old', cacheDir: join(dir, 'cache') };
    await plain.init({ ...mirror, mirrorOf: { repo: old.repo, password: old.password } });
    const after = JSON.parse(await readFile(cfgPath, 'utf8'));
    expect(after.keyCheck).toMatch(/^[0-9a-f]{64}$/);
    expect({ ...after, keyCheck: undefined }).toEqual({ ...cfg, keyCheck: undefined });
    // Now the roles can swap: the old primary serves as a mirror of its mirror.
    const s = await plain.open(mirror);
    const r = await s.backup({ paths: [join(src, 'd')], mirrors: [old.repo] });
    await s.close();
    expect(r.mirrors).toEqual([expect.objectContaining({ ok: true })]);
  });

  it('copy from a mirror to an independent repository re-encrypts (method blobs)', async () => {
    const c = await plain.copy({ from: m2, to: other });
    expect(c.method).toBe('blobs');
    expect(c.copied).toHaveLength(2);
    const s = await plain.open(other);
    expect((await s.check({ readData: true })).problems).toEqual([]);
    await s.close();
  });
});
