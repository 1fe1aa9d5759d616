import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it, onTestFinished } from 'vitest';
import { prewarmMetadata } from '../../src/fs/prewarm-metadata.js';

async function tree(dirs: number, files: number): Promise<string> {
  const root = await mkdtemp(join(tmpdir(), 'cairn-prewarm-'));
  onTestFinished(() => rm(root, { recursive: true, force: true }));
  for (let d = 0; d < dirs; d++) {
    await mkdir(join(root, `d${d}`, 'sub'), { recursive: true });
    for (let f = 0; f < files; f++) await writeFile(join(root, `d${d}`, 'sub', `f${f}`), '');
  }
  return root;
}

describe('prewarmMetadata', () => {
  it('walks the whole tree and resolves, ignoring a missing root and non-UTF-8 names', async () => {
    const root = await tree(20, 10);
    await writeFile(join(root, Buffer.from([0x66, 0xff]).toString('latin1')), '');
    // root, 20 × d, 20 × sub
    await expect(prewarmMetadata([root, join(root, 'missing')], new AbortController().signal)).resolves.toBe(41);
  });

  it('stops when the signal fires, well before a large tree is done', async () => {
    const root = await tree(200, 20);
    expect(await prewarmMetadata([root], new AbortController().signal)).toBe(401);
    const ac = new AbortController();
    const done = prewarmMetadata([root], ac.signal);
    ac.abort();
    // Aborted at once, it finishes the listings already in flight and starts no more.
    expect(await done).toBeLessThanOrEqual(12);
  });

  it('stays at most maxLead entries ahead of the walk, and goes on as the walk advances', async () => {
    const root = await tree(50, 20); // 101 directories, 1,000 files
    let walked = 0;
    const ac = new AbortController();
    const done = prewarmMetadata([root], ac.signal, { walked: () => walked, maxLead: 100 });
    await new Promise((r) => setTimeout(r, 300));
    walked = 10_000;
    expect(await done).toBe(101);
  });

  it('does not finish while held back by a walk that does not advance', async () => {
    const root = await tree(50, 20);
    const ac = new AbortController();
    let finished = false;
    const done = prewarmMetadata([root], ac.signal, { walked: () => 0, maxLead: 100 }).then((n) => ((finished = true), n));
    await new Promise((r) => setTimeout(r, 300));
    expect(finished).toBe(false);
    ac.abort();
    expect(await done).toBeLessThan(101);
  });
});
