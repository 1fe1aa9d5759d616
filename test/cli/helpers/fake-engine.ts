import { CairnError } from '../../../src/core/errors/index.js';
import type { BlobId, KeyId, SnapshotId } from '../../../src/core/ids.js';
import type * as T from '../../../src/engine/types.js';

export function fakeSnapshot(n: number, over: Partial<T.SnapshotInfo> = {}): T.SnapshotInfo {
  const id = String(n).repeat(64).slice(0, 64) as SnapshotId;
  return {
    id,
    shortId: id.slice(0, 8),
    time: `2026-01-0${n}T10:00:00.000Z`,
    host: 'db1',
    user: 'root',
    source: { type: 'files', name: 'files' },
    paths: ['/srv/data'],
    tags: ['nightly'],
    mode: 'full',
    parent: null,
    tree: 'f'.repeat(64) as BlobId,
    ...over,
  };
}

export const summary: T.SnapshotSummary = {
  filesNew: 3,
  filesChanged: 1,
  filesUnchanged: 10,
  dirsNew: 1,
  dirsChanged: 0,
  dirsUnchanged: 2,
  bytesRead: 4096,
  bytesAdded: 2048,
  bytesAddedPacked: 1024,
  dataBlobs: 4,
  treeBlobs: 2,
  packs: 1,
  errors: 0,
  durationMs: 1500,
};

export interface Call {
  method: string;
  args: unknown[];
}

/**
 * A scripted Engine for CLI tests: records every call, answers with canned data, and
 * lets a test replace any session method (`fake.session.backup = async () => ...`).
 */
export class FakeEngine implements T.Engine {
  calls: Call[] = [];
  password = 'secret';
  snapshots: T.SnapshotInfo[] = [fakeSnapshot(1), fakeSnapshot(2, { mode: 'incremental', tags: [] })];
  session: T.RepositorySession;

