import { createHash } from 'node:crypto';
import { lstat, readdir, readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runBackup } from '../../src/archiver/backup.js';
import { systemClock } from '../../src/core/clock.js';
import { systemRandom } from '../../src/core/random.js';
import { LocalBackend } from '../../src/backend/local-backend.js';
import { BackendNotFoundError } from '../../src/backend/types.js';
import { Repository } from '../../src/repository/repository.js';
import type { SnapshotInfo } from '../../src/engine/types.js';
import type { GotObject } from '../../src/sources/s3/s3-bucket.js';
import { clashName, decodeSegment, encodeSegment, placeKey } from '../../src/sources/s3/s3-names.js';
import type { ListedObject, ObjectHeaders } from '../../src/sources/s3/s3-object-meta.js';
import { restoreToBucket } from '../../src/sources/s3/s3-restore.js';
import { repairIndex } from '../../src/maintenance/repair-index.js';
import { S3TreeBuilder, type BucketReader } from '../../src/sources/s3/s3-tree-builder.js';
import { pseudoRandom } from '../helpers/data.js';
import { makeTempRepo, type TempRepo } from '../helpers/temp-repo.js';

/**
 * The S3 source's tree building and restore-to-bucket against an in-memory bucket
 * that lists in real S3 order (UTF-8 bytes) — s3rver cannot store keys with "//" or
 * ".." segments (it maps keys to file paths), so losslessness for those is proven here.
 */

interface Obj {
  body: Buffer;
  etag: string;
  lastModified: Date;
  headers: ObjectHeaders;
}

class MemBucket implements BucketReader {
  readonly loc = { bucket: 'mem', concurrency: 4, display: 's3://mem', partSize: 5 * 1024 * 1024 };
  readonly objects = new Map<string, Obj>();
  gets: string[] = [];
  /** Hook: runs before a GET answers (to replace or delete the object in between). */
  beforeGet: ((key: string) => void) | undefined;
  constructor(readonly root = '') {}

  set(key: string, body: Buffer | string, headers: ObjectHeaders = {}, at = new Date()): void {
    const b = Buffer.from(body);
    this.objects.set(key, { body: b, etag: createHash('md5').update(b).digest('hex'), lastModified: at, headers });
  }

  async *list(): AsyncIterable<ListedObject> {
    const keys = [...this.objects.keys()].filter((k) => k.startsWith(this.root)).sort((a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b)));
    for (const key of keys) {
      const o = this.objects.get(key)!;
      yield { key, size: o.body.length, etag: o.etag, lastModified: o.lastModified, storageClass: 'STANDARD' };
    }
  }

  async get(key: string): Promise<GotObject> {
    this.gets.push(key);
    this.beforeGet?.(key);
    const o = this.objects.get(key);
    if (!o) throw new BackendNotFoundError(key);
    const body = o.body;
    return {
      body: (async function* () {
        for (let i = 0; i < body.length; i += 65536) yield body.subarray(i, i + 65536);
      })(),
      size: body.length,
      etag: o.etag,
      lastModified: o.lastModified,
      headers: o.headers,
      destroy: () => {},
    };
  }

  // restore target side
  async put(key: string, body: Buffer, h: ObjectHeaders): Promise<void> {
    this.objects.set(key, { body: Buffer.from(body), etag: 'x', lastModified: new Date(), headers: h });
  }
  async putMultipart(key: string, parts: AsyncIterable<Buffer>, h: ObjectHeaders): Promise<void> {
    const all: Buffer[] = [];
    for await (const p of parts) {
      all.push(p);
    }
    // Every part but the last is exactly partSize.
    for (const p of all.slice(0, -1)) expect(p.length).toBe(this.loc.partSize);
    this.objects.set(key, { body: Buffer.concat(all), etag: 'mp', lastModified: new Date(), headers: h });
  }
}

const ODD_KEYS = [
  'p/a//b.txt', // empty segment
  'p/./dot.txt',
  'p/../up.txt',
  'p/..', // a file named ".."
  'p/trail/', // non-empty object ending in '/'
  'p/clash', // file and directory of the same name
  'p/clash/child',
  'p/folder/', // zero-byte marker
  'p/folder/in.txt',
  'p//lead', // empty segment right after the prefix
  'p/sp ace+plus&eq=é€%20?#.txt',
  'p/x/y/z/deep.bin',
];

