import { describe, expect, it } from 'vitest';
import { MemBackend } from '../../src/backend/mem-backend.js';
import { systemClock } from '../../src/core/clock.js';
import { systemRandom } from '../../src/core/random.js';
import { Repository } from '../../src/repository/repository.js';
import { BlobSaver } from '../../src/repository/blob-saver.js';
import { decodeIndexFile } from '../../src/repository/index-file.js';
import { syncIndex } from '../../src/repository/index-sync.js';
import { pseudoRandom } from '../helpers/data.js';
import { TEST_KDF } from '../helpers/temp-repo.js';

/**
 * A session's packs are named by an index file every `indexEvery` packs and by one for
 * the rest at finish(), so encoding an index file never holds a whole backup's blobs.
 * Every pack is named exactly once, and a fresh cache finds every blob from them.
 */
describe('BlobSaver index files', () => {
  it('writes one index file per indexEvery packs plus one for the rest, naming each pack once', async () => {
    const backend = new MemBackend();
    const deps = { clock: systemClock, random: systemRandom, cacheDir: ':memory:', threads: 0 };
    // Tiny packs: each 5 KiB blob fills one.
    const repo = await Repository.init(backend, 'pw', deps, { kdf: TEST_KDF, packSize: 4096 });
    const saver = new BlobSaver(repo, { indexEvery: 3 });
    const ids: string[] = [];
    for (let i = 0; i < 8; i++) ids.push((await saver.save('data', pseudoRandom(i + 1, 5000))).id);
    await saver.finish();
    const indexFiles = await repo.listIds('index');
    const named: string[] = [];
    for (const id of indexFiles) for (const p of decodeIndexFile(await repo.loadSealed('index', id), id).packs) named.push(p.pack.id);
    const packs: string[] = [];
    for await (const f of backend.list('data/')) packs.push(f.name.slice(f.name.lastIndexOf('/') + 1));
    expect(packs.length).toBe(8);
    expect(indexFiles.length).toBe(3); // 3 + 3 during the session, 2 at finish
    expect(named.sort()).toEqual(packs.sort());
    await repo.close();

    // A new cache learns every blob from those index files alone.
    const again = await Repository.open(backend, 'pw', deps);
    await syncIndex(again);
    for (const id of ids) expect(again.index.findForRead('data', id as never)).toBeDefined();
    expect(again.index.unindexedPacks()).toEqual([]);
    await again.close();
  });

  it('writes an index file once the unindexed packs hold indexMaxBlobs blobs, however few packs that is', async () => {
    const backend = new MemBackend();
    const deps = { clock: systemClock, random: systemRandom, cacheDir: ':memory:', threads: 0 };
    // Packs of two 3 KiB blobs each; an index file for every 5 blobs, so every 3 packs.
    const repo = await Repository.init(backend, 'pw', deps, { kdf: TEST_KDF, packSize: 4096 });
    const saver = new BlobSaver(repo, { indexMaxBlobs: 5 });
    for (let i = 0; i < 13; i++) await saver.save('data', pseudoRandom(i + 1, 3000));
    await saver.finish();
    const indexFiles = await repo.listIds('index');
    const sizes = [];
    for (const id of indexFiles) sizes.push(decodeIndexFile(await repo.loadSealed('index', id), id).packs.reduce((n, p) => n + p.blobs.length, 0));
    // Two during the session (3 packs, 6 blobs each time), the last blob's pack at finish.
    expect(sizes.sort((a, b) => a - b)).toEqual([1, 6, 6]);
    await repo.close();
  });

  it('names a stored pack even when another process dropped it from the shared cache meanwhile', async () => {
    // Seen with a prune sharing the cache (test/crash/kill-prune): the index file was
    // built from the cache, found no record, and the backup died with an internal error.
    const backend = new MemBackend();
    const repo = await Repository.init(backend, 'pw', { clock: systemClock, random: systemRandom, cacheDir: ':memory:', threads: 0 }, { kdf: TEST_KDF, packSize: 4096 });
    const saver = new BlobSaver(repo, { onPack: (id) => repo.index.removePack(id) });
    const { id } = await saver.save('data', pseudoRandom(7, 5000));
    await saver.finish();
    const [indexId] = await repo.listIds('index');
    const named = decodeIndexFile(await repo.loadSealed('index', indexId!), indexId!).packs;
    expect(named.length).toBe(1);
    expect(named[0]!.blobs.map((b) => b.id)).toEqual([id]);
    await repo.close();
  });

  it('writes no index file when nothing was stored', async () => {
    const backend = new MemBackend();
    const repo = await Repository.init(backend, 'pw', { clock: systemClock, random: systemRandom, cacheDir: ':memory:', threads: 0 }, { kdf: TEST_KDF });
    await new BlobSaver(repo).finish();
    expect(await repo.listIds('index')).toEqual([]);
    await repo.close();
  });
});
