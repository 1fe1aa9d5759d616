import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it, onTestFinished, vi } from 'vitest';
import { CairnError } from '../../src/core/errors/index.js';
import type { CheckResult } from '../../src/engine/types.js';
import { FakeEngine, fakeSnapshot, summary } from './helpers/fake-engine.js';
import { fakeStdin, runCli, Sink } from './helpers/run-cli.js';
import { main } from '../../src/cli/main.js';

beforeAll(() => {
  process.env.TZ = 'UTC';
});

describe('main: errors and exit codes', () => {
  it('unknown flag → one USAGE line, exit 2, nothing on stdout', async () => {
    const r = await runCli(['snapshots', '--bogus'], { engine: new FakeEngine() });
    expect(r.code).toBe(2);
    expect(r.stdout).toBe('');
    expect(r.stderr.split('\n')[0]).toBe("cairn: error: unknown option '--bogus' [USAGE]");
    expect(r.stderr).toContain("hint: run 'cairn snapshots --help'");
    expect(r.stderr).not.toMatch(/\n\s+at /);
  });

  it('unknown command and missing argument → USAGE', async () => {
    const a = await runCli(['snapshot']);
    expect(a.code).toBe(2);
    expect(a.stderr).toMatch(/^cairn: error: unknown command 'snapshot' \[USAGE\]\nhint: did you mean snapshots\?/);
    const b = await runCli(['diff', 'abc']);
    expect(b.code).toBe(2);
    expect(b.stderr).toMatch(/missing required argument/);
    const c = await runCli(['backup', '--mode', 'sometimes', 'x']);
    expect(c.code).toBe(2);
  });

  it('usage errors are JSON on stdout with --json', async () => {
    const r = await runCli(['--json', 'forget', '--keep-last', 'many'], { engine: new FakeEngine() });
    expect(r.code).toBe(2);
    expect(JSON.parse(r.stdout)).toMatchObject({ error: { code: 'USAGE', exitCode: 2 } });
  });

  it('missing --repo → USAGE with a hint', async () => {
    const r = await runCli(['snapshots'], { engine: new FakeEngine(), env: { CAIRN_PASSWORD: 'secret' } });
    expect(r.code).toBe(2);
    expect(r.stderr).toBe('cairn: error: no repository given [USAGE]\nhint: pass --repo PATH or set CAIRN_REPO\n');
  });

  it('known engine errors print one line and exit with their code', async () => {
    const r = await runCli(['snapshots'], { engine: new FakeEngine(), env: { CAIRN_REPO: '/r', CAIRN_PASSWORD: 'nope' } });
    expect(r.code).toBe(12);
    expect(r.stderr).toBe('cairn: error: wrong password: no key slot opens with it [WRONG_PASSWORD]\nhint: check CAIRN_PASSWORD\n');
    const j = await runCli(['snapshots', '--json'], { engine: new FakeEngine(), env: { CAIRN_REPO: '/r', CAIRN_PASSWORD: 'nope' } });
    expect(JSON.parse(j.stdout).error.code).toBe('WRONG_PASSWORD');
  });

  it('unknown errors print the stack and exit 1', async () => {
    const engine = new FakeEngine();
    engine.session.stats = async () => {
      throw new RangeError('kaboom');
    };
    const r = await runCli(['stats'], { engine });
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/^cairn: error: internal error: kaboom \[INTERNAL\]\nRangeError: kaboom\n\s+at /);
    expect(engine.calls.at(-1)?.method).toBe('close');
  });

  it('no password and no terminal → NO_PASSWORD naming the three ways', async () => {
    const r = await runCli(['snapshots'], { engine: new FakeEngine(), env: { CAIRN_REPO: '/r' } });
    expect(r.code).toBe(12);
    expect(r.stderr).toContain('[NO_PASSWORD]');
    expect(r.stderr).toMatch(/hint: .*--password-file.*CAIRN_PASSWORD_FILE.*CAIRN_PASSWORD.*terminal/);
  });

  it('reads the password file relative to cwd, stripping one newline', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'cairn-cli-'));
    onTestFinished(() => rm(dir, { recursive: true, force: true }));
    await writeFile(join(dir, 'pw'), 'secret\n');
    const engine = new FakeEngine();
    const r = await runCli(['--password-file', 'pw', 'snapshots'], { engine, cwd: dir, env: { CAIRN_REPO: '/r', CAIRN_PASSWORD: 'ignored' } });
    expect(r.code).toBe(0);
    expect(engine.argsOf('open')[0]).toMatchObject({ password: 'secret', repo: '/r', cacheDir: '/home/t/.cache/cairn' });
    const missing = await runCli(['--password-file', 'nope', 'snapshots'], { engine, cwd: dir });
    expect(missing.code).toBe(15);
    expect(missing.stderr).toMatch(/password file not found.*\[SOURCE_NOT_FOUND\]/);
    // A directory is named as one, not as "not found".
    const dirAsFile = await runCli(['--password-file', '.', 'snapshots'], { engine, cwd: dir });
    expect(dirAsFile.code).toBe(15);
    expect(dirAsFile.stderr).toContain(`password file ${dir} is a directory [SOURCE_NOT_FOUND]`);
  });

  it('asks on a terminal without echo', async () => {
    const engine = new FakeEngine();
    const r = await runCli(['snapshots', '--json'], { engine, env: { CAIRN_REPO: '/r' }, stdin: fakeStdin({ tty: true, keys: ['secret\r'] }) });
    expect(r.code).toBe(0);
    expect(r.stderr).toBe('enter repository password: \n');
    expect(engine.argsOf('open')[0]).toMatchObject({ password: 'secret' });
  });

  it('an aborted signal ends with CANCELLED, exit 130', async () => {
    const ac = new AbortController();
    const engine = new FakeEngine();
    engine.session.backup = async (opts) => {
      ac.abort();
      expect(opts.signal?.aborted).toBe(true);
      throw new CairnError('CANCELLED', 'backup cancelled; nothing was committed');
    };
    const r = await runCli(['backup', '/x'], { engine, signal: ac.signal });
    expect(r.code).toBe(130);
    expect(r.stderr).toContain('[CANCELLED]');
    expect(engine.calls.at(-1)?.method).toBe('close');
  });

  it('a signal while the output is flushed after the command does not cut it short: the command\'s code, after the flush', async () => {
    // Before: the handlers were removed before flushing stdout, so a SIGINT then took
    // the default action and killed a process whose backup had committed and printed.
    const before = process.listenerCount('SIGINT');
    const stderr = new Sink();
    const codes: number[] = [];
    let flushing: (() => void) | undefined;
    const stdout = Object.assign(new Sink(), {
      write(chunk: string | Uint8Array, cb?: (err?: Error | null) => void): boolean {
        stdout.chunks.push(chunk);
        // The flush (an empty write) completes only when the test lets it.
        if (chunk === '' && cb) flushing = () => cb();
        else cb?.();
        return true;
      },
    });
    // The handler must still be installed while exit runs: process.exit() takes a
    // while (it stops the worker threads) and a SIGINT then would kill the process.
    const listenersAtExit: number[] = [];
    const exit = (c: number): void => {
      listenersAtExit.push(process.listenerCount('SIGINT'));
      codes.push(c);
    };
    const done = main(['node', 'cairn', '--version'], { stdin: fakeStdin(), stdout, stderr, exit });
    await vi.waitFor(() => expect(flushing).toBeDefined());
    expect(process.listenerCount('SIGINT')).toBe(before + 1);
    process.emit('SIGINT', 'SIGINT');
    expect(codes).toEqual([]);
    flushing!();
    await vi.waitFor(() => expect(codes).toEqual([0]));
    await done;
    expect(stderr.text()).toBe('');
    expect(listenersAtExit).toEqual([before + 1]);
    expect(process.listenerCount('SIGINT')).toBe(before);
  });

  it('--help and --version exit 0 and print to stdout', async () => {
    const h = await runCli(['backup', '--help']);
    expect(h.code).toBe(0);
    expect(h.stdout).toContain('Examples:');
    const v = await runCli(['--version']);
    expect(v.code).toBe(0);
    expect(v.stdout).toMatch(/^\d+\.\d+\.\d+/);
  });

  it('with --json, --version and --help print one JSON document (before: the same text as without)', async () => {
    const v = await runCli(['--version', '--json']);
    expect(v.code).toBe(0);
    expect(JSON.parse(v.stdout)).toEqual({ version: expect.stringMatching(/^\d+\.\d+\.\d+/) });
    expect(JSON.parse((await runCli(['--json', '-V'])).stdout)).toEqual(JSON.parse(v.stdout));

    const b = await runCli(['backup', '--help', '--json']);
    expect(b.code).toBe(0);
    expect(b.stdout.trim().split('\n')).toHaveLength(1);
    const doc = JSON.parse(b.stdout);
    expect(doc).toMatchObject({ command: 'backup', usage: 'cairn backup [options] <path...>' });
    expect(doc.arguments).toEqual([expect.objectContaining({ name: 'path', required: true, variadic: true })]);
    expect(doc.options).toContainEqual({ flags: '--exclude <glob>', description: expect.stringContaining('skip paths') });
    // The text is what the terminal shows, examples included.
    expect(doc.text).toBe((await runCli(['backup', '--help'])).stdout);
    expect(doc.text).toContain('Examples:');

    for (const [args, command] of [
      [['help', 'key', 'add', '--json'], 'key add'],
      [['--json', 'key', '--help'], 'key'],
      [['-r', 'backup', '--help', '--json'], ''], // "backup" is the repository here
      [['--repo=x', 'restore', '-h', '--json'], 'restore'],
    ] as const) {
      const r = await runCli([...args]);
      expect(r.code, args.join(' ')).toBe(0);
      expect(JSON.parse(r.stdout).command, args.join(' ')).toBe(command);
    }
    const root = JSON.parse((await runCli(['--help', '--json'])).stdout);
    expect(root.commands.map((c: { name: string }) => c.name)).toEqual(expect.arrayContaining(['backup', 'restore', 'check', 'stream']));
    // After "--" nothing is a flag: a path named --help is backed up, not help.
    expect((await runCli(['backup', '--json', '--', '--help'])).stdout).not.toContain('"usage"');
  });

  it('`cairn help <command>` prints that help and exits 0; a missing command or subcommand is USAGE', async () => {
    // Before: `cairn help backup` printed the help, then "missing subcommand for 'backup'" and exit 2.
    for (const args of [['help', 'backup'], ['help', 'repair', 'snapshots'], ['help']]) {
      const r = await runCli(args);
      expect(r.code, `${args.join(' ')}\n${r.stderr}`).toBe(0);
      expect(r.stderr).toBe('');
      expect(r.stdout).toMatch(/^Usage: cairn/);
    }
    expect((await runCli(['help', 'backup'])).stdout).toContain('Usage: cairn backup');
    for (const args of [['key'], ['repair'], []]) {
      const r = await runCli(args);
      expect(r.code, args.join(' ')).toBe(2);
      expect(r.stderr).toMatch(/^cairn: error: missing (sub)?command.* \[USAGE\]$/m);
    }
  });
});