  constructor() {
    const rec = (method: string, args: unknown[]): void => void this.calls.push({ method, args });
    const snaps = () => this.snapshots;
    this.session = {
      id: 'r'.repeat(64),
      location: '/repo',
      role: 'full',
      async snapshots(filter) {
        rec('snapshots', [filter]);
        return snaps();
      },
      async findSnapshot(ref) {
        rec('findSnapshot', [ref]);
        return snaps()[0]!;
      },
      async snapshotAt(time) {
        rec('snapshotAt', [time]);
        return snaps()[0]!;
      },
      async backup(opts) {
        rec('backup', [opts]);
        return { snapshot: { ...fakeSnapshot(3), summary }, warnings: [], partial: false };
      },
      async *ls(ref, opts) {
        rec('ls', [ref, opts]);
        yield {
          path: '/srv/data/a.txt', name: 'a.txt', type: 'file', mode: 0o644, uid: 0, gid: 0,
          user: 'root', group: 'root', size: 2048, mtime: '2026-01-01T09:00:00.000Z',
        };
        yield {
          path: '/srv/data/link', name: 'link', type: 'symlink', mode: 0o777, uid: 0, gid: 0,
          size: 0, mtime: '2026-01-01T09:00:00.000Z', linkTarget: 'a.txt',
        };
      },
      async *find(opts) {
        rec('find', [opts]);
        for (const s of snaps()) {
          yield {
            snapshot: s,
            node: { path: '/srv/data/a.txt', name: 'a.txt', type: 'file', mode: 0o644, uid: 0, gid: 0, size: 10, mtime: '2026-01-01T09:00:00.000Z' },
          };
        }
      },
      async diff(a, b) {
        rec('diff', [a, b]);
        return { entries: [{ path: '/x', change: 'added' }], stats: { added: 1, removed: 0, modified: 0, metadata: 0 } };
      },
      async restore(opts) {
        rec('restore', [opts]);
        return { snapshot: snaps()[0]!, files: 2, dirs: 1, bytes: 100, warnings: [] };
      },
      async cat(kind, ref) {
        rec('cat', [kind, ref]);
        if (kind === 'file') return Buffer.from([0, 1, 2, 255]);
        return { kind, ref };
      },
      async check(opts) {
        rec('check', [opts]);
        return { ok: true, packsChecked: 3, bytesRead: 0, problems: [], damagedPacks: [], affected: [], unindexedPacks: [] };
      },
      async forget(opts) {
        rec('forget', [opts]);
        return {
          groups: [
            {
              key: { host: 'db1', paths: ['/srv/data'] },
              keep: [{ snapshot: snaps()[1]!, reasons: ['last snapshot'] }],
              remove: [snaps()[0]!],
            },
          ],
          removed: opts.dryRun ? [] : [snaps()[0]!.id],
          dryRun: opts.dryRun === true,
        };
      },
      async prune(opts) {
        rec('prune', [opts]);
        return { marked: { packs: 1, bytes: 10 }, swept: { packs: 0, bytes: 0 }, repacked: { packs: 0, blobs: 0 }, deferred: 0, dryRun: opts?.dryRun === true };
      },
      async stats(ref) {
        rec('stats', [ref]);
        return { snapshots: 2, packs: 1, blobs: 5, storedBytes: 100, rawBytes: 200, compressionRatio: 2 };
      },
      async listKeys() {
        rec('listKeys', []);
        return [{ id: 'k'.repeat(64) as KeyId, role: 'full', current: true, created: '2026-01-01T00:00:00Z', host: 'db1', user: 'root' }];
      },
      async addKey(pw, opts) {
        rec('addKey', [pw, opts]);
        return { id: 'n'.repeat(64) as KeyId, role: 'full', current: false, created: '2026-01-02T00:00:00Z', host: 'db1', user: 'root' };
      },
      async removeKey(id) {
        rec('removeKey', [id]);
      },
      async changePassword(pw) {
        rec('changePassword', [pw]);
        return { id: 'm'.repeat(64) as KeyId, role: 'full', current: true, created: '2026-01-02T00:00:00Z', host: 'db1', user: 'root' };
      },
      async repairIndex() {
        rec('repairIndex', []);
        return { packsRead: 1, blobs: 2, indexFilesWritten: 1, indexFilesRemoved: 1, damagedPacks: [] };
      },
      async repairPacks(ids, opts) {
        rec('repairPacks', [ids, opts]);
        throw new CairnError('INTERNAL', 'FakeEngine: repairPacks not scripted');
      },
      async repairSnapshots(ids, opts) {
        rec('repairSnapshots', [ids, opts]);
        throw new CairnError('INTERNAL', 'FakeEngine: repairSnapshots not scripted');
      },
      async rewrite(ids, opts) {
        rec('rewrite', [ids, opts]);
        throw new CairnError('INTERNAL', 'FakeEngine: rewrite not scripted');
      },
      async tag(ids, change, opts) {
        rec('tag', [ids, change, opts]);
        throw new CairnError('INTERNAL', 'FakeEngine: tag not scripted');
      },
      async unlock(opts?: { all?: boolean }) {
        rec('unlock', [opts]);
        return { removed: 0, live: [] };
      },
      // PostgreSQL (issue #5): driven against real clusters in test/integration/postgres-*.test.ts.
      async backupMariadb(opts) {
        rec('backupMariadb', [opts]);
        throw new CairnError('INTERNAL', 'FakeEngine: backupMariadb not scripted');
      },
      async streamMariadb(opts) {
        rec('streamMariadb', [opts]);
        throw new CairnError('INTERNAL', 'FakeEngine: streamMariadb not scripted');
      },
      async pitrMariadb(name) {
        rec('pitrMariadb', [name]);
        return null;
      },
      async restoreMariadb(opts) {
        rec('restoreMariadb', [opts]);
        throw new CairnError('INTERNAL', 'FakeEngine: restoreMariadb not scripted');
      },
      async backupPostgres(opts) {
        rec('backupPostgres', [opts]);
        throw new CairnError('INTERNAL', 'FakeEngine: backupPostgres not scripted');
      },
      async streamPostgres(opts) {
        rec('streamPostgres', [opts]);
        throw new CairnError('INTERNAL', 'FakeEngine: streamPostgres not scripted');
      },
      async walPush(opts) {
        rec('walPush', [opts]);
        throw new CairnError('INTERNAL', 'FakeEngine: walPush not scripted');
      },
      async backupSqlite(opts) {
        rec('backupSqlite', [opts]);
        throw new CairnError('INTERNAL', 'FakeEngine: backupSqlite not scripted');
      },
      async streamSqlite(opts) {
        rec('streamSqlite', [opts]);
        throw new CairnError('INTERNAL', 'FakeEngine: streamSqlite not scripted');
      },
      async pitrSqlite(name) {
        rec('pitrSqlite', [name]);
        return null;
      },
      async restoreSqlite(opts) {
        rec('restoreSqlite', [opts]);
        throw new CairnError('INTERNAL', 'FakeEngine: restoreSqlite not scripted');
      },
      async pitr(name, opts) {
        rec('pitr', [name, opts]);
        throw new CairnError('INTERNAL', 'FakeEngine: pitr not scripted');
      },
      async restorePostgres(opts) {
        rec('restorePostgres', [opts]);
        throw new CairnError('INTERNAL', 'FakeEngine: restorePostgres not scripted');
      },
      async backupS3(opts) {
        rec('backupS3', [opts]);
        throw new CairnError('INTERNAL', 'FakeEngine: backupS3 not scripted');
      },
      async restoreS3(opts) {
        rec('restoreS3', [opts]);
        throw new CairnError('INTERNAL', 'FakeEngine: restoreS3 not scripted');
      },
      // Redis: driven against private redis-servers in test/integration/redis-pitr.test.ts.
      async backupRedis(opts) {
        rec('backupRedis', [opts]);
        throw new CairnError('INTERNAL', 'FakeEngine: backupRedis not scripted');
      },
      async streamRedis(opts) {
        rec('streamRedis', [opts]);
        throw new CairnError('INTERNAL', 'FakeEngine: streamRedis not scripted');
      },
      async pitrRedis(name, opts) {
        rec('pitrRedis', [name, opts]);
        throw new CairnError('INTERNAL', 'FakeEngine: pitrRedis not scripted');
      },
      async restoreRedis(opts) {
        rec('restoreRedis', [opts]);
        throw new CairnError('INTERNAL', 'FakeEngine: restoreRedis not scripted');
      },
      async sourceType(name) {
        rec('sourceType', [name]);
        return null;
      },
      async close() {
        rec('close', []);
      },
    };
  }

  async init(opts: T.InitOptions): Promise<T.InitResult> {
    this.calls.push({ method: 'init', args: [opts] });
    return { id: 'r'.repeat(64), location: opts.repo, keyId: 'k'.repeat(64) as KeyId };
  }

  async open(opts: T.RepoOptions): Promise<T.RepositorySession> {
    this.calls.push({ method: 'open', args: [opts] });
    if (opts.password !== this.password) {
      throw new CairnError('WRONG_PASSWORD', 'wrong password: no key slot opens with it', { hint: 'check CAIRN_PASSWORD' });
    }
    return this.session;
  }

  async copy(opts: T.CopyOptions): Promise<T.CopyResult> {
    this.calls.push({ method: 'copy', args: [opts] });
    return { method: 'blobs', copied: [], skipped: [], blobsCopied: 0, packsCopied: 0, bytesCopied: 0, dryRun: opts.dryRun === true };
  }

  /** The arguments of the first call to a method. */
  argsOf(method: string): unknown[] {
    const c = this.calls.find((x) => x.method === method);
    if (!c) throw new Error(`${method} was not called; calls: ${this.calls.map((x) => x.method).join(', ')}`);
    return c.args;
  }
}
