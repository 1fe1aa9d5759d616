import { describe, it, expect, afterAll } from 'vitest';
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { FakeClock } from '../../src/core/clock.js';
import { systemRandom } from '../../src/core/random.js';
import { LocalBackend } from '../../src/backend/local-backend.js';
import { Repository } from '../../src/repository/repository.js';
import { RepoLock } from '../../src/repository/lock.js';
import { makeTempRepo, type TempRepo } from '../helpers/temp-repo.js';

describe('unlock', () => {
  let t: TempRepo;
  afterAll(() => t?.cleanup());

  it('removes stale locks, keeps live ones unless --all, and reports who holds them', async () => {
    const clock = new FakeClock('2026-05-01T00:00:00Z');
    t = await makeTempRepo({ clock });
    const other = await Repository.open(new LocalBackend(t.repo), t.password, { clock, random: systemRandom, cacheDir: join(t.dir, 'c2') });
    const stale = await RepoLock.acquire(other, 'writer');
    clock.advance(40 * 60_000); // not refreshed for 40 minutes: stale for everyone
    const live = await RepoLock.acquire(other, 'maintenance');
    expect((await readdir(join(t.repo, 'locks'))).length).toBe(2);

    const s = await t.open();
    const r = await s.unlock();
    expect(r.removed).toBe(1);
    expect(r.live.map((l) => [l.id, l.kind])).toEqual([[live.id, 'maintenance']]);
    expect(await readdir(join(t.repo, 'locks'))).toEqual([live.id]);

    const all = await s.unlock({ all: true });
    expect(all.removed).toBe(1);
    expect(all.live).toEqual([]);
    expect(await readdir(join(t.repo, 'locks'))).toEqual([]);
    await stale.release();
    await live.release();
    await other.close();
    await s.close();
  });
});
