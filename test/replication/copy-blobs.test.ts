import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { withFaults, type FaultyBackend } from '../../src/backend/with-faults.js';
import { createEngine } from '../../src/engine/create-engine.js';
import type { Engine, RepoOptions } from '../../src/engine/types.js';
import { pseudoRandom } from '../helpers/data.js';
import { TEST_KDF } from '../helpers/temp-repo.js';
import { diffHashes, hashTree } from '../crash/crash-kit.js';

/**
 * `copy` between two independent repositories (different passwords, so different master
 * keys): the 'blobs' method. Copies restore byte for byte and pass check --read-data in
 * the destination; a repeated copy moves nothing; after a small change only the new
 * blobs move, and the unchanged files' chunks are not even read from the source.
 */

const CHUNKER = { min: 16 * 1024, avg: 64 * 1024, max: 256 * 1024 };

describe('copy between repositories with different keys', () => {
  let dir: string;
  let src: string;
  let from: RepoOptions;
  let to: RepoOptions;
  // Every backend call on the source repository, per engine (reset by making a new engine).
  let sourceCalls: FaultyBackend['calls'] = [];
  // Ranged loads of the source (single data blobs; trees are read a whole pack at a time).
  let rangedLoads: string[] = [];
  let engine: Engine;

  const newEngine = (): Engine =>
    createEngine({
      kdf: TEST_KDF,
      wrapBackend: (b, location) => {
        if (location !== from.repo) return b;
        const f = withFaults(b, []);
        sourceCalls = f.calls;
        const ranged: string[] = (rangedLoads = []);
        return {
          ...f,
          location: f.location,
          list: (prefix) => f.list(prefix),
          load: (name, range) => {
            if (range) ranged.push(name);
            return f.load(name, range);
          },
        };
      },
    });

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'cairn-copy-blobs-'));
    src = join(dir, 'src');
    from = { repo: join(dir, 'a'), password: 'password of A', cacheDir: join(dir, 'cache') };
    to = { repo: join(dir, 'b'), password: 'password of B', cacheDir: join(dir, 'cache') };
    engine = newEngine();
    await engine.init({ ...from, chunker: CHUNKER });
    await engine.init({ ...to, chunker: CHUNKER });
    await mkdir(join(src, 'sub', 'deeper'), { recursive: true });
    await mkdir(join(src, 'other'), { recursive: true });
    await writeFile(join(src, 'big.bin'), pseudoRandom(1, 1536 * 1024));
    await writeFile(join(src, 'sub', 'medium.bin'), pseudoRandom(2, 300 * 1024));
    await writeFile(join(src, 'sub', 'deeper', 'text.txt'), 'some text\n'.repeat(5000));
    await writeFile(join(src, 'other', 'small.txt'), 'small\n');
    await writeFile(join(src, 'dup.bin'), pseudoRandom(2, 300 * 1024)); // same content as medium.bin
  });

  afterAll(async () => {
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  async function restoreMatches(opts: RepoOptions, snapshot: string, tag: string): Promise<void> {
    const s = await engine.open(opts);
    try {
      const target = join(dir, `restore-${tag}`);
      const r = await s.restore({ snapshot, target, verify: true });
      expect(r.verified!.mismatches).toEqual([]);
      expect(diffHashes(await hashTree(src), await hashTree(join(target, src)))).toEqual([]);
    } finally {
      await s.close();
    }
  }

  it('copies, restores from the destination, passes check there, and a second copy moves nothing', async () => {
    const a = await engine.open(from);
    const first = await a.backup({ paths: [src] });
    await a.close();

    const r1 = await engine.copy({ from, to });
    expect(r1.method).toBe('blobs');
    expect(r1.copied).toHaveLength(1);
    expect(r1.copied[0]!.source.id).toBe(first.snapshot.id);
    expect(r1.copied[0]!.copy.id).not.toBe(first.snapshot.id);
    expect(r1.copied[0]!.copy.tree).not.toBe(first.snapshot.tree); // other id key, other ids
    expect(r1.copied[0]!.copy.original).toBe(first.snapshot.id); // shown by `snapshots --json`
    // Every blob of the snapshot moved once (dup.bin deduplicates against medium.bin).
    const sum = first.snapshot.summary!;
    expect(r1.blobsCopied).toBe(sum.dataBlobs + sum.treeBlobs);
    expect(r1.bytesCopied).toBeGreaterThan(0);

    await restoreMatches(to, r1.copied[0]!.copy.id, 'first');
    const b = await engine.open(to);
    const check = await b.check({ readData: true });
    expect(check.problems).toEqual([]);
    expect(check.ok).toBe(true);
    const snaps = await b.snapshots();
    expect(snaps).toHaveLength(1);
    // Metadata carried over.
    expect(snaps[0]).toMatchObject({ time: first.snapshot.time, host: first.snapshot.host, paths: first.snapshot.paths });
    await b.close();

    engine = newEngine();
    const r2 = await engine.copy({ from, to });
    expect(r2.copied).toEqual([]);
    expect(r2.skipped.map((s) => s.id)).toEqual([first.snapshot.id]);
    expect(r2.blobsCopied).toBe(0);
    expect(r2.bytesCopied).toBe(0);
    expect(r2.packsCopied).toBe(0);
    // Nothing but snapshot and index listings were needed from the source: no pack read at all.
    expect(sourceCalls.filter((c) => c.op === 'load' && c.name.startsWith('data/'))).toEqual([]);
  });

  it('after a small change, moves only the new blobs and reads no unchanged chunk from the source', async () => {
    // Change the first 100 KiB of big.bin (the rest keeps its chunks), add one new file.
    const big = pseudoRandom(1, 1536 * 1024);
    pseudoRandom(99, 100 * 1024).copy(big, 0);
    await writeFile(join(src, 'big.bin'), big);
    await writeFile(join(src, 'other', 'new.bin'), pseudoRandom(3, 40 * 1024));

    const a = await engine.open(from);
    const second = await a.backup({ paths: [src] });
    await a.close();
    const sum = second.snapshot.summary!;
    expect(sum.dataBlobs).toBeGreaterThan(0);
    expect(sum.filesUnchanged).toBeGreaterThan(0);

    engine = newEngine();
    const r = await engine.copy({ from, to });
    expect(r.skipped).toHaveLength(1);
    expect(r.copied).toHaveLength(1);
    // Exactly what the source's incremental backup added: its new chunks and its new trees.
    expect(r.blobsCopied).toBe(sum.dataBlobs + sum.treeBlobs);
    // Bytes written: the new packs, about the size of what the source added (same data, compressed alike).
    expect(r.bytesCopied).toBeGreaterThanOrEqual(sum.bytesAddedPacked);
    expect(r.bytesCopied).toBeLessThan(sum.bytesAddedPacked + 64 * 1024);
    // Data blobs are read with ranged loads of data/ (trees come whole-pack): exactly the new chunks.
    expect(rangedLoads.length).toBe(sum.dataBlobs);
    // Whole-pack reads are tree packs only: the new backup's (changed directories); the
    // unchanged subtrees were mapped and never read.
    const wholeReads = sourceCalls.filter((c) => c.op === 'load' && c.name.startsWith('data/')).length - rangedLoads.length;
    expect(wholeReads).toBeLessThanOrEqual(sum.packs);

    await restoreMatches(to, r.copied[0]!.copy.id, 'second');
    const b = await engine.open(to);
    expect((await b.check({ readData: true })).problems).toEqual([]);
    const snaps = await b.snapshots();
    expect(snaps).toHaveLength(2);
    // The copy's parent is the copy of the source's parent.
    expect(snaps[1]!.parent).toBe(snaps[0]!.id);
    await b.close();
  });

  it('refuses to copy a repository onto itself', async () => {
    await expect(engine.copy({ from, to: from })).rejects.toMatchObject({ code: 'USAGE' });
  });

  it('a dry run reports and writes nothing', async () => {
    await writeFile(join(src, 'other', 'dry.bin'), pseudoRandom(4, 50 * 1024));
    const a = await engine.open(from);
    await a.backup({ paths: [src] });
    await a.close();
    const r = await engine.copy({ from, to, dryRun: true });
    expect(r.dryRun).toBe(true);
    expect(r.copied).toHaveLength(1);
    expect(r.blobsCopied).toBeGreaterThan(0);
    const b = await engine.open(to);
    expect(await b.snapshots()).toHaveLength(2);
    await b.close();
  });
});
