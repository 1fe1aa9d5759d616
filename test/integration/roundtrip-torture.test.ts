import { describe, it, expect, afterAll } from 'vitest';
import { join } from 'node:path';
import { mkdir, rm, stat, writeFile } from 'node:fs/promises';
import { makeTempRepo, type TempRepo } from '../helpers/temp-repo.js';
import { manifest, makeTortureTree, byPath, type Manifest } from '../helpers/manifest.js';
import { SPARSE_SIZE } from '../helpers/torture-tree.js';
import { pseudoRandom } from '../helpers/data.js';
import { startS3rver, type S3rver } from '../helpers/s3rver.js';

/**
 * The round-trip criterion: a tree with every kind of entry comes back with
 * identical content and metadata, as judged by an independent tool (python's
 * os.lstat / os.getxattr), not by Cairn itself.
 */
/**
 * The same round trip on every kind of repository: a local directory and an
 * s3:// URL served by s3rver (in a child process, stopped in afterAll).
 */
interface Store {
  /** The repository location for a fresh repository; undefined = a local directory. */
  repo(): Promise<string | undefined>;
  stop(): Promise<void>;
}

const STORES: Array<[string, () => Store]> = [
  ['local directory', () => ({ repo: async () => undefined, stop: async () => {} })],
  [
    's3:// on s3rver',
    () => {
      let server: S3rver | undefined;
      return {
        async repo() {
          server = await startS3rver(['roundtrip']);
          // Credentials come from the standard variables, as for an operator.
          for (const [k, v] of Object.entries(server.env)) process.env[k] = v;
          process.env.AWS_EC2_METADATA_DISABLED = 'true';
          return server.url('roundtrip', 'repos/torture', { 'part-size': '5MiB' });
        },
        stop: async () => server?.stop(),
      };
    },
  ],
];

describe.each(STORES)('round trip of a tree with every kind of entry (%s)', (_name, makeStore) => {
  let t: TempRepo;
  const store = makeStore();
  let src: string;
  let before: Manifest;
  afterAll(async () => {
    await t?.cleanup();
    await store.stop();
  });

  it('restores content, types, modes, owners, ns mtimes, xattrs, hard links, sparse holes and odd names', async () => {
    const repo = await store.repo();
    t = await makeTempRepo({}, repo ? { repo } : {});
    src = join(t.dir, 'src');
    await mkdir(src);
    const info = await makeTortureTree(src);
    before = await manifest(src, { ignoreRootTimes: true, blocks: false });

    const s = await t.open();
    const b = await s.backup({ paths: [src] });
    expect(b.partial).toBe(false);
    expect(b.warnings).toEqual([]);
    const out = join(t.dir, 'out');
    const r = await s.restore({ snapshot: b.snapshot.id, target: out, verify: true });
    expect(r.verified!.mismatches).toEqual([]);
    await s.close();

    const restoredRoot = join(out, src);
    const after = await manifest(restoredRoot, { ignoreRootTimes: true, blocks: false });
    // Sockets are recorded but, as in restic, not recreated: a socket file is useless
    // without the process that listened on it. The restore says so.
    const sockets = before.entries.filter((e) => e.type === 'socket');
    expect(sockets.length).toBeGreaterThan(0);
    expect(r.warnings.filter((w) => w.includes('socket')).length).toBe(sockets.length);
    expect(after.entries).toEqual(before.entries.filter((e) => e.type !== 'socket'));
    expect(after.hardlinks).toEqual(before.hardlinks);
    expect(before.hardlinks.length).toBeGreaterThan(0);

    // Every kind the issue lists is really in the tree (so the comparison means something).
    const types = new Set(before.entries.map((e) => e.type));
    for (const k of ['file', 'dir', 'symlink', 'fifo']) expect(types).toContain(k);
    expect(before.entries.some((e) => e.xattrs && Object.keys(e.xattrs).length > 0)).toBe(true);
    expect(before.entries.some((e) => e.sparse)).toBe(true);
    expect(info.skipped).toEqual([]);

    // Holes came back as holes: the restored sparse file allocates far less than its size.
    const sparse = before.entries.find((e) => e.sparse && e.size === SPARSE_SIZE)!;
    const restoredSparse = byPath(after).get(sparse.path)!;
    expect(restoredSparse.sparse).toBe(true);
    const st = await stat(Buffer.concat([Buffer.from(restoredRoot + '/'), Buffer.from(sparse.path, 'hex')]));
    expect(st.blocks * 512).toBeLessThan(SPARSE_SIZE / 4);
  });

  it('then: an incremental backup, check --read-data, forget + prune with no gc delay, and the same restore again', async () => {
    expect(before, 'needs the first test').toBeDefined();
    const s = await t.open();
    try {
      expect(s.location.startsWith('s3://')).toBe(!t.repo.startsWith('/'));
      // Snapshot 2 adds a file; snapshot 3 drops it again, so forgetting 1 and 2 leaves
      // its packs unreferenced for prune to delete.
      const extra = join(src, 'extra.bin');
      await writeFile(extra, pseudoRandom(77, 6 * 2 ** 20));
      const second = await s.backup({ paths: [src] });
      const sum2 = second.snapshot.summary!;
      expect(sum2.filesNew).toBe(1);
      expect(sum2.filesChanged).toBe(0);
      expect(sum2.filesUnchanged).toBeGreaterThan(0);
      // Incremental: only the new file was read.
      expect(sum2.bytesRead).toBe(6 * 2 ** 20);
      await rm(extra);
      const third = await s.backup({ paths: [src] });
      expect(third.snapshot.summary!.bytesRead).toBe(0);
      expect(third.snapshot.parent).toBe(second.snapshot.id);

      const check = await s.check({ readData: true });
      expect(check.problems).toEqual([]);
      expect(check.ok).toBe(true);

      const all = await s.snapshots();
      expect(all.length).toBe(3);
      await s.forget({ ids: all.filter((x) => x.id !== third.snapshot.id).map((x) => x.id) });
      const first = await s.prune({ gcDelayMs: 0 });
      const again = await s.prune({ gcDelayMs: 0 });
      expect(first.marked.packs + again.marked.packs).toBeGreaterThan(0);
      expect(first.swept.packs + again.swept.packs).toBeGreaterThan(0);
      expect((await s.check({ readData: true })).ok).toBe(true);

      const out = join(t.dir, 'out-after-prune');
      const r = await s.restore({ snapshot: 'latest', target: out, verify: true });
      expect(r.verified!.mismatches).toEqual([]);
      const after = await manifest(join(out, src), { ignoreRootTimes: true, blocks: false });
      expect(after.entries).toEqual(before.entries.filter((e) => e.type !== 'socket'));
      expect(after.hardlinks).toEqual(before.hardlinks);
    } finally {
      await s.close();
    }
  });
});
