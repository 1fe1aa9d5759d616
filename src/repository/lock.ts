import { hostname } from 'node:os';
import { isNotFound } from '../backend/types.js';
import { CairnError } from '../core/errors/index.js';
import { sealFile } from '../format/sealed-file.js';
import { safeUser, type Repository } from './repository.js';

export type LockKind = 'writer' | 'maintenance';

export interface LockBody {
  kind: LockKind;
  host: string;
  pid: number;
  user: string;
  created: string;
  refreshed: string;
  /**
   * Writer locks: the gc marks this writer had loaded before it began deduplicating, so
   * it never relies on their packs. Prune sweeps a mark only when every live writer lists
   * it; absent (a writer that has not synced yet, or an older cairn) blocks every sweep.
   * This orders writers against marks by what they read, not by clocks.
   */
  marksSeen?: string[];
}

export const LOCK_REFRESH_MS = 5 * 60_000;
export const LOCK_STALE_MS = 30 * 60_000;

export interface LiveLock {
  id: string;
  body: LockBody;
}

function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * A lock is stale, and ignored by everyone, when it was not refreshed for
 * LOCK_STALE_MS, or at once when it names this host and a process that is gone. So a
 * lock left by a killed process never stops anything for long, and never stops a
 * backup at all (backups do not wait for locks).
 */
export function isStale(body: LockBody, now: Date, host = hostname()): boolean {
  if (body.host === host && !pidAlive(body.pid)) return true;
  return now.getTime() - new Date(body.refreshed).getTime() > LOCK_STALE_MS;
}

export async function listLiveLocks(repo: Repository): Promise<LiveLock[]> {
  const out: LiveLock[] = [];
  const now = repo.deps.clock.now();
  for (const id of await repo.listIds('lock')) {
    try {
      const body = (await repo.loadSealed('lock', id)) as LockBody;
      if (!isStale(body, now)) out.push({ id, body });
    } catch (err) {
      if (isNotFound(err)) continue;
      if (err instanceof CairnError && err.code === 'REPO_CORRUPT') continue; // a torn lock is no lock
      throw err;
    }
  }
  return out;
}

/**
 * Deletes lock files that everyone already ignores (keeps locks/ small); with `all`,
 * live ones too — only for an operator who knows no cairn process is running.
 */
export async function removeStaleLocks(repo: Repository, opts: { all?: boolean } = {}): Promise<number> {
  const now = repo.deps.clock.now();
  let removed = 0;
  for (const id of await repo.listIds('lock')) {
    try {
      const body = (await repo.loadSealed('lock', id)) as LockBody;
      if (!opts.all && !isStale(body, now)) continue;
    } catch (err) {
      if (isNotFound(err)) continue;
      if (!(err instanceof CairnError && err.code === 'REPO_CORRUPT')) throw err;
    }
    await repo.backend.remove(`locks/${id}`);
    removed++;
  }
  return removed;
}

/**
 * A lock file in locks/. Lock files are the one kind of sealed file that is rewritten
 * in place (refresh), so they are named by a random id, not by content hash.
 */
export class RepoLock {
  private timer: NodeJS.Timeout | null = null;
  private lastRefresh: number;
  /** Longest time others saw one `refreshed` value, from write to the next write landing. */
  private longestGap = 0;
  private released = false;

  private constructor(
    private readonly repo: Repository,
    readonly id: string,
    private body: LockBody,
  ) {
    this.lastRefresh = repo.deps.clock.now().getTime();
  }

  static async acquire(repo: Repository, kind: LockKind): Promise<RepoLock> {
    if (kind === 'maintenance') await RepoLock.assertNoMaintenance(repo, null);
    const now = repo.deps.clock.now().toISOString();
    const body: LockBody = { kind, host: hostname(), pid: process.pid, user: safeUser(), created: now, refreshed: now };
    const lock = new RepoLock(repo, repo.deps.random(32).toString('hex'), body);
    await lock.write();
    if (kind === 'maintenance') {
      // Two maintainers may have passed the first check at once: the older lock wins.
      try {
        await RepoLock.assertNoMaintenance(repo, lock);
      } catch (err) {
        await lock.release();
        throw err;
      }
    }
    lock.timer = setInterval(() => void lock.refresh().catch(() => undefined), LOCK_REFRESH_MS);
    lock.timer.unref();
    return lock;
  }

