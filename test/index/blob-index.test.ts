import { afterAll, describe, expect, it } from 'vitest';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BlobIndex } from '../../src/index/blob-index.js';
import type { BlobId, PackId } from '../../src/core/ids.js';

const id = (c: string) => c.repeat(64) as BlobId;
const pack = (c: string) => c.repeat(64) as PackId;

function seeded(path = ':memory:'): BlobIndex {
  const index = new BlobIndex(path);
  const blob = (b: string, type: 'data' | 'tree', offset: number) => ({ type, id: id(b), offset, length: 20, rawLength: 4, compressed: false });
  index.addPack({ id: pack('a'), size: 100, encKeyId: 1, salt: Buffer.alloc(32) }, [blob('1', 'data', 41), blob('2', 'tree', 61)], 'idx1');
  index.addPack({ id: pack('b'), size: 100, encKeyId: 1, salt: Buffer.alloc(32) }, [blob('3', 'data', 41)], 'idx1');
  return index;
}

describe('BlobIndex.unindexed', () => {
  it('returns exactly the ids in no pack, of the given type, in input order', () => {
    const index = seeded();
    expect(index.unindexed('data', [])).toEqual([]);
    expect(index.unindexed('data', [id('1'), id('3')])).toEqual([]);
    expect(index.unindexed('data', [id('9'), id('1'), id('2'), id('8')])).toEqual([id('9'), id('2'), id('8')]);
    expect(index.unindexed('tree', [id('1'), id('2')])).toEqual([id('1')]);
    index.close();
  });

  it('counts a blob in a condemned pack as present, as findForRead does', () => {
    const index = seeded();
    index.setCondemned([pack('b')]);
    expect(index.find('data', id('3'))).toBeUndefined();
    expect(index.findForRead('data', id('3'))).toBeDefined();
    expect(index.unindexed('data', [id('3')])).toEqual([]);
    index.close();
  });
});

describe('BlobIndex.warm', () => {
  const dirs: string[] = [];
  afterAll(async () => {
    for (const d of dirs) await rm(d, { recursive: true, force: true });
  });

  it('reads the file without changing what lookups return, and never fails', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'cairn-index-'));
    dirs.push(dir);
    const path = join(dir, 'index.sqlite');
    const index = seeded(path);
    await expect(index.warm()).resolves.toBeUndefined();
    await expect(index.warm(1)).resolves.toBeUndefined();
    expect(index.findForRead('data', id('1'))?.pack).toBe(pack('a'));
    await rm(path);
    await expect(index.warm()).resolves.toBeUndefined(); // gone: only a hint, not an error
    index.close();
    const mem = seeded();
    await expect(mem.warm()).resolves.toBeUndefined();
    mem.close();
  });
});

describe('an index cache that cannot be opened', () => {
  it('is one clear CairnError, not an internal error with a stack', async () => {
    const { makeTempRepo } = await import('../helpers/temp-repo.js');
    const { mkdir, readdir } = await import('node:fs/promises');
    const t = await makeTempRepo();
    try {
      // A directory where the cache file belongs: SQLite cannot open it, and it cannot be removed as a file.
      const repoDir = (await readdir(t.cacheDir))[0]!;
      await rm(join(t.cacheDir, repoDir), { recursive: true, force: true });
      await mkdir(join(t.cacheDir, repoDir, 'index.sqlite'), { recursive: true });
      const err = await t.open().then(
        () => null,
        (e: unknown) => e as { code?: string; message?: string },
      );
      expect(err?.code).toBe('IO_ERROR');
      expect(err?.message).toContain('index.sqlite');
      expect(err?.message).toContain('SQLITE_CANTOPEN');
    } finally {
      await t.cleanup();
    }
  });

  it('maps SQLite codes: full disk, read-only, I/O errors', async () => {
    const { indexCacheError } = await import('../../src/repository/repository.js');
    const code = (c: string) => (indexCacheError(Object.assign(new Error('x'), { code: c }), '/c/index.sqlite') as { code?: string }).code;
    expect(code('SQLITE_FULL')).toBe('DISK_FULL');
    expect(code('SQLITE_READONLY_DIRECTORY')).toBe('PERMISSION_DENIED');
    expect(code('SQLITE_IOERR_SHMOPEN')).toBe('IO_ERROR');
    expect(code('EACCES')).toBe('PERMISSION_DENIED');
  });
});

