import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { mkdtemp, mkdir, writeFile, readFile, rm, symlink } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createEngine } from '../../src/engine/create-engine.js';

describe('engine smoke', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'cairn-smoke-'));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('init, backup, incremental backup, restore, check', async () => {
    const engine = createEngine({ kdf: { N: 1024, r: 8, p: 1 } });
    const repo = join(dir, 'repo');
    const src = join(dir, 'src');
    await mkdir(join(src, 'sub'), { recursive: true });
    await writeFile(join(src, 'a.txt'), 'hello world\n');
    await writeFile(join(src, 'sub', 'big.bin'), Buffer.alloc(3_000_000, 7));
    await symlink('a.txt', join(src, 'link'));
    await engine.init({ repo, password: 'pw', cacheDir: join(dir, 'cache') });
    const s = await engine.open({ repo, password: 'pw', cacheDir: join(dir, 'cache') });
    const b1 = await s.backup({ paths: [src] });
    expect(b1.snapshot.summary!.filesNew).toBe(2);
    const b2 = await s.backup({ paths: [src] });
    expect(b2.snapshot.summary!.filesUnchanged).toBe(2);
    expect(b2.snapshot.summary!.bytesRead).toBe(0);
    const r = await s.restore({ snapshot: 'latest', target: join(dir, 'out'), verify: true });
    expect(r.verified!.mismatches).toEqual([]);
    expect(await readFile(join(dir, 'out', src, 'a.txt'), 'utf8')).toBe('hello world\n');
    const c = await s.check({ readData: true });
    expect(c.problems).toEqual([]);
    const listed = [];
    for await (const n of s.ls('latest', { path: src })) listed.push(n.name);
    expect(listed).toEqual(['a.txt', 'link', 'sub']);
    await s.close();
  });
});
