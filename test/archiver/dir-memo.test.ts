import { describe, expect, it } from 'vitest';
import { DirMemo, DirMemoRecorder } from '../../src/archiver/dir-memo.js';
import { BlobHasher } from '../../src/crypto/blob-hasher.js';
import type { BlobId } from '../../src/core/ids.js';

const hasher = new BlobHasher(Buffer.alloc(32, 7));
const id = (n: number) => n.toString(16).padStart(64, '0') as BlobId;
const key = (n: number) => DirMemo.listingKey(hasher, Buffer.from('/d'), [Buffer.from(`listing ${n}`), Buffer.alloc(16)], false);

function recorded(config = 'cfg'): { bytes: Buffer; entries: Map<Buffer, { tree: BlobId; subtrees: BlobId[] }> } {
  const r = new DirMemoRecorder(hasher, config);
  const entries = new Map<Buffer, { tree: BlobId; subtrees: BlobId[] }>();
  // No subdirectory, one, and many (more than one 64 KiB chunk of entries in all).
  for (let i = 0; i < 3000; i++) {
    const e = { tree: id(i + 1), subtrees: Array.from({ length: i % 3 === 2 ? 20 : i % 3 }, (_, k) => id(100_000 + i * 100 + k)) };
    r.set(key(i), e);
    entries.set(key(i), e);
  }
  return { bytes: r.encode(), entries };
}

describe('DirMemo', () => {
  it('gives back every recorded directory, and nothing for a listing it has not seen', () => {
    const { bytes, entries } = recorded();
    const memo = DirMemo.decode(bytes, hasher, 'cfg')!;
    expect(memo.size).toBe(3000);
    for (const [k, e] of entries) expect(memo.get(Buffer.from(k))).toEqual(e);
    expect(memo.get(key(3000))).toBeUndefined();
  });

  it('keeps the first entry for a listing recorded twice', () => {
    const r = new DirMemoRecorder(hasher, 'cfg');
    r.set(key(1), { tree: id(1), subtrees: [] });
    r.set(key(1), { tree: id(2), subtrees: [id(3)] });
    expect(DirMemo.decode(r.encode(), hasher, 'cfg')!.get(key(1))).toEqual({ tree: id(1), subtrees: [] });
  });

  it('is not one for another selection, another repository, or when damaged or cut short', () => {
    const { bytes } = recorded();
    expect(DirMemo.decode(bytes, hasher, 'other cfg')).toBeNull();
    expect(DirMemo.decode(bytes, new BlobHasher(Buffer.alloc(32, 8)), 'cfg')).toBeNull();
    for (const at of [0, 20, 60, bytes.length >> 1, bytes.length - 1]) {
      const bad = Buffer.from(bytes);
      bad[at]! ^= 0x10;
      expect(DirMemo.decode(bad, hasher, 'cfg')).toBeNull();
    }
    expect(DirMemo.decode(bytes.subarray(0, bytes.length - 1), hasher, 'cfg')).toBeNull();
    expect(DirMemo.decode(bytes.subarray(0, 40), hasher, 'cfg')).toBeNull();
    expect(DirMemo.decode(Buffer.alloc(0), hasher, 'cfg')).toBeNull();
  });

  it('keys a listing by its path, every byte of it and the repository key; by its access times only when they are recorded', () => {
    const dir = Buffer.from('/srv/a');
    const atimes = Buffer.alloc(16, 3);
    const parts = [Buffer.from([1, 0, 0, 0]), Buffer.from('a'), Buffer.alloc(48, 2), atimes];
    for (const atime of [false, true]) {
      const k = DirMemo.listingKey(hasher, dir, parts, atime);
      expect(k).toHaveLength(32);
      for (let p = 0; p < parts.length - 1; p++) {
        const changed = parts.map((b) => Buffer.from(b));
        changed[p]![0]! ^= 1;
        expect(DirMemo.listingKey(hasher, dir, changed, atime).equals(k)).toBe(false);
      }
      expect(DirMemo.listingKey(new BlobHasher(Buffer.alloc(32, 8)), dir, parts, atime).equals(k)).toBe(false);
    }
    expect(DirMemo.listingKey(hasher, Buffer.from('/srv/b'), parts, false).equals(DirMemo.listingKey(hasher, dir, parts, false))).toBe(false);
    const otherAtimes = [...parts.slice(0, -1), Buffer.alloc(16, 4)];
    expect(DirMemo.listingKey(hasher, dir, otherAtimes, false).equals(DirMemo.listingKey(hasher, dir, parts, false))).toBe(true);
    expect(DirMemo.listingKey(hasher, dir, otherAtimes, true).equals(DirMemo.listingKey(hasher, dir, parts, true))).toBe(false);
  });

  it('records nothing past its cap: a memo that misses directories is not kept', () => {
    const r = new DirMemoRecorder(hasher, 'cfg', 10);
    for (let i = 0; i < 10; i++) r.set(key(i), { tree: id(i + 1), subtrees: [] });
    expect(r.complete).toBe(true);
    r.set(key(10), { tree: id(11), subtrees: [] });
    expect(r.complete).toBe(false);
  });
});
