import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { MemBackend } from '../../src/backend/mem-backend.js';
import { withFaults } from '../../src/backend/with-faults.js';
import { systemClock } from '../../src/core/clock.js';
import type { BlobId } from '../../src/core/ids.js';
import { systemRandom } from '../../src/core/random.js';
import { BlobSaver } from '../../src/repository/blob-saver.js';
import { syncIndex } from '../../src/repository/index-sync.js';
import { Repository } from '../../src/repository/repository.js';
import { TreePacks } from '../../src/repository/tree-packs.js';
import { encodeTree } from '../../src/snapshot/tree.js';
import { TEST_KDF } from '../helpers/temp-repo.js';

/**
 * Trees are read a whole pack at a time and the pack is kept for the trees after it. Two
 * trees of one pack asked for at once share one read, and a read that failed is not
 * kept: asking again reads again. Decoded trees are kept up to a number of nodes, not
 * only of trees.
 */
describe('Repository tree packs', () => {
  const deps = { clock: systemClock, random: systemRandom, cacheDir: ':memory:', threads: 0 };

  async function twoTrees(): Promise<{ backend: MemBackend; ids: BlobId[] }> {
    const backend = new MemBackend();
    const repo = await Repository.init(backend, 'pw', deps, { kdf: TEST_KDF });
    const saver = new BlobSaver(repo);
    const ids: BlobId[] = [];
    for (const name of ['a', 'b']) {
      ids.push((await saver.save('tree', encodeTree({ nodes: [{ name, type: 'file', mode: 0o644, size: 0, content: [] } as never] }))).id);
    }
    await saver.finish();
    await repo.close();
    return { backend, ids };
  }

  it('reads a pack once for trees asked for at the same time', async () => {
    const { backend, ids } = await twoTrees();
    const faulty = withFaults(backend, []);
    const repo = await Repository.open(faulty, 'pw', deps);
    // A fresh in-memory cache: learn the packs from the index file.
    await syncIndex(repo);
    const before = faulty.calls.filter((c) => c.op === 'load' && c.name.startsWith('data/')).length;
    const [a, b] = await Promise.all(ids.map((id) => repo.loadTree(id)));
    expect(a!.nodes[0]!.name).toBe('a');
    expect(b!.nodes[0]!.name).toBe('b');
    expect(faulty.calls.filter((c) => c.op === 'load' && c.name.startsWith('data/')).length - before).toBe(1);
    await repo.close();
  });

  it('does not keep a failed read: the next tree reads the pack again', async () => {
    const { backend, ids } = await twoTrees();
    const faulty = withFaults(backend, [{ op: 'load', match: /^data\//, times: 1, fault: 'error' }]);
    const repo = await Repository.open(faulty, 'pw', deps);
    await syncIndex(repo);
    await expect(repo.loadTree(ids[0]!)).rejects.toThrow();
    const again = await repo.loadTree(ids[0]!);
    expect(again.nodes[0]!.name).toBe('a');
    await repo.close();
  });

  it('finds the other trees of a kept pack from its trailer, without asking the index', async () => {
    const { backend, ids } = await twoTrees();
    const repo = await Repository.open(backend, 'pw', deps);
    await syncIndex(repo);
    const asked: string[] = [];
    const find = repo.index.findForRead.bind(repo.index);
    repo.index.findForRead = (type, id) => (asked.push(id), find(type, id));
    expect((await repo.loadTree(ids[0]!)).nodes[0]!.name).toBe('a');
    expect((await repo.loadTree(ids[1]!)).nodes[0]!.name).toBe('b');
    expect(asked).toEqual([ids[0]]);
    await repo.close();
  });

  it('reads the trees of a pack whose trailer is damaged through the index', async () => {
    const { backend, ids } = await twoTrees();
    const repo = await Repository.open(backend, 'pw', deps);
    await syncIndex(repo);
    // Damage the trailer of the tree pack in the store, and rename the pack to its new
    // hash so that it passes the whole-pack check: only the trailer is wrong.
    const name = [...(await listNames(backend))].find((n) => n.startsWith('data/'))!;
    const bytes = Buffer.from(await backend.load(name));
    bytes[bytes.length - 20]! ^= 0xff;
    const { createHash } = await import('node:crypto');
    const renamed = createHash('sha256').update(bytes).digest('hex');
    await backend.save(`data/${renamed.slice(0, 2)}/${renamed}`, bytes);
    const oldId = name.split('/').at(-1)!;
    repo.index.findForRead = ((find) => (type: 'data' | 'tree', id: BlobId) => {
      const loc = find(type, id);
      return loc && loc.pack === oldId ? { ...loc, pack: renamed as never } : loc;
    })(repo.index.findForRead.bind(repo.index));
    const getPack = repo.index.getPack.bind(repo.index);
    repo.index.getPack = (id) => (id === (renamed as never) ? { ...getPack(oldId as never)!, id } : getPack(id));
    const asked: string[] = [];
    const find = repo.index.findForRead.bind(repo.index);
    repo.index.findForRead = (type, id) => (asked.push(id), find(type, id));
    expect((await repo.loadTree(ids[0]!)).nodes[0]!.name).toBe('a');
    expect((await repo.loadTree(ids[1]!)).nodes[0]!.name).toBe('b');
    expect(asked).toEqual(ids);
    await repo.close();
  });

  it('keeps decoded trees up to 20,000 nodes in all: a small tree is decoded once, a bigger one every time', async () => {
    const backend = new MemBackend();
    const repo = await Repository.init(backend, 'pw', deps, { kdf: TEST_KDF });
    const saver = new BlobSaver(repo);
    const tree = (n: number) => encodeTree({ nodes: Array.from({ length: n }, (_, i) => ({ name: `f${i}`, type: 'file', mode: 0o644, size: 0, content: [] }) as never) });
    const small = (await saver.save('tree', tree(10))).id;
    const big = (await saver.save('tree', tree(20_001))).id;
    await saver.finish();
    expect(await repo.loadTree(small)).toBe(await repo.loadTree(small));
    const a = await repo.loadTree(big);
    const b = await repo.loadTree(big);
    expect(b).not.toBe(a);
    expect(b.nodes.length).toBe(20_001);
    await repo.close();
  });

  it('keeps whole packs up to its byte bound: a pack pushed out is read again, one kept is not', async () => {
    const backend = new MemBackend();
    const repo = await Repository.init(backend, 'pw', deps, { kdf: TEST_KDF });
    // Three packs of one tree each (~20 kB of random names: they do not compress away).
    for (let p = 0; p < 3; p++) {
      const saver = new BlobSaver(repo);
      await saver.save('tree', encodeTree({ nodes: [{ name: randomBytes(10_000).toString('hex'), type: 'file', mode: 0o644, size: 0, content: [] } as never] }));
      await saver.finish();
    }
    const packs = (await listNames(backend)).filter((n) => n.startsWith('data/')).map((n) => n.split('/').at(-1)!);
    expect(packs).toHaveLength(3);
    const sizes = await Promise.all(packs.map(async (p) => (await backend.load(`data/${p.slice(0, 2)}/${p}`)).length));
    const reads: string[] = [];
    const read = (p: string) => (reads.push(p), backend.load(`data/${p.slice(0, 2)}/${p}`));

    // Room for two of them: the third pushes out the least recently used.
    const two = new TreePacks(read, repo.keyFor, sizes[0]! + sizes[1]! + Math.min(...sizes) - 1);
    for (const p of [packs[0]!, packs[1]!, packs[0]!, packs[2]!, packs[0]!, packs[1]!]) await two.get(p);
    expect(reads).toEqual([packs[0], packs[1], packs[2], packs[1]]);

    // A pack bigger than the whole bound is read every time and pushes nothing out.
    reads.length = 0;
    const tiny = new TreePacks(read, repo.keyFor, Math.min(...sizes) - 1);
    await tiny.get(packs[0]!);
    await tiny.get(packs[0]!);
    expect(reads).toEqual([packs[0], packs[0]]);
    await repo.close();
  });
});

async function listNames(backend: MemBackend): Promise<string[]> {
  const out: string[] = [];
  for await (const f of backend.list('')) out.push(f.name);
  return out;
}
