import type { Backend } from '../backend/types.js';
import { CairnError } from '../core/errors/index.js';
import type { BlobId, PackId, SnapshotId } from '../core/ids.js';
import type { MirrorReport } from '../engine/types.js';
import { scanPacks, syncIndex } from '../repository/index-sync.js';
import { RepoLock } from '../repository/lock.js';
import { packName, Repository } from '../repository/repository.js';
import { copyPacksFor, copySnapshotFile } from './pack-copier.js';

interface Mirror {
  location: string;
  repo: Repository | null;
  lock: RepoLock | null;
  report: MirrorReport;
}

/**
 * The mirrors of one backup. Opened with the primary's master key (no password, no
 * scrypt): a mirror whose keyCheck or chunking differs is MIRROR_MISMATCH, thrown before
 * anything is written anywhere. A mirror that cannot be reached is marked failed and the
 * backup goes on; so is one that fails later. A failed mirror gets nothing more in this
 * run (so it never receives an index file or snapshot naming a pack it missed), and a
 * mirror's failure never fails the primary.
 */
export class MirrorSet {
  private constructor(
    private readonly primary: Repository,
    private readonly mirrors: Mirror[],
  ) {}

  static async open(
    primary: Repository,
    locations: string[],
    openBackend: (location: string) => Backend,
    opts: { dryRun?: boolean } = {},
  ): Promise<MirrorSet> {
    const set = new MirrorSet(primary, []);
    try {
      const seen = new Set<string>([primary.id]);
      for (const location of locations) {
        const m: Mirror = { location, repo: null, lock: null, report: { location, ok: true, packsCopied: 0, bytesCopied: 0 } };
        // A bad URL is a usage error, not a mirror that is down.
        const backend = openBackend(location);
        if (backend.location === primary.backend.location) {
          await backend.close().catch(() => undefined);
          throw new CairnError('USAGE', `--mirror ${location} is the primary repository itself`, { hint: 'name a separate mirror repository' });
        }
        set.mirrors.push(m);
        try {
          m.repo = await Repository.openWithMasterKey(backend, primary.masterKey, primary.deps, {
            notId: primary.id,
            chunker: primary.config.chunker,
            role: primary.keyRole,
          });
        } catch (err) {
          await backend.close().catch(() => undefined);
          if (err instanceof CairnError && (err.code === 'MIRROR_MISMATCH' || err.code === 'USAGE')) throw err;
          set.fail(m, err);
          continue;
        }
        if (seen.has(m.repo.id)) throw new CairnError('USAGE', `mirror ${location} is given twice (repository ${m.repo.id.slice(0, 8)})`);
        seen.add(m.repo.id);
      }
      // Keys are checked for every mirror before any lock or data is written.
      for (const m of set.healthy()) {
        try {
          if (!opts.dryRun) m.lock = await RepoLock.acquire(m.repo!, 'writer');
          await syncIndex(m.repo!);
          await m.lock?.recordMarksSeen();
          // Index what a killed run left only in this cache (see runCopy), before any catch-up trusts it.
          if (!opts.dryRun) await scanPacks(m.repo!);
        } catch (err) {
          set.fail(m, err);
        }
      }
      return set;
    } catch (err) {
      await set.close();
      throw err;
    }
  }

  private healthy(): Mirror[] {
    return this.mirrors.filter((m) => m.report.ok && m.repo);
  }

  private fail(m: Mirror, err: unknown): void {
    if (!m.report.ok) return;
    m.report.ok = false;
    m.report.error =
      err instanceof CairnError
        ? { code: err.code, message: err.message }
        : { code: 'IO_ERROR', message: err instanceof Error ? err.message : String(err) };
  }

  /** Writes a pack the primary just stored to every healthy mirror (in parallel); never throws. */
  readonly fanOut = async (id: PackId, bytes: Buffer): Promise<void> => {
    const name = packName(id);
    await Promise.all(
      this.healthy().map(async (m) => {
        try {
          await m.repo!.backend.save(name, bytes);
          const size = (await m.repo!.backend.stat(name)).size;
          if (size !== bytes.length) {
            throw new CairnError('PACK_CORRUPT', `pack ${id.slice(0, 8)} in mirror ${m.location} has ${size} bytes, ${bytes.length} were written`);
          }
        } catch (err) {
          this.fail(m, err);
        }
      }),
    );
  };

  /**
   * After the snapshot is stored in the primary: brings each healthy mirror up to date for
   * it with the 'packs' copy (normally it only indexes the packs fanned out during the
   * backup; after an earlier failure it copies what the mirror missed), then writes the
   * snapshot file. Never throws; failures end up in the reports.
   */
  async finish(snapshot: SnapshotId, tree: BlobId, signal?: AbortSignal): Promise<void> {
    await Promise.all(
      this.healthy().map(async (m) => {
        try {
          const stats = await copyPacksFor(this.primary, m.repo!, tree, signal ? { signal } : {});
          m.report.packsCopied += stats.packsCopied;
          m.report.bytesCopied += stats.bytesCopied;
          const mirror = m.repo!;
          const commit = () => copySnapshotFile(this.primary, mirror, snapshot).then(() => snapshot);
          await (m.lock ? m.lock.commit(commit, (sid) => mirror.removeSnapshot(sid)) : commit());
        } catch (err) {
          this.fail(m, err);
        }
      }),
    );
  }

  reports(): MirrorReport[] {
    return this.mirrors.map((m) => ({ ...m.report }));
  }

  async close(): Promise<void> {
    for (const m of this.mirrors) {
      await m.lock?.release().catch(() => undefined);
      await m.repo?.close().catch(() => undefined);
    }
  }
}
