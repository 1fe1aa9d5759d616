import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { withFaults, type FaultyBackend, type FaultRule } from '../../src/backend/with-faults.js';
import { createEngine } from '../../src/engine/create-engine.js';
import type { RepositorySession } from '../../src/engine/types.js';
import { pseudoRandom } from '../helpers/data.js';
import { TEST_KDF } from '../helpers/temp-repo.js';
import { diffHashes, hashTree } from '../crash/crash-kit.js';

/**
 * Deterministic interleavings of one prune with a backup from another host (own cache),
 * made by stalling one of prune's backend calls (withFaults 'stall'), running the whole
 * backup meanwhile, and releasing the call. Each case names the step of prune at which
 * the backup commits. Prune must succeed, and the backup's snapshot must survive it.
 */

const PASSWORD = 'races';

describe('a backup that commits while prune is between two steps', () => {
  let dir: string;
  let repo: string;
  let src: string;

  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'cairn-races-'));
    repo = join(dir, 'repo');
    src = join(dir, 'src');
    await mkdir(join(src, 'sub'), { recursive: true });
    await writeFile(join(src, 'a.bin'), pseudoRandom(1, 800_000));
    await writeFile(join(src, 'sub', 'b.txt'), 'hello\n'.repeat(1000));
    const e = createEngine({ kdf: TEST_KDF });
    await e.init({ repo, password: PASSWORD, cacheDir: join(dir, 'cache-p') });
    // History with garbage: a snapshot of other data, forgotten.
    await writeFile(join(src, 'old.bin'), pseudoRandom(2, 900_000));
    const s = await e.open({ repo, password: PASSWORD, cacheDir: join(dir, 'cache-p') });
    const old = await s.backup({ paths: [src] });
    await rm(join(src, 'old.bin'));
    await s.backup({ paths: [src] });
    await s.forget({ ids: [old.snapshot.id] });
    await s.close();
  });
  afterEach(async () => {
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  const steps: { name: string; rule: FaultRule }[] = [
    { name: 'after its index sync, before it lists the snapshots (mark phase)', rule: { op: 'list', match: /^snapshots\//, times: 1, fault: 'stall' } },
    { name: 'after it wrote the gc mark, before the sweep', rule: { op: 'save', match: /^gc\//, times: 1, fault: 'stall' } },
  ];

  it.each(steps)('$name', { timeout: 30_000 }, async ({ rule }) => {
    let faulty: FaultyBackend | undefined;
    const pruner = createEngine({ kdf: TEST_KDF, wrapBackend: (b) => (faulty = withFaults(b, [rule])) });
    const p: RepositorySession = await pruner.open({ repo, password: PASSWORD, cacheDir: join(dir, 'cache-p') });
    const pruning = p.prune({ gcDelayMs: 0 }).then(
      (r) => ({ ok: true as const, r }),
      (err: unknown) => ({ ok: false as const, err }),
    );
    const deadline = Date.now() + 10_000;
    while (!faulty!.calls.some((c) => c.op === rule.op && (rule.match as RegExp).test(c.name)) && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 5));
    }

    // Another host backs up new data (its trees and data in packs prune has never seen).
    await writeFile(join(src, 'new.bin'), pseudoRandom(3, 700_000));
    const want = await hashTree(src);
    const other = await createEngine({ kdf: TEST_KDF }).open({ repo, password: PASSWORD, cacheDir: join(dir, 'cache-b') });
    const b = await other.backup({ paths: [src], host: 'other' });
    await other.close();

    faulty!.release();
    const outcome = await pruning;
    await p.close();
    if (!outcome.ok) throw outcome.err;

    const after = await createEngine({ kdf: TEST_KDF }).open({ repo, password: PASSWORD, cacheDir: join(dir, 'cache-c') });
    try {
      expect((await after.check({ readData: true })).problems).toEqual([]);
      const target = join(dir, 'out');
      await after.restore({ snapshot: b.snapshot.id, target });
      expect(diffHashes(want, await hashTree(join(target, src)))).toEqual([]);
    } finally {
      await after.close();
    }
  });
});
