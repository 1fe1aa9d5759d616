import { describe, expect, it } from 'vitest';
import { MemBackend } from '../../src/backend/mem-backend.js';
import type { Backend } from '../../src/backend/types.js';
import { systemClock } from '../../src/core/clock.js';
import type { BlobId, PackId } from '../../src/core/ids.js';
import { systemRandom } from '../../src/core/random.js';
import { scanPacks } from '../../src/repository/index-sync.js';
import { Repository } from '../../src/repository/repository.js';
import { runCheck } from '../../src/verify/check.js';
import { TEST_KDF } from '../helpers/temp-repo.js';

/**
 * scanPacks (prune) and check drop the cache's packs that the repository no longer
 * has. A backup sharing the cache records a pack once it is stored, so a pack recorded
 * while the listing runs may be missing from it only because it was stored after the
 * listing went past its name: that one must stay (the prune that dropped it then failed
 * on the backup's snapshot with BLOB_MISSING).
 */
describe('a pack a concurrent backup records while the packs are listed', () => {
  const deps = { clock: systemClock, random: systemRandom, cacheDir: ':memory:', threads: 0 };
  const late = 'a'.repeat(64) as PackId;
  const gone = 'b'.repeat(64) as PackId;

  /** A repository whose pack listing, once `racing`, ends with a backup storing and recording `late`. */
  async function racingRepo(): Promise<{ repo: Repository; record: (id: PackId) => void; race: () => void }> {
    const inner = new MemBackend();
    await (await Repository.init(inner, 'pw', deps, { kdf: TEST_KDF })).close();
    let repo: Repository | undefined;
    let racing = false;
    const record = (id: PackId) =>
      repo!.index.addPack({ id, size: 100, encKeyId: 0, salt: Buffer.alloc(16) }, [{ type: 'data', id: id.replace(/./g, 'c') as BlobId, offset: 0, length: 50, rawLength: 50, compressed: false }], null);
    const backend = new Proxy(inner, {
      get(target, key) {
        if (key === 'list') {
          return async function* (prefix: string) {
            yield* target.list(prefix);
            if (racing && prefix === 'data/') {
              // Stored after the listing went past its name, then recorded.
              await target.save(`data/${late.slice(0, 2)}/${late}`, Buffer.alloc(100));
              record(late);
            }
          };
        }
        const v = Reflect.get(target, key) as unknown;
        return typeof v === 'function' ? (v as (...a: unknown[]) => unknown).bind(target) : v;
      },
    }) as Backend;
    repo = await Repository.open(backend, 'pw', deps);
    return { repo, record, race: () => (racing = true) };
  }

  it('stays in the cache through scanPacks; one the cache had before that the repository lacks is dropped', async () => {
    const { repo, record, race } = await racingRepo();
    record(gone); // in the cache before the scan, in no listing: swept elsewhere
    race();
    const r = await scanPacks(repo);
    expect(r.missing).toEqual([gone]);
    expect(repo.index.hasPack(late)).toBe(true);
    expect(repo.index.hasPack(gone)).toBe(false);
    await repo.close();
  });

  it('stays in the cache through check; one the cache had before that the repository lacks is dropped as stale', async () => {
    const { repo, record, race } = await racingRepo();
    record(gone);
    race();
    await runCheck(repo);
    expect(repo.index.hasPack(late)).toBe(true);
    expect(repo.index.hasPack(gone)).toBe(false);
    await repo.close();
  });
});
