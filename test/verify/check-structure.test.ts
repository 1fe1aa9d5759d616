import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import Database from 'better-sqlite3';
import { randomBytes } from 'node:crypto';
import { appendFile, mkdir, mkdtemp, readdir, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { createEngine } from '../../src/engine/create-engine.js';

/**
 * check's structure pass: every blob a snapshot names must be in some pack. Blobs are
 * made to vanish from the local index cache (as if their index file and pack were
 * lost), and check must name each one with its path, in tree order, and not descend
 * into a directory whose tree is gone.
 */
describe('check: blobs in no pack', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'cairn-check-structure-'));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('names each missing data and tree blob with its path and snapshot', async () => {
    const engine = createEngine({ kdf: { N: 1024, r: 8, p: 1 } });
    const repo = join(dir, 'repo');
    const cacheDir = join(dir, 'cache');
    const src = join(dir, 'src');
    await mkdir(join(src, 'a', 'deep'), { recursive: true });
    await mkdir(join(src, 'b'), { recursive: true });
    await writeFile(join(src, 'a', 'one.txt'), 'first file\n');
    await writeFile(join(src, 'a', 'deep', 'two.txt'), 'second file\n');
    await writeFile(join(src, 'b', 'three.txt'), 'third file\n');
    await writeFile(join(src, 'b', 'four.txt'), 'fourth file\n');
    await engine.init({ repo, password: 'pw', cacheDir });
    let s = await engine.open({ repo, password: 'pw', cacheDir });
    const { snapshot } = await s.backup({ paths: [src] });
    expect((await s.check({})).problems).toEqual([]);
    // The ids of the tree of a/deep and of b/three.txt's one blob, from the snapshot's trees.
    type Tree = { nodes: { name?: string; subtree?: string; content?: string[] }[] };
    const inA = (await s.cat('tree', `latest:${src}/a`)) as Tree;
    const inB = (await s.cat('tree', `latest:${src}/b`)) as Tree;
    const deep = inA.nodes.find((n) => n.name === 'deep')!.subtree!;
    const three = inB.nodes.find((n) => n.name === 'three.txt')!.content!;
    expect(three.length).toBe(1);
    await s.close();

    // Drop both from the cache, as if their pack and index file were lost.
    const cacheFile = join(cacheDir, (await readdir(cacheDir))[0]!, 'index.sqlite');
    const db = new Database(cacheFile);
    expect(db.prepare('DELETE FROM blobs WHERE id = ? AND type = 1').run(deep).changes).toBe(1);
    expect(db.prepare('DELETE FROM blobs WHERE id = ? AND type = 0').run(three[0]).changes).toBe(1);
    db.close();

    s = await engine.open({ repo, password: 'pw', cacheDir });
    const c = await s.check({});
    await s.close();
    const short = snapshot.id.slice(0, 8);
    expect(c.ok).toBe(false);
    expect(c.problems).toEqual([
      { kind: 'blob', id: deep, message: `tree blob ${deep.slice(0, 8)} of ${src}/a/deep (snapshot ${short}) is in no pack` },
      { kind: 'blob', id: three[0], message: `data blob ${three[0]!.slice(0, 8)} of ${src}/b/three.txt (snapshot ${short}) is in no pack` },
    ]);
  });

  it('names every missing data blob when there are more than one index query asks about (2048)', async () => {
    // Blob ids are asked about in batches across trees: three directories of 900 files
    // make the batch fill mid-walk and a rest at the end.
    const engine = createEngine({ kdf: { N: 1024, r: 8, p: 1 } });
    const base = join(dir, 'many');
    const repo = join(base, 'repo');
    const cacheDir = join(base, 'cache');
    const src = join(base, 'src');
    for (const d of ['a', 'b', 'c']) {
      await mkdir(join(src, d), { recursive: true });
      for (let i = 0; i < 900; i++) await writeFile(join(src, d, `f${i}`), `${d} ${i}\n`);
    }
    await engine.init({ repo, password: 'pw', cacheDir });
    let s = await engine.open({ repo, password: 'pw', cacheDir });
    await s.backup({ paths: [src] });
    await s.close();
    const cacheFile = join(cacheDir, (await readdir(cacheDir))[0]!, 'index.sqlite');
    const db = new Database(cacheFile);
    expect(db.prepare('DELETE FROM blobs WHERE type = 0').run().changes).toBe(2700);
    db.close();

    s = await engine.open({ repo, password: 'pw', cacheDir });
    const c = await s.check({});
    await s.close();
    const paths = c.problems.map((p) => /of (\S+) \(snapshot/.exec(p.message)![1]);
    expect(paths.length).toBe(2700);
    expect(new Set(paths).size).toBe(2700);
    expect(paths).toContain(`${src}/a/f0`);
    expect(paths).toContain(`${src}/c/f899`);
  });
});

