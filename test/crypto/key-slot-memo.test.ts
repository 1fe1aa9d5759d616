import { describe, expect, it, vi } from 'vitest';

// Count real scrypt runs: the module under test imports node:crypto's scrypt.
const runs = vi.hoisted(() => ({ count: 0 }));
vi.mock('node:crypto', async (importOriginal) => {
  const real = await importOriginal<typeof import('node:crypto')>();
  return {
    ...real,
    scrypt: (...args: Parameters<typeof real.scrypt>) => {
      runs.count++;
      return (real.scrypt as (...a: unknown[]) => void)(...args);
    },
  };
});

const { createKeySlot, openKeySlot } = await import('../../src/crypto/key-slot.js');
const { generateMasterKey } = await import('../../src/crypto/master-key.js');
const { seededRandom } = await import('./seeded-random.js');

const now = new Date('2026-11-27T00:00:00.000Z');
const repoId = 'cd'.repeat(32);
const kdf = { N: 2 ** 10, r: 8, p: 1 };

describe('key derivation within one process', () => {
  it('runs scrypt once per (password, slot): a second open of the same repository is free', async () => {
    const mk = generateMasterKey(seededRandom('memo-mk'), now);
    const slot = await createKeySlot(mk, 'pw one', repoId, { kdf, host: 'h', user: 'u', random: seededRandom('memo-slot'), now });
    const before = runs.count;
    const a = await openKeySlot(slot, 'pw one', repoId);
    const b = await openKeySlot(slot, 'pw one', repoId);
    expect(b.idKey.equals(a.idKey)).toBe(true);
    // createKeySlot derived this very (password, salt) already: no run at all.
    expect(runs.count - before).toBe(0);
  });

  it('a different password is derived (and refused), never served from the memo', async () => {
    const mk = generateMasterKey(seededRandom('memo-mk2'), now);
    const slot = await createKeySlot(mk, 'right', repoId, { kdf, host: 'h', user: 'u', random: seededRandom('memo-slot2'), now });
    const before = runs.count;
    await expect(openKeySlot(slot, 'wrong', repoId)).rejects.toMatchObject({ code: 'WRONG_PASSWORD' });
    expect(runs.count - before).toBe(1);
    await expect(openKeySlot(slot, 'wrong', repoId)).rejects.toMatchObject({ code: 'WRONG_PASSWORD' });
    expect(runs.count - before).toBe(1);
    await expect(openKeySlot(slot, 'right', repoId)).resolves.toBeDefined();
    expect(runs.count - before).toBe(1);
  });
});