describe('BlobIndex directory memos', () => {
  it('keeps a snapshot\'s memo in place of the one it replaces, and only the newest few', () => {
    const index = new BlobIndex(':memory:');
    index.putDirMemo('s1', Buffer.from('one'), null);
    index.putDirMemo('s2', Buffer.from('two'), 's1');
    expect(index.getDirMemo('s1')).toBeUndefined();
    expect(index.getDirMemo('s2')).toEqual(Buffer.from('two'));
    // Another source's memo replaces nothing; past `keep` the oldest go.
    index.putDirMemo('t1', Buffer.from('other'), null, 2);
    index.putDirMemo('u1', Buffer.from('third'), null, 2);
    expect(index.getDirMemo('s2')).toBeUndefined();
    expect(index.getDirMemo('t1')).toEqual(Buffer.from('other'));
    expect(index.getDirMemo('u1')).toEqual(Buffer.from('third'));
    index.close();
  });
});

describe('BlobIndex loss generation and stored snapshots', () => {
  it('a pack leaving without being condemned is a loss: snapshots recorded before it are no longer known stored', () => {
    const index = seeded();
    expect(index.lossGeneration).toBe(0);
    index.markStoredSnapshot('s1', 0, []);
    expect(index.storedSnapshot('s1')).toEqual({ marks: [] });
    expect(index.storedSnapshot('other')).toBeUndefined();

    index.removePack(pack('b'));
    expect(index.lossGeneration).toBe(1);
    expect(index.storedSnapshot('s1')).toBeUndefined();
    // A snapshot whose backup read the generation before the loss is not recorded.
    index.markStoredSnapshot('s2', 0, []);
    expect(index.storedSnapshot('s2')).toBeUndefined();
    index.markStoredSnapshot('s3', 1, ['m1']);
    expect(index.storedSnapshot('s3')).toEqual({ marks: ['m1'] });
    index.close();
  });

  it('a condemned pack, an unknown one, or clearing for a rebuild is no loss', () => {
    const index = seeded();
    index.markStoredSnapshot('s1', 0, []);
    index.setCondemned([pack('b')]);
    index.removePack(pack('b'));
    index.removePack(pack('f'));
    expect(index.lossGeneration).toBe(0);
    index.clearPacks();
    expect(index.packIds()).toEqual([]);
    expect(index.find('data', id('1'))).toBeUndefined();
    expect(index.lossGeneration).toBe(0);
    expect(index.storedSnapshot('s1')).toEqual({ marks: [] });
    index.close();
  });

  it('an index file dropped is a loss only for packs no other index file names', () => {
    const index = seeded();
    index.markIndexed([pack('a')], 'idx2');
    index.dropIndexFile('idx1'); // a is still named by idx2; b goes
    expect(index.hasPack(pack('a'))).toBe(true);
    expect(index.hasPack(pack('b'))).toBe(false);
    expect(index.lossGeneration).toBe(1);
    index.setCondemned([pack('a')]);
    index.dropIndexFile('idx2'); // a goes, but it was condemned: swept by a prune
    expect(index.hasPack(pack('a'))).toBe(false);
    expect(index.lossGeneration).toBe(1);
    index.close();
  });

  it('keeps only the newest records', () => {
    const index = seeded();
    for (let i = 0; i < 5; i++) index.markStoredSnapshot(`s${i}`, 0, [], 3);
    expect([0, 1, 2, 3, 4].map((i) => index.storedSnapshot(`s${i}`) !== undefined)).toEqual([false, false, true, true, true]);
    index.close();
  });
});

describe('BlobIndex.tx with another process on the same cache', () => {
  const dirs: string[] = [];
  afterAll(async () => {
    for (const d of dirs) await rm(d, { recursive: true, force: true });
  });

  it('takes the write lock first: a write after a read is not refused because another connection committed in between', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'cairn-tx-'));
    dirs.push(dir);
    const path = join(dir, 'index.sqlite');
    const a = seeded(path);
    const b = new BlobIndex(path);
    b.database.pragma('busy_timeout = 50');
    let bRefused = false;
    try {
      // As syncIndex's dropIndexFile does: read, then write. Between the two the other
      // process writes. A deferred transaction then failed with SQLITE_BUSY_SNAPSHOT
      // ("database is locked"); an immediate one holds the lock, so the other waits.
      a.tx(() => {
        expect(a.find('data', id('1'))).toBeDefined();
        try {
          b.setMeta('other', 'process');
        } catch (err) {
          bRefused = (err as { code?: string }).code === 'SQLITE_BUSY';
        }
        a.setMeta('mine', 'written');
      });
      expect(bRefused).toBe(true);
      expect(b.getMeta('mine')).toBe('written');
      b.setMeta('other', 'process');
      expect(a.getMeta('other')).toBe('process');
    } finally {
      a.close();
      b.close();
    }
  });
});
