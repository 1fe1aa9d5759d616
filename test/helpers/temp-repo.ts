import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createEngine, type EngineDeps } from '../../src/engine/create-engine.js';
import type { Engine, RepositorySession } from '../../src/engine/types.js';

/** Cheap scrypt for tests: the cost parameter is not what is under test. */
export const TEST_KDF = { N: 1024, r: 8, p: 1 };

export interface TempRepo {
  dir: string;
  repo: string;
  cacheDir: string;
  password: string;
  engine: Engine;
  open(): Promise<RepositorySession>;
  cleanup(): Promise<void>;
}

/** `repo` overrides the location (e.g. an s3:// URL); default `<dir>/repo`. */
export async function makeTempRepo(deps: EngineDeps = {}, opts: { repo?: string } = {}): Promise<TempRepo> {
  const dir = await mkdtemp(join(tmpdir(), 'cairn-test-'));
  const engine = createEngine({ kdf: TEST_KDF, ...deps });
  const t: TempRepo = {
    dir,
    repo: opts.repo ?? join(dir, 'repo'),
    cacheDir: join(dir, 'cache'),
    password: 'correct horse',
    engine,
    open: () => engine.open({ repo: t.repo, password: t.password, cacheDir: t.cacheDir }),
    cleanup: () => rm(dir, { recursive: true, force: true }),
  };
  await engine.init({ repo: t.repo, password: t.password, cacheDir: t.cacheDir });
  return t;
}
