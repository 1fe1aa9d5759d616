import { describe, expect, it } from 'vitest';
import { MemBackend } from '../../src/backend/mem-backend.js';
import type { Backend } from '../../src/backend/types.js';
import { systemClock } from '../../src/core/clock.js';
import { systemRandom } from '../../src/core/random.js';
import { Repository } from '../../src/repository/repository.js';
import { TEST_KDF } from '../helpers/temp-repo.js';

/**
 * A sealed file is read back after saving. Between the save and the read-back another
 * host may legitimately remove it — a prune that folded a just-written index file into
 * its new one (seen in test/integration/many-writers.test.ts: the backup died with
 * "not found: index/…", exit 1). That is not a failed write.
 */
describe('Repository.saveSealed read-back', () => {
  async function repoWith(afterSave: (b: Backend, name: string) => Promise<void>): Promise<Repository> {
    const mem = new MemBackend();
    const backend: Backend = {
      ...mem,
      location: mem.location,
      load: mem.load.bind(mem),
      list: mem.list.bind(mem),
      stat: mem.stat.bind(mem),
      remove: mem.remove.bind(mem),
      close: mem.close.bind(mem),
      async save(name, data, options) {
        await mem.save(name, data, options);
        await afterSave(mem, name);
      },
    };
    return Repository.init(backend, 'pw', { clock: systemClock, random: systemRandom, cacheDir: ':memory:', threads: 0 }, { kdf: TEST_KDF });
  }

  it('an index file removed by someone else right after it was written still counts as written', async () => {
    const repo = await repoWith(async (b, name) => {
      if (name.startsWith('index/')) await b.remove(name);
    });
    await expect(repo.saveSealed('index', { packs: [] })).resolves.toMatch(/^[0-9a-f]{64}$/);
    await repo.close();
  });

  it('a file that reads back different is still refused (REPO_CORRUPT) and removed', async () => {
    let saved = '';
    const repo = await repoWith(async (b, name) => {
      if (!name.startsWith('snapshots/')) return;
      saved = name;
      const bytes = await b.load(name);
      bytes[bytes.length >> 1] ^= 0xff;
      await b.save(name, bytes, { overwrite: true });
    });
    await expect(repo.saveSealed('snapshot', { hello: 1 })).rejects.toMatchObject({ code: 'REPO_CORRUPT' });
    await expect(repo.backend.stat(saved)).rejects.toMatchObject({ notFound: true });
    await repo.close();
  });
});
