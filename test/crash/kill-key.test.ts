import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CAIRN_BUILT, cairnEnv, killAllCairns, runCairn, spawnCairn } from '../helpers/cli.js';
import { crashSeed, killWhen, namesIn, prng, sleep } from './crash-kit.js';

/**
 * Killing `key passwd`, `key add` or `key remove` at any moment never leaves a
 * repository that no known password opens (docs/security.md: the new slot is written
 * before the old one is removed). A lost key slot is the one loss no backup undoes.
 */

const SEED = crashSeed();

describe.skipIf(!CAIRN_BUILT)('SIGKILL during key changes', () => {
  let dir: string;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'cairn-crash-key-'));
  });

  afterAll(async () => {
    killAllCairns();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  /** Which of the passwords open the repository (a read that needs the master key). */
  async function opening(repo: string, cache: string, passwords: string[]): Promise<string[]> {
    const out: string[] = [];
    for (const pw of passwords) {
      const r = await runCairn(['--json', 'snapshots'], cairnEnv(repo, cache, pw));
      if (r.code === 0) out.push(pw);
      else expect(r.code, `${pw}: ${r.stderr}`).toBe(12); // WRONG_PASSWORD, nothing else
    }
    return out;
  }

  it(`key passwd killed at random moments and after the new slot is written: the old or the new password always opens it (seed ${SEED})`, { timeout: 120_000 }, async () => {
    const rand = prng(SEED);
    const repo = join(dir, 'repo-passwd');
    const cache = join(dir, 'cache-passwd');
    let current = 'password 0';
    expect((await runCairn(['init'], cairnEnv(repo, cache, current))).code).toBe(0);
    const outcomes: string[] = [];
    for (let round = 1; round <= 8; round++) {
      const next = `password ${round}`;
      const file = join(dir, `new-${round}`);
      await writeFile(file, `${next}\n`);
      const child = spawnCairn(['key', 'passwd', '--new-password-file', file], cairnEnv(repo, cache, current));
      // Even rounds: the moment the new slot exists and the old one is not yet removed.
      const killed =
        round % 2 === 0
          ? await killWhen(child, async () => (await namesIn(repo, 'keys')).length > 1)
          : await sleep(Math.floor(rand() * 500)).then(() => child.kill('SIGKILL'));
      const r = await child.done;
      const works = await opening(repo, cache, [current, next]);
      outcomes.push(`${killed ? 'killed' : `exit ${r.code}`}: ${works.length} of 2 open, ${(await namesIn(repo, 'keys')).length} slot(s)`);
      expect(works.length, `round ${round}: no password opens the repository\n${r.stderr}`).toBeGreaterThan(0);
      if (!killed) expect(works, r.stderr).toEqual([next]);
      current = works.includes(next) ? next : current;
    }
    // The survivors still take a complete change, and then only the new one opens it.
    await writeFile(join(dir, 'final'), 'final password\n');
    const done = await runCairn(['key', 'passwd', '--new-password-file', join(dir, 'final')], cairnEnv(repo, cache, current));
    expect(done.code, done.stderr).toBe(0);
    expect(await opening(repo, cache, [current, 'final password'])).toEqual(current === 'final password' ? [current] : ['final password']);
    console.log(`key passwd kills: ${outcomes.join('; ')}`);
  });

  it('key add and key remove killed at random moments: every password that opened it before still does, unless it was the one removed', { timeout: 120_000 }, async () => {
    const rand = prng(SEED + 1);
    const repo = join(dir, 'repo-add');
    const cache = join(dir, 'cache-add');
    const admin = 'admin password';
    expect((await runCairn(['init'], cairnEnv(repo, cache, admin))).code).toBe(0);
    for (let round = 1; round <= 6; round++) {
      const extra = `extra ${round}`;
      const file = join(dir, `extra-${round}`);
      await writeFile(file, `${extra}\n`);
      const add = spawnCairn(['key', 'add', '--new-password-file', file], cairnEnv(repo, cache, admin));
      await sleep(Math.floor(rand() * 400));
      add.kill('SIGKILL');
      await add.done;
      expect(await opening(repo, cache, [admin]), `round ${round}: after a killed key add`).toEqual([admin]);
      const opened = await opening(repo, cache, [extra]);
      if (opened.length === 0) continue; // killed before its slot was written
      // Remove the extra slot, killed at a random moment: the admin password still opens it.
      const { stdout } = await runCairn(['--json', 'key', 'list'], cairnEnv(repo, cache, extra));
      const id = (JSON.parse(stdout) as { id: string; current: boolean }[]).find((k) => k.current)!.id;
      const remove = spawnCairn(['key', 'remove', id], cairnEnv(repo, cache, admin));
      await sleep(Math.floor(rand() * 400));
      remove.kill('SIGKILL');
      await remove.done;
      expect(await opening(repo, cache, [admin]), `round ${round}: after a killed key remove`).toEqual([admin]);
    }
  });
});
