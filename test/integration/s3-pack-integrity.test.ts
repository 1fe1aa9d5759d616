import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { S3Backend } from '../../src/backend/s3-backend.js';
import { systemClock } from '../../src/core/clock.js';
import { systemRandom } from '../../src/core/random.js';
import type { BlobId } from '../../src/core/ids.js';
import { packName, Repository } from '../../src/repository/repository.js';
import { pseudoRandom } from '../helpers/data.js';
import { startS3rver, type S3rver } from '../helpers/s3rver.js';
import { makeTempRepo, type TempRepo } from '../helpers/temp-repo.js';
import { withFaults, type FaultyBackend } from '../../src/backend/with-faults.js';

/**
 * End-to-end integrity that does not trust the store. The store here returns a tree
 * pack with one byte changed outside every blob (the footer), so each blob still
 * authenticates and hashes to its id: reading the trees (ls) is right and succeeds,
 * as it would from any pack with a damaged byte elsewhere (restore-damaged.test.ts);
 * check --read-data hashes whole packs and names it.
 */
describe('a store that returns altered pack bytes (s3rver)', () => {
  let server: S3rver | undefined;
  let t: TempRepo | undefined;
  afterAll(async () => {
    await t?.cleanup();
    await server?.stop();
  });

  it('does not stop reading the intact trees (ls), and is caught by check --read-data', async () => {
    server = await startS3rver(['integrity']);
    const url = server.url('integrity', 'repo', { region: 'us-east-1' });
    for (const [k, v] of Object.entries(server.env)) process.env[k] = v;
    t = await makeTempRepo({}, { repo: url });
    const src = join(t.dir, 'src');
    await mkdir(join(src, 'sub'), { recursive: true });
    await writeFile(join(src, 'a.bin'), pseudoRandom(1, 300_000));
    await writeFile(join(src, 'sub', 'b.txt'), 'hello\n');
    const s1 = await t.open();
    const snap = (await s1.backup({ paths: [src] })).snapshot;
    await s1.close();

    // Find the root tree's pack through the index cache the backup filled.
    const backend = S3Backend.fromUrl(url, { credentials: server.credentials, env: {} });
    const repo = await Repository.open(backend, t.password, { clock: systemClock, random: systemRandom, cacheDir: t.cacheDir, threads: 0 });
    const loc = repo.index.findForRead('tree', snap.tree as BlobId)!;
    expect(loc).toBeDefined();
    await repo.close(); // closes its backend too
    const store = S3Backend.fromUrl(url, { credentials: server.credentials, env: {} });
    const name = packName(loc.pack);
    const bytes = await store.load(name);
    const tampered = Buffer.from(bytes);
    tampered[tampered.length - 1] ^= 0x01; // inside the "CRNE" footer magic, outside every blob
    await store.save(name, tampered, { overwrite: true });
    await store.close();

    const s2 = await t.open();
    try {
      const names: string[] = [];
      for await (const n of s2.ls('latest', { recursive: true })) names.push(n.path);
      expect(names).toEqual(expect.arrayContaining([join(src, 'a.bin'), join(src, 'sub', 'b.txt')]));
      const check = await s2.check({ readData: true });
      expect(check.ok).toBe(false);
      expect(check.damagedPacks).toContain(loc.pack);
    } finally {
      await s2.close();
    }
  });

  it.each([
    ['checksum (default)', {}, false],
    ['read', { 'verify-writes': 'read' }, true],
  ] as const)('verify-writes=%s: packs are %s read back after upload', async (_label, options, readsBack) => {
    server ??= await startS3rver(['integrity']);
    const url = server.url('integrity', `rb-${readsBack}`, { region: 'us-east-1', ...options });
    for (const [k, v] of Object.entries(server.env)) process.env[k] = v;
    let faulty: FaultyBackend | undefined;
    const rt = await makeTempRepo({ wrapBackend: (b) => (faulty = withFaults(b, [])) }, { repo: url });
    try {
      const src = join(rt.dir, 'src');
      await mkdir(src, { recursive: true });
      await writeFile(join(src, 'a.bin'), pseudoRandom(3, 2_000_000));
      faulty!.calls.length = 0;
      const s = await rt.open();
      await s.backup({ paths: [src] });
      await s.close();
      const packLoads = faulty!.calls.filter((c) => c.op === 'load' && c.name.startsWith('data/'));
      const packSaves = faulty!.calls.filter((c) => c.op === 'save' && c.name.startsWith('data/'));
      expect(packSaves.length).toBeGreaterThan(0);
      expect(packLoads.length > 0).toBe(readsBack);
      // Either way the size of every stored pack was confirmed.
      const stats = faulty!.calls.filter((c) => c.op === 'stat' && c.name.startsWith('data/'));
      expect(stats.length).toBeGreaterThanOrEqual(packSaves.length);
    } finally {
      await rt.cleanup();
    }
  });
});
