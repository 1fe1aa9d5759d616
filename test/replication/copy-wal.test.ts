import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openBackend } from '../../src/backend/open-backend.js';
import { systemRandom } from '../../src/core/random.js';
import { sha256Hex } from '../../src/crypto/sha256.js';
import { withFaults } from '../../src/backend/with-faults.js';
import { createEngine } from '../../src/engine/create-engine.js';
import type { Engine, RepoOptions } from '../../src/engine/types.js';
import { packName, Repository } from '../../src/repository/repository.js';
import { syncIndex } from '../../src/repository/index-sync.js';
import { bestWalSegments } from '../../src/snapshot/wal-record.js';
import { loadSegment, storeSegments, type SegmentFile } from '../../src/sources/postgres/wal-catalog.js';
import { pseudoRandom } from '../helpers/data.js';
import { TEST_KDF } from '../helpers/temp-repo.js';

/**
 * `copy` moves WAL catalog records (no PostgreSQL needed: segments are synthetic bytes
 * stored the way the streamer stores them). To an independent repository (blobs method:
 * re-encrypted, records carry `original`) and to a mirror (packs method: record files
 * byte for byte): every segment's best version arrives with the same bytes, superseded
 * partial-only records are left behind, a second copy moves nothing, the next one only
 * the new records. check verifies records and names the segments a lost pack affects.
 */

const CHUNKER = { min: 16 * 1024, avg: 64 * 1024, max: 256 * 1024 };
const SEG = 512 * 1024;
const SOURCE = { name: 'db1', systemId: '7712695244149835622', segmentSize: SEG };

function segName(n: number): string {
  return `00000001000000000000000${n.toString(16).toUpperCase()}`;
}

/** A segment file: `fill` bytes of pseudo-random WAL, zero-padded like a partial segment. */
function segment(n: number, fill: number, partial: boolean): SegmentFile {
  const bytes = Buffer.alloc(SEG);
  pseudoRandom(n, fill).copy(bytes);
  return { name: segName(n), partial, bytes, firstCommit: `2026-01-01T00:0${n}:00.000000Z`, lastCommit: `2026-01-01T00:0${n}:30.000000Z` };
}

