import { execFileSync } from 'node:child_process';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CAIRN_BUILT, cairnEnv, killAllCairns, runCairn, spawnCairn } from '../helpers/cli.js';
import { crashSeed, expectCheckPasses, killWhen, lockFiles, namesIn, prng, sleep, SourceTree } from './crash-kit.js';

/**
 * Ctrl-C during a backup (docs/cli.md, Exit codes): cairn aborts, releases its lock,
 * prints one error line (no stack) and exits 130; nothing is committed.
 */

const SEED = crashSeed();

describe.skipIf(!CAIRN_BUILT)('SIGINT during backup', () => {
  let dir: string;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'cairn-crash-sigint-'));
  });

  afterAll(async () => {
    killAllCairns();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  // Fails since 8b8281e (parallel backup): abortable() in
  // src/archiver/archiver.ts: a file dispatched to a worker after the abort leaves an
  // unhandled promise that rejects when the pool is terminated: exit 1, a stack trace,
  // and the writer lock left behind.
  it('exits 130 with one line and no stack, writes no snapshot, and leaves a repository that checks', { timeout: 60_000 }, async () => {
    const src = new SourceTree(join(dir, 'src'), prng(SEED), SEED, { bigFiles: 5, bigMinMiB: 10, bigMaxMiB: 14, smallFiles: 100 });
    await src.create();
    const repo = join(dir, 'repo');
    const env = cairnEnv(repo, join(dir, 'cache'));
    expect((await runCairn(['init'], env)).code).toBe(0);

    const child = spawnCairn(['backup', src.root], env);
    // Interrupt once the backup is surely running: its writer lock exists.
    const deadline = Date.now() + 20_000;
    while ((await lockFiles(repo)).length === 0 && !child.exited && Date.now() < deadline) await sleep(5);
    expect(child.exited, 'the backup finished before it could be interrupted').toBe(false);
    await sleep(100);
    child.kill('SIGINT');
    const r = await child.done;

    const why = `exit ${r.code ?? r.signal}\nstdout: ${r.stdout}\nstderr: ${r.stderr}`;
    expect(r.code, why).toBe(130);
    expect(r.stdout, why).toBe('');
    const lines = r.stderr.split('\n').filter((l) => l.trim() !== '');
    const errors = lines.filter((l) => l.startsWith('cairn: error:'));
    expect(errors, why).toHaveLength(1);
    expect(errors[0], why).toMatch(/\[CANCELLED\]$/);
    expect(r.stderr, why).not.toMatch(/^\s+at /m); // no stack trace
    // Besides the error line only the documented notice, a hint and cairn's own warnings
    // (e.g. no native chunker on this machine) may appear: no Node warnings, no stack.
    for (const l of lines) expect(l, why).toMatch(/^(cairn: error: |cairn: interrupted|cairn: warning: |hint: )/);

    expect(await readdir(join(repo, 'snapshots')).catch(() => [] as string[])).toEqual([]);
    expect(await lockFiles(repo), 'the interrupted backup did not release its lock').toEqual([]);
    await expectCheckPasses(env, 'after SIGINT');
    const again = await runCairn(['--json', 'backup', src.root], env);
    expect(again.code, again.stderr).toBe(0);
  });

  // Bug (src/cli/main.ts, after parseAsync): once the command has finished — snapshot
  // saved, result printed — main() still turns an aborted signal into CANCELLED. A
  // SIGINT that arrives after the snapshot file was written (while the backup releases
  // its lock, stops its workers, prints) gives exit 130 and "the operation was
  // cancelled" although the snapshot exists, and under --json two documents on stdout
  // (the result, then the error). (runBackup itself now honours a cancel right up to
  // saveSnapshot.) docs/errors.md: "An interrupted backup commits nothing".
  it('a SIGINT while the backup commits: the exit code, the output and the snapshot agree', { timeout: 60_000 }, async () => {
    const src = new SourceTree(join(dir, 'src-late'), prng(SEED + 1), SEED + 1, { bigFiles: 3, bigMinMiB: 8, bigMaxMiB: 10, smallFiles: 50 });
    await src.create();
    const outcomes: string[] = [];
    // Two moments: when the index file appears (the last pack is stored, the snapshot
    // not yet), and when the snapshot file appears (committed; the process is still
    // releasing its lock and printing).
    const triggers = ['index', 'snapshots', 'index', 'snapshots'] as const;
    for (const [attempt, sub] of triggers.entries()) {
      const repo = join(dir, `repo-late-${attempt}`);
      const env = cairnEnv(repo, join(dir, `cache-late-${attempt}`));
      expect((await runCairn(['init'], env)).code).toBe(0);
      const child = spawnCairn(['--json', 'backup', src.root], env);
      const sent = await killWhen(child, async () => (await namesIn(repo, sub)).length > 0, 'SIGINT');
      const r = await child.done;
      if (!sent) continue; // finished before the signal: try again
      const snapshots = await namesIn(repo, 'snapshots');
      outcomes.push(`SIGINT when ${sub}/ filled: exit ${r.code}, ${snapshots.length} snapshot(s)`);
      const why = `attempt ${attempt} (SIGINT when ${sub}/ filled): exit ${r.code ?? r.signal}, ${snapshots.length} snapshot(s)\nstdout: ${r.stdout}\nstderr: ${r.stderr}`;
      // Exactly one JSON document on stdout (docs/cli.md, --json).
      expect(() => JSON.parse(r.stdout), why).not.toThrow();
      // Cancelled means nothing committed; a committed snapshot means success.
      if (r.code === 130) expect(snapshots, why).toEqual([]);
      else {
        expect(r.code, why).toBe(0);
        expect(snapshots, why).toHaveLength(1);
      }
      expect(await lockFiles(repo), why).toEqual([]);
      await expectCheckPasses(env, `attempt ${attempt}`);
    }
    expect(outcomes.length, 'the SIGINT never arrived in time').toBeGreaterThan(0);
    console.log(`late SIGINT: ${outcomes.join('; ')}`);
  });

  // Bug (src/cli/main.ts): the second signal called process.exit(), which joins libuv's
  // thread pool; a thread blocked in a read that never returns (here a FIFO nobody
  // writes to; in life a hung NFS mount) kept the process alive through any number of
  // SIGINTs and SIGTERMs: only SIGKILL ended it. docs/cli.md: "A second Ctrl-C exits at once."
  it.each([
    ['with the native addon: exit 130', {}],
    ['without it (CAIRN_NO_NATIVE=1): ended by the signal', { CAIRN_NO_NATIVE: '1' }],
  ])('a second SIGINT ends cairn at once, even while a read is stuck (a FIFO password file nobody writes), %s', { timeout: 30_000 }, async (_, extra) => {
    const fifo = join(dir, `password-${Object.keys(extra).length}.fifo`);
    execFileSync('mkfifo', [fifo]);
    const { CAIRN_PASSWORD: _pw, ...env } = cairnEnv(join(dir, 'repo-fifo'), join(dir, 'cache-fifo'));
    const child = spawnCairn(['snapshots', '--password-file', fifo], { ...env, ...extra });
    try {
      await sleep(1_000); // started, and blocked opening the FIFO
      expect(child.exited).toBe(false);
      child.kill('SIGINT');
      await sleep(500);
      expect(child.exited, 'a read that never returns cannot end by itself').toBe(false);
      child.kill('SIGINT');
      const ended = await Promise.race([child.done, sleep(5_000).then(() => null)]);
      expect(ended, 'still running 5 s after the second SIGINT').not.toBeNull();
      const how = `exit ${ended!.code ?? ended!.signal}`;
      if ('CAIRN_NO_NATIVE' in extra) expect(ended!.signal, how).toBe('SIGINT');
      else expect(ended!.code, how).toBe(130);
      expect(ended!.stderr).not.toMatch(/^\s+at /m);
    } finally {
      child.kill('SIGKILL');
    }
  });

  // Bug (src/archiver/archiver.ts, abortable()): every file in flight on a worker adds an
  // 'abort' listener to the one AbortSignal, so any backup with more than ten files
  // outstanding prints Node's "MaxListenersExceededWarning: Possible EventTarget memory
  // leak detected" on stderr. With --json and no terminal, stderr carries only cairn's own warnings.
  it('a backup prints no Node warnings on stderr', { timeout: 60_000 }, async () => {
    const src = new SourceTree(join(dir, 'src-quiet'), prng(SEED + 2), SEED + 2, { bigFiles: 1, bigMinMiB: 1, bigMaxMiB: 2, smallFiles: 200 });
    await src.create();
    const env = cairnEnv(join(dir, 'repo-quiet'), join(dir, 'cache-quiet'));
    expect((await runCairn(['init'], env)).code).toBe(0);
    const r = await runCairn(['--json', 'backup', src.root], env);
    expect(r.code, r.stderr).toBe(0);
    // cairn's own warnings may appear (docs/cli.md, Output); nothing else may.
    for (const l of r.stderr.split('\n').filter((x) => x.trim() !== '')) expect(l, r.stderr).toMatch(/^cairn: warning: /);
  });
});