describe('S3 source tree building (in-memory bucket)', () => {
  let t: TempRepo;
  let repo: Repository;
  const snaps: SnapshotInfo[] = [];

  beforeAll(async () => {
    t = await makeTempRepo();
    repo = await Repository.open(new LocalBackend(t.repo), t.password, { clock: systemClock, random: systemRandom, cacheDir: t.cacheDir, threads: 0 });
  });
  afterAll(async () => {
    await repo?.close();
    await t?.cleanup();
  });

  async function backup(bucket: MemBucket, warnings: string[] = []) {
    let objectsRead = 0;
    const r = await runBackup(repo, { paths: [] }, async () => snaps, {
      built: {
        source: { type: 's3', name: 'mem/p' },
        paths: ['s3://mem/p'],
        build: async (ctx) => {
          const b = new S3TreeBuilder(repo, ctx.saver, bucket, {
            parentTree: ctx.parent?.tree ?? null,
            reuseUnchanged: ctx.reuseUnchanged,
            parentStored: ctx.parentStored,
            onWarning: (w) => warnings.push(`${w.code} ${w.path}`),
          });
          const res = await b.run();
          objectsRead = b.objectsRead;
          return res;
        },
      },
    });
    snaps.push(r.snapshot);
    return { ...r, objectsRead };
  }

  it('after a lost pack and repair index, reads again the unchanged objects whose data was in it', async () => {
    const src = new MemBucket('p/');
    for (let i = 0; i < 20; i++) src.set(`p/d${i % 4}/f${i}.bin`, pseudoRandom(100 + i, 5000));
    await backup(src);
    src.gets = [];
    const before = await backup(src);
    expect(src.gets).toEqual([]);

    const lost = repo.index.packIds().find((p) => repo.index.blobsInPack(p).some((b) => b.type === 'data'))!;
    const lostBlobs = repo.index.blobsInPack(lost).filter((b) => b.type === 'data').length;
    await rm(join(t.repo, 'data', lost.slice(0, 2), lost));
    await repairIndex(repo);
    src.gets = [];
    const healed = await backup(src);
    expect(src.gets.length).toBeGreaterThanOrEqual(Math.min(lostBlobs, 20));
    expect(healed.snapshot.summary!.dataBlobs).toBe(lostBlobs);
    expect(healed.snapshot.tree).toBe(before.snapshot.tree);
    const dst = new MemBucket('');
    await restoreToBucket(repo, healed.snapshot.tree, dst, {});
    for (let i = 0; i < 20; i++) expect(dst.objects.get(`d${i % 4}/f${i}.bin`)!.body.equals(pseudoRandom(100 + i, 5000))).toBe(true);
  });

  it('maps keys to names injectively', () => {
    expect(placeKey('a/b/', 0)).toEqual({ dirs: ['a', 'b'], leaf: null });
    expect(placeKey('a/b/', 3)).toEqual({ dirs: ['a', 'b'], leaf: '' });
    expect(placeKey('x', 0)).toEqual({ dirs: [], leaf: 'x' });
    for (const s of ['', '.', '..', 'a', 'é', '...']) {
      expect(decodeSegment(encodeSegment(s))).toBe(s);
      expect(decodeSegment(clashName(encodeSegment(s)))).toBe(s);
    }
    expect(decodeSegment(Buffer.from([0xff, 0x61]))).toBeNull(); // escape of a plain name: never produced
    expect(decodeSegment(Buffer.from([0xc3]))).toBeNull();
  });

  it('round-trips odd keys losslessly: bucket → snapshot → bucket, and to a directory', async () => {
    const src = new MemBucket('p/');
    const t0 = new Date('2026-01-02T03:04:05.678Z');
    for (const [i, k] of ODD_KEYS.entries()) {
      if (k === 'p/folder/') src.set(k, '', { contentType: 'application/x-directory', metadata: { owner: 'ops' } }, t0);
      else src.set(k, k.endsWith('.bin') ? pseudoRandom(i, 11 * 1024 * 1024) : `body of ${k}`, { contentType: 'text/plain', metadata: { n: String(i) } }, t0);
    }
    src.set('other/outside', 'not under the prefix');
    const r = await backup(src);
    expect(r.partial).toBe(false);
    expect(r.objectsRead).toBe(ODD_KEYS.length);

    const dst = new MemBucket('restored/');
    const res = await restoreToBucket(repo, r.snapshot.tree, dst, {});
    expect(res.warnings).toEqual([]);
    expect([...dst.objects.keys()].sort()).toEqual(ODD_KEYS.map((k) => 'restored/' + k.slice(2)).sort());
    for (const k of ODD_KEYS) {
      const a = src.objects.get(k)!;
      const b = dst.objects.get('restored/' + k.slice(2))!;
      expect(b.body.equals(a.body), k).toBe(true);
      expect(b.headers.contentType, k).toBe(a.headers.contentType);
      expect(b.headers.metadata, k).toEqual(a.headers.metadata);
    }

    // To a directory: escaped names are raw bytes on disk, the marker is a directory with xattrs.
    const session = await t.open();
    try {
      const target = join(t.dir, 'dir-restore');
      await session.restore({ snapshot: r.snapshot.id, target });
      const top = (await readdir(Buffer.from(target) as unknown as string, { encoding: 'buffer' })) as unknown as Buffer[];
      expect(top.map((b) => b.toString('hex')).sort()).toEqual(
        // "p/.." is a file beside the directory "p/../": it gets the clash escape on top.
        [encodeSegment(''), encodeSegment('.'), encodeSegment('..'), clashName(encodeSegment('..')), clashName(Buffer.from('clash')), ...['a', 'clash', 'folder', 'sp ace+plus&eq=é€%20?#.txt', 'trail', 'x'].map((s) => Buffer.from(s))]
          .map((b) => b.toString('hex'))
          .sort(),
      );
      expect((await lstat(join(target, 'folder'))).isDirectory()).toBe(true);
      expect(await readFile(join(target, 'clash', 'child'), 'utf8')).toBe('body of p/clash/child');
      expect((await lstat(join(target, 'folder'))).mtime.toISOString()).toBe(t0.toISOString());
    } finally {
      await session.close();
    }
  });

  it('reads only new and changed objects, reflects deletions, and warns for vanished and replaced ones', async () => {
    const src = new MemBucket('p/');
    for (let i = 0; i < 50; i++) src.set(`p/d${i % 5}/f${i}.txt`, `v1 ${i}`, { contentType: 'text/plain' });
    const first = await backup(src);
    expect(first.objectsRead).toBe(50);
    src.gets = [];
    const same = await backup(src);
    expect(src.gets).toEqual([]);
    expect(same.snapshot.tree).toBe(first.snapshot.tree);
    expect(same.snapshot.summary!.filesUnchanged).toBe(50);
    expect(same.snapshot.summary!.bytesAdded).toBe(0);

    src.set('p/d1/f1.txt', 'v2 changed', { contentType: 'text/html' });
    src.set('p/d9/new.txt', 'new');
    src.objects.delete('p/d2/f2.txt');
    src.gets = [];
    const third = await backup(src);
    expect(src.gets.sort()).toEqual(['p/d1/f1.txt', 'p/d9/new.txt']);
    expect(third.snapshot.summary).toMatchObject({ filesNew: 1, filesChanged: 1, filesUnchanged: 48 });
    const dst = new MemBucket('');
    await restoreToBucket(repo, third.snapshot.tree, dst, {});
    expect(dst.objects.has('d2/f2.txt')).toBe(false);
    expect(dst.objects.get('d1/f1.txt')!.body.toString()).toBe('v2 changed');
    expect(dst.objects.get('d1/f1.txt')!.headers.contentType).toBe('text/html');

    // Between list and get: one deleted (VANISHED, not in the snapshot, exit 0), one replaced (CHANGED, new version kept).
    src.set('p/d3/f3.txt', 'touched to be read');
    src.set('p/d4/f4.txt', 'touched to be read');
    src.beforeGet = (key) => {
      if (key === 'p/d3/f3.txt') src.objects.delete(key);
      if (key === 'p/d4/f4.txt') src.set(key, 'replaced meanwhile', {}, new Date(Date.now() + 5000));
    };
    const warnings: string[] = [];
    const fourth = await backup(src, warnings);
    src.beforeGet = undefined;
    expect(warnings.sort()).toEqual(['CHANGED p/d4/f4.txt', 'VANISHED p/d3/f3.txt']);
    expect(fourth.partial).toBe(false);
    const dst2 = new MemBucket('');
    await restoreToBucket(repo, fourth.snapshot.tree, dst2, {});
    expect(dst2.objects.has('d3/f3.txt')).toBe(false);
    expect(dst2.objects.get('d4/f4.txt')!.body.toString()).toBe('replaced meanwhile');
    // The replaced object is stored under the ETag it was read with: the next run does not read it again.
    src.gets = [];
    await backup(src);
    expect(src.gets).toEqual([]);
  });

  afterAll(async () => {
    if (t) await rm(join(t.dir, 'dir-restore'), { recursive: true, force: true });
  });
});
