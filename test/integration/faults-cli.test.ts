import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { main } from '../../src/cli/main.js';
import { withFaults, type FaultPlan } from '../../src/backend/with-faults.js';
import { FakeClock } from '../../src/core/clock.js';
import { createEngine, retryOptionsFromEnv } from '../../src/engine/create-engine.js';
import { CairnError } from '../../src/core/errors/index.js';
import { Sink, fakeStdin } from '../cli/helpers/run-cli.js';
import { TEST_KDF } from '../helpers/temp-repo.js';

/**
 * The retry wiring as the CLI sees it: the engine the CLI loads retries backend calls,
 * shows each retry as a warning line under --verbose (and says nothing otherwise), and
 * takes its policy from CAIRN_RETRY_ATTEMPTS / CAIRN_RETRY_BASE_MS, refusing junk.
 */

describe('retries through the CLI', () => {
  let dir: string;
  let repo: string;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'cairn-faults-cli-'));
    repo = join(dir, 'repo');
    await createEngine({ kdf: TEST_KDF }).init({ repo, password: 'pw', cacheDir: join(dir, 'cache') });
  });
  afterAll(async () => {
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  async function cli(args: string[], plan: FaultPlan, env: Record<string, string> = {}) {
    const stdout = new Sink();
    const stderr = new Sink();
    let code = -1;
    await main(['node', 'cairn', ...args], {
      stdout,
      stderr,
      stdin: fakeStdin(),
      env: { CAIRN_REPO: repo, CAIRN_PASSWORD: 'pw', CAIRN_CACHE_DIR: join(dir, 'cache'), HOME: dir, CAIRN_RETRY_BASE_MS: '1', ...env },
      cwd: dir,
      homedir: dir,
      clock: new FakeClock('2026-01-05T00:00:00Z'),
      signal: new AbortController().signal,
      // The real loader's options (clock, env, onRetry) plus a fault hook.
      loadEngine: async (o) => createEngine({ ...o, kdf: TEST_KDF, wrapBackend: (b) => withFaults(b, plan) }),
      exit: (c) => {
        code = c;
      },
    });
    return { code, stdout: stdout.text(), stderr: stderr.text() };
  }

  const twoListFaults: FaultPlan = [{ op: 'list', match: /^snapshots\//, times: 2, fault: 'error' }];

  it('--verbose shows one warning line per retry; the command succeeds', async () => {
    const r = await cli(['--verbose', 'snapshots'], twoListFaults);
    expect(r.code, r.stderr).toBe(0);
    const warnings = r.stderr.split('\n').filter((l) => l.startsWith('cairn: warning: retrying'));
    expect(warnings).toHaveLength(2);
    expect(warnings[0]).toMatch(/^cairn: warning: retrying list snapshots\/ in \d+\.\d s \(attempt 1 failed: injected fault: list snapshots\/ failed\)$/);
  });

  it('without --verbose, retries are silent', async () => {
    const r = await cli(['snapshots'], twoListFaults);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).not.toContain('retrying');
  });

  it('CAIRN_RETRY_ATTEMPTS=1 turns retries off: the first fault is final (exit 43)', async () => {
    const r = await cli(['--verbose', 'snapshots'], twoListFaults, { CAIRN_RETRY_ATTEMPTS: '1' });
    expect(r.code).toBe(43);
    expect(r.stderr).toMatch(/\[BACKEND_UNAVAILABLE\]/);
    expect(r.stderr).not.toContain('retrying');
  });

  it('junk in CAIRN_RETRY_* is CONFIG_INVALID (exit 2), not a silent default', async () => {
    const junk: Record<string, string>[] = [{ CAIRN_RETRY_ATTEMPTS: 'five' }, { CAIRN_RETRY_ATTEMPTS: '0' }, { CAIRN_RETRY_BASE_MS: '-5' }, { CAIRN_RETRY_BASE_MS: '1.5' }];
    for (const env of junk) {
      const r = await cli(['snapshots'], [], env);
      expect(r.code, JSON.stringify(env)).toBe(2);
      expect(r.stderr, JSON.stringify(env)).toMatch(/CAIRN_RETRY_(ATTEMPTS|BASE_MS) must be a whole number.*\[CONFIG_INVALID\]/);
    }
  });

  it('retryOptionsFromEnv reads both variables and ignores unset or empty ones', () => {
    expect(retryOptionsFromEnv({})).toEqual({});
    expect(retryOptionsFromEnv({ CAIRN_RETRY_ATTEMPTS: '', CAIRN_RETRY_BASE_MS: ' ' })).toEqual({});
    expect(retryOptionsFromEnv({ CAIRN_RETRY_ATTEMPTS: '8', CAIRN_RETRY_BASE_MS: '0' })).toEqual({ attempts: 8, baseDelayMs: 0 });
    expect(() => retryOptionsFromEnv({ CAIRN_RETRY_ATTEMPTS: '1e3' })).toThrow(CairnError);
  });
});
