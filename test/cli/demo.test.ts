import { existsSync, lstatSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it, onTestFinished } from 'vitest';
import { CairnError } from '../../src/core/errors/index.js';
import { createEngine } from '../../src/engine/create-engine.js';
import { FakeEngine } from './helpers/fake-engine.js';
import { runCli } from './helpers/run-cli.js';

describe('cairn demo', () => {
  it('builds the sample tree, reuses an existing repository, and needs no --repo', async () => {
    const cwd = await mkdtemp(join(tmpdir(), 'cairn-demo-'));
    onTestFinished(() => rm(cwd, { recursive: true, force: true }));
    const engine = new FakeEngine();
    engine.password = 'demo';
    const first = await runCli(['demo'], { engine, cwd, env: {} });
    expect(first.code).toBe(0);
    expect(first.stdout).toContain('password "demo" (a demo password');
    expect(lstatSync(join(cwd, '.cairn-demo/source/link-to-readme')).isSymbolicLink()).toBe(true);
    expect(existsSync(join(cwd, '.cairn-demo/source/data/random.bin'))).toBe(true);
    expect(engine.argsOf('init')[0]).toMatchObject({ repo: join(cwd, '.cairn-demo/repo'), cacheDir: join(cwd, '.cairn-demo/cache') });

    engine.init = async () => {
      throw new CairnError('REPO_EXISTS', 'exists');
    };
    const again = await runCli(['demo', '--json'], { engine, cwd, env: {} });
    expect(again.code).toBe(0);
    const doc = JSON.parse(again.stdout);
    expect(doc.steps.find((s: { step: string }) => s.step === 'init')).toMatchObject({ created: false });
  });

  it('runs end to end against the real engine, twice', async () => {
    const cwd = await mkdtemp(join(tmpdir(), 'cairn-demo-e2e-'));
    onTestFinished(() => rm(cwd, { recursive: true, force: true }));
    const env = { CAIRN_KDF_N: '1024' };
    for (let run = 0; run < 2; run++) {
      const r = await runCli(['demo'], { engine: createEngine(), cwd, env });
      expect(r.stderr).toBe('');
      expect(r.code).toBe(0);
      expect(r.stdout).toMatch(/5\. second backup \(incremental\): snapshot \w{8}: 0 new, 1 changed/);
      expect(r.stdout).toMatch(/verified \d+ files: all match/);
    }
  });
});