describe('copy of WAL records', () => {
  let dir: string;
  let engine: Engine;
  let A: RepoOptions;
  let B: RepoOptions;
  let M: RepoOptions;
  let t = Date.parse('2026-01-01T01:00:00Z');
  const clock = { now: () => new Date((t += 1000)) };

  const open = (o: RepoOptions) => Repository.open(openBackend(o.repo), o.password, { clock, random: systemRandom, cacheDir: o.cacheDir!, threads: 0 });

  async function store(files: SegmentFile[]): Promise<string> {
    const repo = await open(A);
    try {
      await syncIndex(repo);
      return (await storeSegments(repo, SOURCE, files))!.id;
    } finally {
      await repo.close();
    }
  }

  /** Best version per segment name: name → [sha256, partial]. */
  async function catalog(o: RepoOptions, verify = false): Promise<Record<string, [string, boolean]>> {
    const repo = await open(o);
    try {
      await syncIndex(repo);
      const out: Record<string, [string, boolean]> = {};
      for (const { source, segment } of bestWalSegments(await repo.listWalRecords()).values()) {
        expect(source).toBe('db1');
        if (verify) expect(sha256Hex(await loadSegment(repo, segment))).toBe(segment.sha256);
        out[segment.name] = [segment.sha256, segment.partial];
      }
      return out;
    } finally {
      await repo.close();
    }
  }

  const records = async (o: RepoOptions) => {
    const repo = await open(o);
    try {
      return await repo.listWalRecords();
    } finally {
      await repo.close();
    }
  };

  const ids: Record<string, string> = {};

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'cairn-copy-wal-'));
    const cacheDir = join(dir, 'cache');
    A = { repo: join(dir, 'a'), password: 'password of A', cacheDir };
    B = { repo: join(dir, 'b'), password: 'password of B', cacheDir };
    M = { repo: join(dir, 'm'), password: 'password of M', cacheDir };
    engine = createEngine({ kdf: TEST_KDF });
    await engine.init({ ...A, chunker: CHUNKER });
    await engine.init({ ...B, chunker: CHUNKER });
    await engine.init({ ...M, mirrorOf: { repo: A.repo, password: A.password } });
    // A files snapshot too: the copy of snapshots is unchanged by the WAL part.
    await mkdir(join(dir, 'src'));
    await writeFile(join(dir, 'src', 'f.bin'), pseudoRandom(99, 100_000));
    const a = await engine.open(A);
    await a.backup({ paths: [join(dir, 'src')] });
    await a.close();
    // Three flushes of a streamer: segment 2 grows (two partial versions), then completes.
    ids.r1 = await store([segment(1, SEG, false), segment(2, 100_000, true)]);
    ids.r2 = await store([segment(2, 200_000, true)]); // superseded by r3's complete 2
    ids.r3 = await store([segment(2, SEG, false), segment(3, 50_000, true)]);
  });

  afterAll(async () => {
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('blobs method: re-encrypts the segments, records keep `original`, superseded ones stay behind', async () => {
    const r = await engine.copy({ from: A, to: B });
    expect(r.method).toBe('blobs');
    expect(r.copied).toHaveLength(1);
    expect(r.wal).toEqual({ sources: ['db1'], recordsCopied: 2, recordsSkipped: 0, recordsSuperseded: 1, segmentsCopied: 4 });
    expect(await catalog(B, true)).toEqual(await catalog(A));
    const inB = await records(B);
    expect(inB.map((x) => x.body.original).sort()).toEqual([ids.r1, ids.r3].sort());
    expect(inB.map((x) => x.id)).not.toContain(ids.r1); // new files under B's keys
    const b = await engine.open(B);
    const check = await b.check({ readData: true });
    await b.close();
    expect(check.problems).toEqual([]);
    expect(check.affectedWal).toEqual([]);
  });

  it('packs method: the record files byte for byte, same ids', async () => {
    const r = await engine.copy({ from: A, to: M });
    expect(r.method).toBe('packs');
    expect(r.wal).toMatchObject({ recordsCopied: 2, recordsSuperseded: 1 });
    expect((await records(M)).map((x) => x.id).sort()).toEqual([ids.r1, ids.r3].sort());
    expect(await catalog(M, true)).toEqual(await catalog(A));
    const m = await engine.open(M);
    const check = await m.check({ readData: true });
    await m.close();
    expect(check.problems).toEqual([]);
  });

  it('a second copy moves nothing; after more WAL the next one moves only the new record', async () => {
    for (const to of [B, M]) {
      const again = await engine.copy({ from: A, to });
      expect(again.wal).toMatchObject({ recordsCopied: 0, recordsSkipped: 2, recordsSuperseded: 1 });
      expect(again.blobsCopied).toBe(0);
      expect(again.bytesCopied).toBe(0);
    }
    ids.r4 = await store([segment(3, SEG, false), segment(4, 30_000, true)]);
    const inA = (await records(A)).find((x) => x.id === ids.r4)!;
    const newBlobs = new Set(inA.body.segments.flatMap((s) => s.content));
    for (const to of [B, M]) {
      const next = await engine.copy({ from: A, to });
      expect(next.copied).toHaveLength(0);
      expect(next.wal).toMatchObject({ recordsCopied: 1, segmentsCopied: 2, recordsSkipped: 2 });
      // Only chunks of segments 3 and 4 move (their shared prefix with the old partial 3 deduplicates).
      expect(next.blobsCopied).toBeGreaterThan(0);
      expect(next.blobsCopied).toBeLessThanOrEqual(newBlobs.size);
      expect(await catalog(to, true)).toEqual(await catalog(A));
    }
  });

  it('--no-wal and a named files snapshot copy no WAL; --source copies only that source', async () => {
    ids.r5 = await store([segment(4, SEG, false), segment(5, 10_000, true)]);
    const none = await engine.copy({ from: A, to: B, wal: false });
    expect(none.wal).toBeUndefined();
    const named = await engine.copy({ from: A, to: B, snapshots: ['latest'] });
    expect(named.wal).toEqual({ sources: [], recordsCopied: 0, recordsSkipped: 0, recordsSuperseded: 0, segmentsCopied: 0 });
    const other = await engine.copy({ from: A, to: B, filter: { source: 'db2' } });
    expect(other.wal).toMatchObject({ sources: ['db2'], recordsCopied: 0 });
    const dry = await engine.copy({ from: A, to: B, filter: { source: 'db1' }, dryRun: true });
    expect(dry.wal).toMatchObject({ recordsCopied: 1 });
    expect((await records(B)).some((x) => x.body.original === ids.r5)).toBe(false);
    const one = await engine.copy({ from: A, to: B, filter: { source: 'db1' } });
    expect(one.wal).toMatchObject({ sources: ['db1'], recordsCopied: 1 });
    expect(await catalog(B, true)).toEqual(await catalog(A));
  });

  it('a copy that died before its index file is completed by the next one, and the result needs no local cache', async () => {
    ids.r6 = await store([segment(5, SEG, false), segment(6, 40_000, true)]);
    for (const to of [B, M]) {
      // Every index file write in the destination fails: the packs are stored (and known to
      // this machine's cache), no index file names them, no record may be written.
      const faulty = createEngine({
        kdf: TEST_KDF,
        wrapBackend: (b, location) => (location === to.repo ? withFaults(b, [{ op: 'save', match: /^index\//, fault: 'error' }]) : b),
      });
      await expect(faulty.copy({ from: A, to })).rejects.toThrow();
      const again = await engine.copy({ from: A, to });
      expect(again.wal!.recordsCopied).toBeGreaterThanOrEqual(1);
      // With a fresh cache (another machine, or the cache lost): everything is in index files.
      const fresh = await Repository.open(openBackend(to.repo), to.password, { clock, random: systemRandom, cacheDir: ':memory:', threads: 0 });
      try {
        await syncIndex(fresh);
        const names: string[] = [];
        for (const { segment: s } of bestWalSegments(await fresh.listWalRecords()).values()) {
          expect(sha256Hex(await loadSegment(fresh, s))).toBe(s.sha256);
          names.push(s.name);
        }
        expect(names.sort()).toEqual(Object.keys(await catalog(A)).sort());
      } finally {
        await fresh.close();
      }
    }
  });

  it('check names the WAL segments whose pack is gone', async () => {
    // On the mirror (A stays whole): lose the pack holding the first chunk of segment 1.
    const m = await open(M);
    await syncIndex(m);
    const r1 = (await m.listWalRecords()).find((x) => x.id === ids.r1)!;
    const loc = m.index.findForRead('data', r1.body.segments[0]!.content[0]!)!;
    await m.close();
    await rm(join(M.repo, packName(loc.pack)));
    const s = await engine.open(M);
    const check = await s.check();
    await s.close();
    expect(check.ok).toBe(false);
    expect(check.problems).toContainEqual(expect.objectContaining({ kind: 'pack', id: loc.pack }));
    expect(check.damagedPacks).toContain(loc.pack);
    expect(check.affectedWal?.[0]?.source).toBe('db1');
    expect(check.affectedWal?.[0]?.segments).toContain(segName(1));
  });

  it('check reports a record naming a blob the index lacks as a problem of kind wal', async () => {
    const a = await open(A);
    const [rec] = await a.listWalRecords();
    const seg = rec!.body.segments[0]!;
    const bad = await a.saveWalRecord({ ...rec!.body, segments: [{ ...seg, content: [...seg.content, 'f'.repeat(64) as never] }] });
    await a.close();
    const s = await engine.open(A);
    const check = await s.check();
    await s.close();
    const wal = check.problems.filter((p) => p.kind === 'wal');
    expect(wal).toHaveLength(1);
    expect(wal[0]!.id).toBe(bad);
    expect(wal[0]!.message).toContain(`WAL segment ${seg.name} of source db1`);
    expect(wal[0]!.message).toContain('1 of its');
    await rm(join(A.repo, 'wal', bad));
  });

  it('check reports a WAL record that does not open', async () => {
    const recs = await records(B);
    const victim = recs[0]!.id;
    await writeFile(join(B.repo, 'wal', victim), Buffer.from('CRNS garbage'));
    const s = await engine.open(B);
    const check = await s.check({ readData: true });
    await s.close();
    expect(check.problems).toContainEqual(expect.objectContaining({ kind: 'wal', id: victim }));
  });
});