  private static async assertNoMaintenance(repo: Repository, mine: RepoLock | null): Promise<void> {
    for (const l of await listLiveLocks(repo)) {
      if (l.body.kind !== 'maintenance' || (mine && l.id === mine.id)) continue;
      if (mine && (l.body.created > mine.body.created || (l.body.created === mine.body.created && l.id > mine.id))) continue;
      throw new CairnError('REPO_LOCKED', `the repository is locked by ${l.body.kind} on ${l.body.host} (pid ${l.body.pid}, since ${l.body.created})`, {
        hint: 'another prune or repair is running; wait for it. A lock not refreshed for 30 minutes is ignored automatically',
        details: { lock: l.id, ...l.body },
      });
    }
  }

  private async write(): Promise<void> {
    const keyId = this.repo.masterKey.currentEncKey;
    const { bytes } = sealFile('lock', this.body, keyId, this.repo.keyFor(keyId), this.repo.deps.random);
    await this.repo.backend.save(`locks/${this.id}`, bytes, { overwrite: true });
  }

  async refresh(): Promise<void> {
    if (this.released) return;
    const now = this.repo.deps.clock.now();
    this.body = { ...this.body, refreshed: now.toISOString() };
    await this.write();
    // Until this write landed, others saw the previous `refreshed`: a write that hung for
    // long is a stretch in which the lock may have looked stale (see assertFresh).
    this.longestGap = Math.max(this.longestGap, this.repo.deps.clock.now().getTime() - this.lastRefresh);
    this.lastRefresh = now.getTime();
  }

  /**
   * A writer whose lock may have gone stale (e.g. the machine slept) could have been
   * ignored by a sweeping prune; it must not commit a snapshot that references data
   * the prune may have deleted.
   */
  assertFresh(): void {
    // Not just now: if the lock ever looked stale (a hung store delayed the refresh), a
    // prune may have swept meanwhile, even though a later refresh got through.
    const age = Math.max(this.longestGap, this.repo.deps.clock.now().getTime() - this.lastRefresh);
    if (age > LOCK_STALE_MS - LOCK_REFRESH_MS) {
      throw new CairnError('REPO_LOCKED', `this process's lock was not refreshed for ${Math.round(age / 60000)} minutes; refusing to commit`, {
        hint: 'run the backup again: data already stored will be reused',
      });
    }
  }

  /**
   * Writes the file that makes a writer's data reachable (a snapshot) under the
   * freshness rule: refused before the save if this lock may have looked stale, and
   * withdrawn after it if the save itself hung past the staleness (the refresh hangs
   * with it), since a prune may then have taken this process for dead and swept what
   * the file references.
   */
  async commit<T extends string>(save: () => Promise<T>, withdraw: (id: T) => Promise<void>): Promise<T> {
    this.assertFresh();
    const id = await save();
    try {
      this.assertFresh();
    } catch (err) {
      await withdraw(id).catch(() => undefined);
      throw err;
    }
    return id;
  }

  /** Publishes the gc marks of the last index sync (see LockBody.marksSeen). Call after syncIndex. */
  async recordMarksSeen(): Promise<void> {
    if (this.released) return;
    this.body = { ...this.body, marksSeen: [...this.repo.gcMarksKnown] };
    await this.write();
  }

  get created(): string {
    return this.body.created;
  }

  async release(): Promise<void> {
    if (this.released) return;
    this.released = true;
    if (this.timer) clearInterval(this.timer);
    await this.repo.backend.remove(`locks/${this.id}`);
  }
}