/**
 * check --read-data starts reading packs from the index while the repository's packs
 * are still being listed: a pack the listing lacks or sees at another size must still
 * be reported as such, and the other packs checked.
 */
describe('check --read-data: packs lost or changed in the repository', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'cairn-check-packs-'));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  async function repoWithPacks(name: string): Promise<{ repo: string; cacheDir: string; packs: string[]; engine: ReturnType<typeof createEngine> }> {
    // Two backups of incompressible files: at least two data packs and a tree pack.
    const engine = createEngine({ kdf: { N: 1024, r: 8, p: 1 } });
    const base = join(dir, name);
    const repo = join(base, 'repo');
    const cacheDir = join(base, 'cache');
    const src = join(base, 'src');
    await mkdir(src, { recursive: true });
    await engine.init({ repo, password: 'pw', cacheDir });
    const s = await engine.open({ repo, password: 'pw', cacheDir });
    for (let i = 0; i < 2; i++) {
      await writeFile(join(src, `f${i}.bin`), randomBytes(3 * 2 ** 20));
      await s.backup({ paths: [src] });
    }
    const clean = await s.check({ readData: true });
    await s.close();
    expect(clean.problems).toEqual([]);
    const packs: string[] = [];
    for (const sub of await readdir(join(repo, 'data'))) for (const f of await readdir(join(repo, 'data', sub))) packs.push(join(repo, 'data', sub, f));
    expect(packs.length).toBe(clean.packsChecked);
    expect(packs.length).toBeGreaterThanOrEqual(3);
    return { repo, cacheDir, packs, engine };
  }

  it('a deleted pack is reported missing and the others are still read', async () => {
    const { repo, cacheDir, packs, engine } = await repoWithPacks('deleted');
    const victim = packs[0]!;
    const id = basename(victim);
    await rm(victim);
    const s = await engine.open({ repo, password: 'pw', cacheDir });
    const c = await s.check({ readData: true });
    await s.close();
    expect(c.ok).toBe(false);
    expect(c.packsChecked).toBe(packs.length - 1);
    expect(c.problems).toContainEqual({ kind: 'pack', id, message: `pack ${id.slice(0, 8)} is in the index but missing from the repository` });
    expect(c.damagedPacks).toEqual([id]);
  });

  it('a pack that grew is reported with both sizes and as damaged content', async () => {
    const { repo, cacheDir, packs, engine } = await repoWithPacks('grown');
    const victim = packs[packs.length - 1]!;
    const id = basename(victim);
    const size = (await stat(victim)).size;
    await appendFile(victim, Buffer.alloc(100));
    const s = await engine.open({ repo, password: 'pw', cacheDir });
    const c = await s.check({ readData: true });
    await s.close();
    expect(c.ok).toBe(false);
    expect(c.packsChecked).toBe(packs.length);
    expect(c.problems).toContainEqual({ kind: 'pack', id, message: `pack ${id.slice(0, 8)} is ${size + 100} bytes, the index says ${size}` });
    expect(c.problems.filter((p) => p.id === id && p.message !== `pack ${id.slice(0, 8)} is ${size + 100} bytes, the index says ${size}`).length).toBeGreaterThan(0);
    expect(c.damagedPacks).toEqual([id]);
  });
});