describe('main: commands against a fake engine', () => {
  it('snapshots: table, and --json array of SnapshotInfo', async () => {
    const engine = new FakeEngine();
    const r = await runCli(['snapshots', '--host', 'db1', '--tag', 'a, b'], { engine });
    expect(r.code).toBe(0);
    expect(r.stdout.split('\n').slice(0, 4)).toEqual([
      'ID        Time                 Host  Mode         Tags     Paths',
      '----------------------------------------------------------------',
      '11111111  2026-01-01 10:00:00  db1   full         nightly  /srv/data',
      '22222222  2026-01-02 10:00:00  db1   incremental           /srv/data',
    ]);
    expect(engine.argsOf('snapshots')[0]).toEqual({ host: ['db1'], tags: ['a,b'] });
    const latest = await runCli(['--json', 'snapshots', '--latest', '1', '--source', 'files'], { engine });
    expect((JSON.parse(latest.stdout) as { shortId: string }[]).map((x) => x.shortId)).toEqual(['22222222']);
    expect(engine.calls.filter((c) => c.method === 'snapshots').at(-1)?.args[0]).toEqual({ source: 'files' });
    for (const bad of ['0', '-1', '1.5', 'x']) expect((await runCli(['snapshots', '--latest', bad], { engine })).code, bad).toBe(2);
    const j = await runCli(['--json', 'snapshots'], { engine: new FakeEngine() });
    const arr = JSON.parse(j.stdout);
    expect(Array.isArray(arr)).toBe(true);
    expect(Object.keys(arr[0])).toEqual(expect.arrayContaining(['id', 'time', 'host', 'source', 'paths', 'tags', 'mode']));
  });

  it('backup: maps flags, prints a summary; partial → exit 3 after the summary', async () => {
    const engine = new FakeEngine();
    const r = await runCli(['backup', 'src', '--tag', 'a,b', '--exclude', '*.o', '--mode', 'full'], { engine });
    expect(r.code).toBe(0);
    expect(engine.argsOf('backup')[0]).toMatchObject({ paths: ['/work/src'], tags: ['a', 'b'], excludes: ['*.o'], mode: 'full' });
    expect(r.stdout).toContain('snapshot 33333333 saved');
    expect(r.stdout).toMatch(/files\s+3 new, 1 changed, 10 unchanged/);
    expect(r.stdout).toMatch(/added\s+2\.0 KiB \(1\.0 KiB stored\)/);
    expect(r.stdout).toMatch(/duration\s+1\.5s/);

    const partial = new FakeEngine();
    partial.session.backup = async (opts) => {
      opts.onWarning?.({ path: '/x/secret', code: 'UNREADABLE', message: 'permission denied' });
      return {
        snapshot: { ...fakeSnapshot(3), summary },
        warnings: [{ path: '/x/secret', code: 'UNREADABLE', message: 'permission denied' }],
        partial: true,
      };
    };
    const p = await runCli(['backup', '/x'], { engine: partial });
    expect(p.code).toBe(3);
    expect(p.stdout).toContain('snapshot 33333333 saved');
    expect(p.stderr).toBe(
      'cairn: warning: /x/secret: permission denied (UNREADABLE)\n' +
        'cairn: warning: 1 source item could not be read; snapshot 33333333 was saved without it [SOURCE_PARTIAL]\n' +
        'hint: see the warnings above: fix permissions, or exclude the paths with --exclude\n',
    );
    const pj = await runCli(['backup', '/x', '--json'], { engine: partial });
    expect(pj.code).toBe(3);
    expect(JSON.parse(pj.stdout)).toMatchObject({ partial: true });
  });

  it('check: prints damaged packs and affected files, then CHECK_FAILED', async () => {
    const engine = new FakeEngine();
    const bad: CheckResult = {
      ok: false,
      packsChecked: 5,
      bytesRead: 1024,
      problems: [{ kind: 'pack', id: 'p'.repeat(64), message: 'authentication failed' }],
      damagedPacks: ['p'.repeat(64)],
      affected: [{ snapshot: '1'.repeat(64), paths: ['/srv/data/a.txt', '/srv/data/b.txt'] }],
      unindexedPacks: ['u'.repeat(64)],
    };
    engine.session.check = async () => bad;
    const r = await runCli(['check', '--read-data-subset', '1/5'], { engine });
    expect(r.code).toBe(20);
    expect(engine.argsOf('open')).toBeDefined();
    expect(r.stdout).toContain('p'.repeat(64));
    expect(r.stdout).toContain('snapshot 11111111:\n    /srv/data/a.txt\n    /srv/data/b.txt');
    expect(r.stderr).toMatch(/^cairn: error: check found 1 problem \(1 damaged pack\) \[CHECK_FAILED\]\n/);
    expect(r.stdout).toContain('1 pack is in the repository but in no index file');
    const j = await runCli(['check', '--json'], { engine });
    expect(j.code).toBe(20);
    expect(JSON.parse(j.stdout)).toEqual(bad);
  });

  it('restore: --at without a snapshot; mismatches → VERIFY_FAILED', async () => {
    const engine = new FakeEngine();
    const r = await runCli(['restore', '--at', '2026-01-03T00:00:00Z', '--target', 'out', '--verify'], { engine });
    expect(r.code).toBe(0);
    expect(engine.argsOf('restore')[0]).toMatchObject({ at: '2026-01-03T00:00:00Z', target: '/work/out', verify: true });
    engine.session.restore = async () => ({
      snapshot: fakeSnapshot(1),
      files: 1,
      dirs: 0,
      bytes: 1,
      warnings: [],
      verified: { files: 1, bytes: 1, mismatches: ['/srv/data/a.txt'] },
    });
    const bad = await runCli(['restore', 'latest', '--target', '/t', '--verify'], { engine });
    expect(bad.code).toBe(21);
    expect(bad.stderr).toContain('restored file differs from the snapshot: /srv/data/a.txt');
    const missing = await runCli(['restore', 'latest'], { engine });
    expect(missing.code).toBe(2);
  });

  it('cat file writes raw bytes; cat config JSON', async () => {
    const r = await runCli(['cat', 'file', 'latest:/a'], { engine: new FakeEngine() });
    expect(r.code).toBe(0);
    expect([...r.stdoutBytes]).toEqual([0, 1, 2, 255]);
    const c = await runCli(['cat', 'config', '--json'], { engine: new FakeEngine() });
    expect(JSON.parse(c.stdout)).toEqual({ kind: 'config', ref: '' });
    const bad = await runCli(['cat', 'blob', 'x'], { engine: new FakeEngine() });
    expect(bad.code).toBe(2);
  });

  it('forget: maps the policy and prints keep/remove with reasons', async () => {
    const engine = new FakeEngine();
    const r = await runCli(['forget', '--keep-last', '1', '--keep-within', '2w', '--dry-run', '--group-by', 'host'], { engine });
    expect(r.code).toBe(0);
    expect(engine.argsOf('forget')[0]).toEqual({
      policy: { keepLast: 1, keepWithin: '14d' },
      groupBy: { host: true, paths: false, tags: false },
      dryRun: true,
    });
    expect(r.stdout).toContain('snapshots of host db1, paths /srv/data:');
    expect(r.stdout).toMatch(/keep 1 snapshot:[\s\S]*Reasons[\s\S]*last snapshot/);
    expect(r.stdout).toContain('would remove 1 snapshot:');
    expect(r.stdout).toContain('dry run: would remove 1 snapshot');
  });

  it('ls, find, diff, stats, key, repair, prune, init produce output and one JSON document', async () => {
    const cases: string[][] = [
      ['ls', 'latest', '-l'],
      ['find', '*.txt'],
      ['diff', 'a', 'b'],
      ['stats', 'latest'],
      ['key', 'list'],
      ['repair', 'index'],
      ['prune', '--dry-run', '--gc-delay', '30min'],
      ['init'],
    ];
    for (const args of cases) {
      const human = await runCli(args, { engine: new FakeEngine() });
      expect(human.code, args.join(' ')).toBe(0);
      expect(human.stdout.length, args.join(' ')).toBeGreaterThan(0);
      const json = await runCli([...args, '--json'], { engine: new FakeEngine() });
      expect(json.code, args.join(' ')).toBe(0);
      expect(() => JSON.parse(json.stdout), args.join(' ')).not.toThrow();
      expect(json.stdout.trim().split('\n'), args.join(' ')).toHaveLength(1);
    }
    const ls = await runCli(['ls', 'latest', '-l'], { engine: new FakeEngine() });
    expect(ls.stdout).toBe(
      '-rw-r--r--  root  root  2.0 KiB  2026-01-01 09:00:00  /srv/data/a.txt\n' +
        'lrwxrwxrwx  0     0              2026-01-01 09:00:00  /srv/data/link -> a.txt\n',
    );
    const find = await runCli(['find', '*.txt', '--json'], { engine: new FakeEngine() });
    expect(JSON.parse(find.stdout)).toHaveLength(2);
  });

  it('key add/passwd take the new password from env or file', async () => {
    const engine = new FakeEngine();
    const r = await runCli(['key', 'add', '--label', 'ops'], {
      engine,
      env: { CAIRN_REPO: '/r', CAIRN_PASSWORD: 'secret', CAIRN_NEW_PASSWORD: 'second' },
    });
    expect(r.code).toBe(0);
    expect(engine.argsOf('addKey')).toEqual(['second', { label: 'ops' }]);
    const none = await runCli(['key', 'passwd'], { engine: new FakeEngine() });
    expect(none.code).toBe(12);
    expect(none.stderr).toMatch(/--new-password-file.*CAIRN_NEW_PASSWORD/);
  });
});
