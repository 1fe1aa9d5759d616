import { spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it, onTestFinished } from 'vitest';
import { CAIRN_BIN, CAIRN_BUILT, ROOT } from '../helpers/cli.js';

/**
 * A cairn whose stdout or stderr reader has gone away (`| head`, a supervisor that
 * died) must still end with its own exit code, not crash on EPIPE: a streamer stopped
 * that way has cleanup to do.
 */
describe.skipIf(!CAIRN_BUILT)('closed output pipes', () => {
  async function runWithClosed(stream: 'stdout' | 'stderr', args: string[]): Promise<number | null> {
    const dir = await mkdtemp(join(tmpdir(), 'cairn-pipes-'));
    onTestFinished(() => rm(dir, { recursive: true, force: true }));
    const child = spawn(process.execPath, [CAIRN_BIN, ...args], {
      cwd: ROOT,
      env: { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: dir, CAIRN_PASSWORD: 'x', CAIRN_CACHE_DIR: join(dir, 'cache') },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    child[stream]!.destroy();
    if (stream === 'stdout') child.stderr!.resume();
    else child.stdout!.resume();
    return new Promise((resolve) => child.on('exit', (code) => resolve(code)));
  }

  it('stderr closed: an error still exits with its own code (10), not 1', async () => {
    expect(await runWithClosed('stderr', ['--repo', '/nonexistent/cairn-repo', 'snapshots'])).toBe(10);
  });

  it('stdout closed: a usage error still exits 2', async () => {
    expect(await runWithClosed('stdout', ['--bogus'])).toBe(2);
  });
});
