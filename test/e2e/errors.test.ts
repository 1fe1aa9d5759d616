import { existsSync, promises as fsp, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ERROR_CODES, type ErrorCode } from '../../src/core/errors/codes.js';
import { systemClock } from '../../src/core/clock.js';
import { systemRandom } from '../../src/core/random.js';
import { openBackend } from '../../src/backend/open-backend.js';
import { Repository } from '../../src/repository/repository.js';
import { RepoLock } from '../../src/repository/lock.js';
import { ROOT, killAllCairns, runCairn, spawnCairn, type CairnRun } from '../helpers/cli.js';
import { pseudoRandom } from '../helpers/data.js';
import { closedPort } from '../helpers/s3rver.js';
import { pgUnavailable, startPgCluster } from '../helpers/pg-cluster.js';
import {
  MiB,
  NOBODY,
  cliFor,
  expectOk,
  freshRepo,
  mountTmpfs,
  nobodyCanRunCli,
  remount,
  requireBuild,
  runCairnAs,
  scratchDir,
  tempFilesBelow,
  unmount,
  waitUntilReading,
  withEnv,
  type Cli,
} from './support.js';

/**
 * "Every error produces its documented exit code and one-line message, never a stack
 * trace." Each case drives the built CLI into one error and checks, for the plain and
 * the --json form of the command:
 *   - the exit code is the one docs/errors.md gives the code (and codes.ts agrees);
 *   - stderr is exactly `cairn: error: <message> [CODE]` plus at most one `hint:` line,
 *     with no stack frame;
 *   - with --json, stdout is one JSON object {error: {code, message, exitCode, ...}} and
 *     the stderr line carries the same message.
 */

const DOC = readFileSync(join(ROOT, 'docs/errors.md'), 'utf8');
const DOC_EXIT = new Map<string, number>(
  [...DOC.matchAll(/^\|\s*`([A-Z_]+)`\s*\|\s*(\d+)\s*\|/gm)].map((m) => [m[1]!, Number(m[2])]),
);

/**
 * Codes no CLI invocation can produce today, with the reason. Every other code in
 * ERROR_CODES must have an expectError/expectCliError case in this file (checked by
 * the last test, so a new code cannot slip by unnoticed).
 */
const NOT_REACHABLE_FROM_CLI: Partial<Record<ErrorCode, string>> = {
  INTERNAL: 'only a bug produces it (with a stack trace); a case that reaches it has found one',
  // Being built in issue #4; each gets a real case with its feature.
};

const STACK_FRAME = /^\s+at /m;

interface ErrorShape {
  /** stdout of the plain form: '' (default) or anything (e.g. check prints its report there). */
  stdout?: 'empty' | 'any';
  /** The --json stdout: the error object (default), or the command's own result document (check, backup). */
  jsonStdout?: 'error' | 'result';
  /** "error" (default) or "warning" (exit-3 SOURCE_PARTIAL is reported as a warning). */
  level?: 'error' | 'warning';
  /** Lines allowed before the error line (per-file warnings, the interrupt notice). */
  before?: RegExp;
}

const exercised = new Set<string>();

/** The documented exit code of `code`, from docs/errors.md, cross-checked with codes.ts. */
function documentedExit(code: ErrorCode): number {
  const doc = DOC_EXIT.get(code);
  expect(doc, `${code} is not in the table of docs/errors.md`).toBeDefined();
  expect(ERROR_CODES[code].exitCode, `codes.ts and docs/errors.md disagree on ${code}`).toBe(doc);
  return doc!;
}

function show(r: CairnRun): string {
  return `exit ${r.code ?? r.signal}\n--- stdout\n${r.stdout}\n--- stderr\n${r.stderr}`;
}

/** Checks one finished run against the error contract. Returns the error line's message. */
function expectError(code: ErrorCode, r: CairnRun, json: boolean, shape: ErrorShape = {}): string {
  exercised.add(code);
  const exit = documentedExit(code);
  expect(r.code, `expected ${code} (exit ${exit})\n${show(r)}`).toBe(exit);
  expect(r.stderr, `stack trace printed for ${code}\n${show(r)}`).not.toMatch(STACK_FRAME);
  expect(r.stderr.endsWith('\n'), show(r)).toBe(true);

  let lines = r.stderr.slice(0, -1).split('\n');
  if (shape.before) {
    const first = lines.findIndex((l) => l.startsWith(`cairn: ${shape.level ?? 'error'}: `) && l.endsWith(`[${code}]`));
    for (const l of lines.slice(0, Math.max(first, 0))) expect(l, show(r)).toMatch(shape.before);
    lines = lines.slice(Math.max(first, 0));
  }
  const head = new RegExp(`^cairn: ${shape.level ?? 'error'}: (\\S.*) \\[${code}\\]$`);
  expect(lines[0], show(r)).toMatch(head);
  expect(lines.length, `more than one error line plus one hint line\n${show(r)}`).toBeLessThanOrEqual(2);
  if (lines.length === 2) expect(lines[1], show(r)).toMatch(/^hint: \S/);
  const message = head.exec(lines[0]!)![1]!;

  if (!json) {
    if ((shape.stdout ?? 'empty') === 'empty') expect(r.stdout, show(r)).toBe('');
    return message;
  }
  // --json: exactly one JSON document on stdout.
  expect(r.stdout.endsWith('\n') && r.stdout.indexOf('\n') === r.stdout.length - 1, `not one JSON line\n${show(r)}`).toBe(true);
  const doc = JSON.parse(r.stdout) as Record<string, unknown>;
  if ((shape.jsonStdout ?? 'error') === 'error') {
    expect(Object.keys(doc)).toEqual(['error']);
    const e = doc.error as Record<string, unknown>;
    expect(e).toMatchObject({ code, exitCode: exit });
    expect(typeof e.message).toBe('string');
    expect(lines[0]).toBe(`cairn: error: ${e.message as string} [${code}]`);
    if (lines.length === 2) expect(lines[1]).toBe(`hint: ${e.hint as string}`);
    else expect(e.hint).toBeUndefined();
  } else {
    expect(doc).not.toHaveProperty('error');
  }
  return message;
}

/** Runs `cairn ...args` plain and with --json (concurrently) and checks both. Returns [plain, json] runs. */
async function expectCliError(
  code: ErrorCode,
  args: string[],
  env: Record<string, string>,
  shape: ErrorShape = {},
): Promise<[CairnRun, CairnRun]> {
  const [plain, json] = await Promise.all([runCairn(args, env), runCairn(['--json', ...args], env)]);
  expectError(code, plain, false, shape);
  expectError(code, json, true, shape);
  return [plain, json];
}

// ---- fixtures ---------------------------------------------------------------------

let base: Cli; // a repository with one snapshot of `src`
let src: string;
let work: string; // scratch space for copies

beforeAll(async () => {
  requireBuild();
  base = await freshRepo('errors');
  src = join(base.dir, 'src');
  await fsp.mkdir(join(src, 'sub'), { recursive: true });
  await fsp.writeFile(join(src, 'big.bin'), pseudoRandom(11, 3 * MiB));
  await fsp.writeFile(join(src, 'sub', 'note.txt'), 'hello\n');
  expectOk(await base.run(['backup', src]));
  work = await scratchDir('errors-work');
});

afterAll(async () => {
  killAllCairns();
  await fsp.rm(base.dir, { recursive: true, force: true });
  await fsp.rm(work, { recursive: true, force: true });
});

/**
 * `restore latest` plain, then with --json, each into a target of its own (a restore
 * removes a damaged file it wrote; another restore writing the same file would then
 * fail on it). Each file not restored is named on a warning line before the error.
 */
async function expectRestoreError(code: ErrorCode, c: Cli): Promise<CairnRun> {
  const plain = await runCairn(['restore', 'latest', '--target', join(c.dir, 'restore')], c.env);
  expectError(code, plain, false, { before: /^cairn: warning: not restored: \/\S+: / });
  const json = await runCairn(['--json', 'restore', 'latest', '--target', join(c.dir, 'restore-json')], c.env);
  expectError(code, json, true, { before: /^cairn: warning: not restored: \/\S+: / });
  return plain;
}

/** A copy of the base repository (for cases that damage it), with its own cache. */
async function copyOfBase(name: string): Promise<Cli> {
  const dir = join(work, name);
  await fsp.mkdir(dir, { recursive: true });
  await fsp.cp(base.repo, join(dir, 'repo'), { recursive: true });
  return cliFor(dir);
}

async function packFiles(repo: string): Promise<string[]> {
  const out: string[] = [];
  for (const sub of await fsp.readdir(join(repo, 'data'))) {
    for (const f of await fsp.readdir(join(repo, 'data', sub))) out.push(join(repo, 'data', sub, f));
  }
  return out;
}

/** The biggest pack (the one holding big.bin's data). */
async function biggestPack(repo: string): Promise<{ path: string; id: string; size: number }> {
  let best = { path: '', id: '', size: -1 };
  for (const p of await packFiles(repo)) {
    const { size } = await fsp.stat(p);
    if (size > best.size) best = { path: p, id: p.slice(p.lastIndexOf('/') + 1), size };
  }
  return best;
}

// ---- passwords --------------------------------------------------------------------

describe('passwords', () => {
  it('wrong password → WRONG_PASSWORD (12)', async () => {
    await expectCliError('WRONG_PASSWORD', ['snapshots'], withEnv(base.env, { CAIRN_PASSWORD: 'not the password' }));
  });

  it('no password and no terminal → NO_PASSWORD (12)', async () => {
    await expectCliError('NO_PASSWORD', ['snapshots'], withEnv(base.env, { CAIRN_PASSWORD: undefined }));
  });

  it('an empty CAIRN_PASSWORD counts as unset → NO_PASSWORD', async () => {
    await expectCliError('NO_PASSWORD', ['snapshots'], withEnv(base.env, { CAIRN_PASSWORD: '' }));
  });

  it('a missing password file → SOURCE_NOT_FOUND (15)', async () => {
    await expectCliError('SOURCE_NOT_FOUND', ['snapshots', '--password-file', join(work, 'no-such-file')], base.env);
  });

  it('an empty password file → CONFIG_INVALID (2)', async () => {
    const f = join(work, 'empty-password');
    await fsp.writeFile(f, '');
    await expectCliError('CONFIG_INVALID', ['snapshots', '--password-file', f], base.env);
  });
});

// ---- the repository location --------------------------------------------------------

describe('repository location and config', () => {
  it('no repository at the path → REPO_NOT_FOUND (10)', async () => {
    await expectCliError('REPO_NOT_FOUND', ['snapshots'], withEnv(base.env, { CAIRN_REPO: join(work, 'nothing-here') }));
  });

  it('an empty directory is no repository → REPO_NOT_FOUND', async () => {
    const empty = join(work, 'empty-dir');
    await fsp.mkdir(empty, { recursive: true });
    await expectCliError('REPO_NOT_FOUND', ['snapshots'], withEnv(base.env, { CAIRN_REPO: empty }));
  });

  it('init on an existing repository → REPO_EXISTS (10), and the repository is untouched', async () => {
    const before = await fsp.readFile(join(base.repo, 'config'));
    await expectCliError('REPO_EXISTS', ['init'], base.env);
    expect((await fsp.readFile(join(base.repo, 'config'))).equals(before)).toBe(true);
    expect(await fsp.readdir(join(base.repo, 'keys'))).toHaveLength(1);
  });

  it('a config file replaced by garbage → REPO_CORRUPT (20), one clear line', async () => {
    const c = await copyOfBase('garbage-config');
    await fsp.writeFile(join(c.repo, 'config'), Buffer.from('\x00\x01garbage, not json\xff'));
    const [plain] = await expectCliError('REPO_CORRUPT', ['snapshots'], c.env);
    expect(plain.stderr).toMatch(/config/);
  });

  it('a config with format version 99 → REPO_VERSION (13)', async () => {
    const c = await copyOfBase('future-config');
    const config = JSON.parse(await fsp.readFile(join(c.repo, 'config'), 'utf8'));
    await fsp.writeFile(join(c.repo, 'config'), JSON.stringify({ ...config, version: 99 }));
    const [plain] = await expectCliError('REPO_VERSION', ['snapshots'], c.env);
    expect(plain.stderr).toContain('99');
  });

  it('no --repo and no CAIRN_REPO → USAGE (2)', async () => {
    await expectCliError('USAGE', ['snapshots'], withEnv(base.env, { CAIRN_REPO: undefined }));
  });

  it('an unsupported URL scheme → USAGE, never a local folder named "sftp:"', async () => {
    await expectCliError('USAGE', ['snapshots'], withEnv(base.env, { CAIRN_REPO: 'sftp://host/path' }));
  });

  it('an s3:// repository whose endpoint refuses connections → BACKEND_UNAVAILABLE (43)', async () => {
    const port = await closedPort();
    const [plain] = await expectCliError(
      'BACKEND_UNAVAILABLE',
      ['snapshots'],
      withEnv(base.env, {
        CAIRN_REPO: `s3://bucket/repo?endpoint=http://127.0.0.1:${port}`,
        AWS_ACCESS_KEY_ID: 'test',
        AWS_SECRET_ACCESS_KEY: 'test',
        AWS_EC2_METADATA_DISABLED: 'true',
        // One try: the engine otherwise retries BACKEND_UNAVAILABLE with backoff.
        CAIRN_RETRY_ATTEMPTS: '1',
      }),
    );
    expect(plain.stderr).toMatch(/ECONNREFUSED/);
  });
});

// ---- command line -----------------------------------------------------------------

describe('command line (USAGE, exit 2)', () => {
  const cases: Array<[string, string[]]> = [
    ['unknown command', ['snapshot']],
    ['unknown flag', ['snapshots', '--bogus']],
    ['missing argument', ['diff', 'abc']],
    ['missing path to back up', ['backup']],
    ['bad number for --keep-last', ['forget', '--keep-last', 'abc']],
    ['fractional --keep-daily', ['forget', '--keep-daily', '1.5']],
    ['forget with no rule and no id', ['forget']],
    ['--quiet with --verbose', ['--quiet', '--verbose', 'snapshots']],
    ['restore without --target', ['restore', 'latest']],
    ['restore with both a snapshot and --at', ['restore', 'latest', '--at', '2026-01-01T00:00:00Z', '--target', '/nonexistent/target']],
    ['an --at that is not a time', ['restore', '--at', 'yesterday-ish', '--target', '/nonexistent/target']],
    ['--read-data-subset 150%', ['check', '--read-data-subset', '150%']],
    ['--mode that does not exist', ['backup', '--mode', 'sideways', '/nonexistent/source']],
    ['no command at all', []],
    ['missing key subcommand', ['key']],
    ['unknown key subcommand', ['key', 'bogus']],
    ['--exclude for a redis source', ['backup', 'redis://127.0.0.1:1', '--exclude', '*.tmp']],
    ['--mode for a redis source', ['backup', 'redis://127.0.0.1:1', '--mode', 'full']],
    ['--one-file-system for a mariadb source', ['backup', 'mariadb://root@127.0.0.1:1/', '--one-file-system']],
    ['--parent for a mariadb source', ['backup', 'mariadb://root@127.0.0.1:1/', '--parent', 'abc']],
    ['--logical for a mariadb source', ['backup', 'mariadb://root@127.0.0.1:1/', '--logical']],
    ['--slot for a mariadb stream', ['stream', 'mariadb://root@127.0.0.1:1/', '--slot', 's']],
    ['--huge --keep-within', ['forget', '--keep-within', '99999999999999999999999d']],
    ['--gc-delay past a million years', ['prune', '--gc-delay', '99999999999999y']],
  ];
  it.each(cases)('%s', async (_name, args) => {
    await expectCliError('USAGE', args, base.env);
  });

  it('cat file has no --json form → USAGE', async () => {
    const r = await runCairn(['--json', 'cat', 'file', `latest:${src}/sub/note.txt`], base.env);
    expectError('USAGE', r, true);
  });
});

// ---- snapshots, paths, keys ------------------------------------------------------------

describe('things named on the command line', () => {
  it('unknown snapshot id → SNAPSHOT_NOT_FOUND (14)', async () => {
    await expectCliError('SNAPSHOT_NOT_FOUND', ['restore', 'deadbeef', '--target', join(work, 'nf')], base.env);
    await expectCliError('SNAPSHOT_NOT_FOUND', ['ls', '0000000000'], base.env);
    await expectCliError('SNAPSHOT_NOT_FOUND', ['cat', 'snapshot', 'not-hex'], base.env);
  });

  it('--at before the first snapshot → SNAPSHOT_NOT_FOUND', async () => {
    await expectCliError('SNAPSHOT_NOT_FOUND', ['restore', '--at', '2000-01-01T00:00:00Z', '--target', join(work, 'at')], base.env);
  });

  it('latest with filters that match nothing → SNAPSHOT_NOT_FOUND', async () => {
    await expectCliError('SNAPSHOT_NOT_FOUND', ['restore', 'latest', '--host', 'no-such-host', '--target', join(work, 'h')], base.env);
  });

  it('--mode differential without a full snapshot → SNAPSHOT_NOT_FOUND with a hint', async () => {
    const c = await freshRepo('nofull');
    const [plain] = await expectCliError('SNAPSHOT_NOT_FOUND', ['backup', '--mode', 'differential', src], c.env);
    expect(plain.stderr).toMatch(/^hint: .*full/m);
    expect(await c.json(['snapshots'])).toEqual([]);
    await fsp.rm(c.dir, { recursive: true, force: true });
  });

  it('an id prefix shared by two snapshots → SNAPSHOT_AMBIGUOUS (14)', async () => {
    // With 17 snapshots two must share their first hex digit; usually 5 or 6 suffice.
    const c = await copyOfBase('ambiguous');
    let shared: string | undefined;
    for (let i = 0; i < 17 && !shared; i++) {
      expectOk(await c.run(['backup', '--tag', `n${i}`, join(src, 'sub')]));
      const ids = (await c.json<Array<{ id: string }>>(['snapshots'])).map((s) => s.id[0]!);
      shared = ids.find((d, j) => ids.indexOf(d) !== j);
    }
    expect(shared).toBeDefined();
    const [, json] = await expectCliError('SNAPSHOT_AMBIGUOUS', ['ls', shared!], c.env);
    expect(JSON.parse(json.stdout).error.details.matches.length).toBeGreaterThanOrEqual(2);
  });

  it('a path not in the snapshot → PATH_NOT_FOUND (14)', async () => {
    await expectCliError('PATH_NOT_FOUND', ['restore', 'latest', '--include', '/nope', '--target', join(work, 'nope')], base.env);
    await expectCliError('PATH_NOT_FOUND', ['ls', 'latest', '/nope'], base.env);
    const r = await runCairn(['cat', 'file', 'latest:/nope'], base.env);
    expectError('PATH_NOT_FOUND', r, false);
  });

  it('a restore target that is a file, or under one → USAGE (2), the file untouched', async () => {
    // Before: mkdir's EEXIST / ENOTDIR came out as INTERNAL with a stack trace.
    const file = join(work, 'target-is-a-file');
    await fsp.writeFile(file, 'keep me\n');
    const [plain] = await expectCliError('USAGE', ['restore', 'latest', '--target', file], base.env);
    expect(plain.stderr).toContain('is not a directory');
    await expectCliError('USAGE', ['restore', 'latest', '--target', join(file, 'below')], base.env);
    expect(await fsp.readFile(file, 'utf8')).toBe('keep me\n');
  });

  it('a restore target whose paths grow past PATH_MAX → IO_ERROR (42), each refused entry named', async () => {
    // The target itself fits (~4000 bytes); the snapshot's names below it do not
    // (ENAMETOOLONG while creating them): before, INTERNAL with a stack trace.
    let deep = join(work, 'deep-target');
    while (deep.length < 3_900) deep = join(deep, 'd'.repeat(200));
    await fsp.mkdir(deep, { recursive: true });
    const [plain, json] = await Promise.all([
      runCairn(['restore', 'latest', '--target', join(deep, 'plain')], base.env),
      runCairn(['--json', 'restore', 'latest', '--target', join(deep, 'json')], base.env),
    ]);
    const before = /^cairn: warning: not restored: \/\S+: .*ENAMETOOLONG/;
    expect(expectError('IO_ERROR', plain, false, { before })).toMatch(/^restore incomplete: the target refused 1 entry .*ENAMETOOLONG/);
    expect(plain.stderr).toMatch(before);
    expectError('IO_ERROR', json, true, { before });
    expect(JSON.parse(json.stdout).error.details.refused).toHaveLength(1);
  });

  it('backup of a nonexistent source → SOURCE_NOT_FOUND (15), no snapshot written', async () => {
    const before = (await base.json<unknown[]>(['snapshots'])).length;
    await expectCliError('SOURCE_NOT_FOUND', ['backup', join(work, 'no-such-source')], base.env);
    expect(await base.json<unknown[]>(['snapshots'])).toHaveLength(before);
  });

  it('backup of a source whose name is too long → IO_ERROR (42), not PERMISSION_DENIED', async () => {
    const [plain] = await expectCliError('IO_ERROR', ['backup', join(work, 'n'.repeat(300))], base.env);
    expect(plain.stderr).toContain('ENAMETOOLONG');
  });

  it('a missing exclude file → SOURCE_NOT_FOUND; an invalid exclude pattern → CONFIG_INVALID (2)', async () => {
    await expectCliError('SOURCE_NOT_FOUND', ['backup', '--exclude-file', join(work, 'no-such-excludes'), src], base.env);
    await expectCliError('CONFIG_INVALID', ['backup', '--exclude', 'unclosed[', src], base.env);
  });

  it('cat index of an unknown id → INDEX_NOT_FOUND (14); a name that is no id → USAGE; a prefix works', async () => {
    // Before: BackendNotFoundError as INTERNAL with a stack, and `../config` reached the
    // backend as a path ("invalid backend name", INTERNAL).
    await expectCliError('INDEX_NOT_FOUND', ['cat', 'index', 'ffffffff'], base.env);
    await expectCliError('USAGE', ['cat', 'index', '../config'], base.env);
    const [id] = await fsp.readdir(join(base.repo, 'index'));
    const doc = await base.json<Record<string, unknown>>(['cat', 'index', id!.slice(0, 10)]);
    expect(doc).toBeTypeOf('object');
  });

  it('a repository config that is JSON but no object → REPO_CORRUPT (20)', async () => {
    // Before: `null` gave "TypeError: Cannot read properties of null" as INTERNAL.
    const c = await copyOfBase('config-null');
    await fsp.writeFile(join(c.repo, 'config'), 'null\n');
    await expectCliError('REPO_CORRUPT', ['snapshots'], c.env);
  });

  it('a --cache-dir that is a file → IO_ERROR (42) naming the cache, the repository untouched', async () => {
    // Before: mkdir's ENOTDIR as INTERNAL with a stack, from every command.
    const file = join(work, 'cache-is-a-file');
    await fsp.writeFile(file, 'x');
    const [plain] = await expectCliError('IO_ERROR', ['--cache-dir', file, 'snapshots'], base.env);
    expect(plain.stderr).toContain('index cache');
    await expectCliError('IO_ERROR', ['--cache-dir', join(file, 'sub'), 'backup', join(src, 'sub')], base.env);
  });

  it('wal-push of a directory → USAGE; of a path under a file → USAGE; of nothing → SOURCE_NOT_FOUND', async () => {
    // Before: EISDIR / ENOTDIR as INTERNAL with a stack.
    const [plain] = await expectCliError('USAGE', ['wal-push', work, '--name', 'pg'], base.env);
    expect(plain.stderr).toContain('EISDIR');
    const file = join(work, 'not-a-dir');
    await fsp.writeFile(file, 'x');
    await expectCliError('USAGE', ['wal-push', join(file, '000000010000000000000001'), '--name', 'pg'], base.env);
    await expectCliError('SOURCE_NOT_FOUND', ['wal-push', join(work, '000000010000000000000001'), '--name', 'pg'], base.env);
  });

  it('key remove of an unknown id → KEY_NOT_FOUND (14)', async () => {
    await expectCliError('KEY_NOT_FOUND', ['key', 'remove', 'ffffffff'], base.env);
  });

  it('key remove of the last (current) key → LAST_KEY (2), and the key stays', async () => {
    const keys = await base.json<Array<{ id: string; current: boolean }>>(['key', 'list']);
    expect(keys).toHaveLength(1);
    await expectCliError('LAST_KEY', ['key', 'remove', keys[0]!.id], base.env);
    expect(await base.json(['key', 'list'])).toEqual(keys);
  });
});

// ---- append-only keys ---------------------------------------------------------------------

describe('append-only keys (exit 16)', () => {
  it('forget, prune and key remove with an append-only password → APPEND_ONLY, nothing removed', async () => {
    const c = await copyOfBase('append-only');
    expectOk(await c.run(['key', 'add', '--append-only'], { CAIRN_NEW_PASSWORD: 'append-only password' }));
    const host = withEnv(c.env, { CAIRN_PASSWORD: 'append-only password' });
    const snaps = await c.json<Array<{ id: string }>>(['snapshots']);
    const keys = await c.json<Array<{ id: string; role: string }>>(['key', 'list']);
    const full = keys.find((k) => k.role === 'full')!;
    const [plain] = await expectCliError('APPEND_ONLY', ['forget', snaps[0]!.id], host);
    expect(plain.stderr).toMatch(/^cairn: error: forget is refused/);
    await expectCliError('APPEND_ONLY', ['prune'], host);
    await expectCliError('APPEND_ONLY', ['key', 'remove', full.id], host);
    expect(await c.json(['snapshots'])).toEqual(snaps);
    expect(await c.json(['key', 'list'])).toEqual(keys);
  });
});

// ---- mirrors ------------------------------------------------------------------------------

describe('mirrors', () => {
  it('backup --mirror naming a repository with other keys → MIRROR_MISMATCH (2), nothing written', async () => {
    const c = await copyOfBase('mirror-mismatch');
    const other = cliFor(join(work, 'mirror-mismatch-other'));
    expectOk(await other.run(['init']));
    const before = await c.json<Array<{ id: string }>>(['snapshots']);
    const [plain] = await expectCliError('MIRROR_MISMATCH', ['backup', src, '--mirror', other.repo], c.env);
    expect(plain.stderr).toContain(`${other.repo} does not share the primary's keys`);
    expect(await c.json(['snapshots'])).toEqual(before);
    expect(await other.json(['snapshots'])).toEqual([]);
  });

  it('backup with a mirror that cannot be reached → MIRROR_FAILED (5) naming it; primary and healthy mirror saved', async () => {
    const c = await copyOfBase('mirror-failed');
    const healthy = join(c.dir, 'mirror-ok');
    expectOk(await c.run(['--repo', healthy, 'init', '--mirror-of', c.repo]));
    const blocker = join(c.dir, 'a-file');
    await fsp.writeFile(blocker, 'not a directory\n');
    const down = join(blocker, 'mirror'); // below a regular file: never reachable
    const args = ['backup', src, '--mirror', healthy, '--mirror', down];
    const [plain, json] = await expectCliError('MIRROR_FAILED', args, c.env, { stdout: 'any', jsonStdout: 'result' });
    expect(plain.stderr).toContain(`${down}: REPO_NOT_FOUND`);
    expect(plain.stdout).toContain(`mirror ${healthy}: ok`);
    expect(plain.stdout).toContain(`mirror ${down}: FAILED: `);
    const doc = JSON.parse(json.stdout);
    expect(doc.mirrors).toEqual([
      expect.objectContaining({ location: healthy, ok: true }),
      expect.objectContaining({ location: down, ok: false, error: expect.objectContaining({ code: 'REPO_NOT_FOUND' }) }),
    ]);
    const inMirror = await c.json<Array<{ id: string }>>(['--repo', healthy, 'snapshots']);
    expect(inMirror.map((s) => s.id)).toContain(doc.snapshot.id);
  });
});

// ---- repository damage --------------------------------------------------------------------

describe('repository damage (exit 20)', () => {
  it('a flipped byte in a pack: restore → PACK_CORRUPT, check --read-data → CHECK_FAILED naming the pack', async () => {
    const c = await copyOfBase('flipped');
    const pack = await biggestPack(c.repo);
    const bytes = await fsp.readFile(pack.path);
    bytes[Math.floor(bytes.length / 2)]! ^= 0x01;
    await fsp.writeFile(pack.path, bytes);

    // Everything else is restored first; each file that is not is named on a warning line.
    const restored = await expectRestoreError('PACK_CORRUPT', c);
    expect(restored.stderr).toMatch(/^cairn: warning: not restored: /);

    const [plain, json] = await expectCliError('CHECK_FAILED', ['check', '--read-data'], c.env, { stdout: 'any', jsonStdout: 'result' });
    expect(plain.stdout).toContain(pack.id);
    const report = JSON.parse(json.stdout);
    expect(report.ok).toBe(false);
    expect(report.damagedPacks).toContain(pack.id);
    // The damaged pack holds big.bin's data (and, in so small a repository, the trees too: then "/").
    const paths: string[] = report.affected.flatMap((a: { paths: string[] }) => a.paths);
    expect(paths.some((p) => p === '/' || p.endsWith('/big.bin')), paths.join(', ')).toBe(true);
  });

  it('a deleted pack: restore → BLOB_MISSING, check → CHECK_FAILED naming the pack', async () => {
    const c = await copyOfBase('deleted');
    const pack = await biggestPack(c.repo);
    await fsp.rm(pack.path);

    await expectRestoreError('BLOB_MISSING', c);
    // repair packs needs a pack that is there.
    await expectCliError('PACK_NOT_FOUND', ['repair', 'packs', '--dry-run', pack.id], c.env);
    const [plain, json] = await expectCliError('CHECK_FAILED', ['check'], c.env, { stdout: 'any', jsonStdout: 'result' });
    expect(plain.stdout).toContain(pack.id);
    expect(JSON.parse(json.stdout).damagedPacks).toContain(pack.id);
  });
});

// ---- locks --------------------------------------------------------------------------------

describe('locks', () => {
  it('prune while another process holds the maintenance lock → REPO_LOCKED (11)', async () => {
    const c = await copyOfBase('locked');
    // The lock holder is this test process: alive, on this host, so the lock is live.
    const repo = await Repository.open(openBackend(c.repo), c.env.CAIRN_PASSWORD!, {
      clock: systemClock,
      random: systemRandom,
      cacheDir: join(c.dir, 'holder-cache'),
    });
    const lock = await RepoLock.acquire(repo, 'maintenance');
    try {
      const [, json] = await expectCliError('REPO_LOCKED', ['prune'], c.env);
      expect(JSON.parse(json.stdout).error.details).toMatchObject({ pid: process.pid, kind: 'maintenance' });
      // A backup never waits for prune.
      expectOk(await c.run(['backup', join(src, 'sub')]));
    } finally {
      await lock.release();
      await repo.close();
    }
    expectOk(await c.run(['prune']));
  });
});

// ---- the environment: permissions, disk full, I/O errors, cancel -----------------------------

describe('the environment', () => {
  it('repository dir owned by root, mode 700, cairn run as nobody → PERMISSION_DENIED (40)', async (ctx) => {
    const why = nobodyCanRunCli();
    if (why) return ctx.skip(why);
    const c = await copyOfBase('perm');
    await fsp.chmod(c.repo, 0o700);
    await fsp.mkdir(c.cache, { recursive: true });
    await fsp.chown(c.cache, NOBODY.uid, NOBODY.gid);
    for (const json of [false, true]) {
      const r = await runCairnAs(NOBODY, [...(json ? ['--json'] : []), 'snapshots'], c.env);
      expectError('PERMISSION_DENIED', r, json);
    }
    // A password file nobody cannot read.
    const pw = join(c.dir, 'password');
    await fsp.writeFile(pw, 'e2e password\n', { mode: 0o600 });
    await fsp.chmod(c.repo, 0o755);
    const r = await runCairnAs(NOBODY, ['snapshots', '--password-file', pw], withEnv(c.env, { CAIRN_PASSWORD: undefined }));
    expectError('PERMISSION_DENIED', r, false);
  });

  it('an unreadable source file (as nobody) → SOURCE_PARTIAL (3) as a warning, snapshot saved', async (ctx) => {
    const why = nobodyCanRunCli();
    if (why) return ctx.skip(why);
    const dir = join(work, 'partial');
    const c = cliFor(dir);
    const tree = join(dir, 'tree');
    await fsp.mkdir(tree, { recursive: true });
    await fsp.writeFile(join(tree, 'readable'), 'ok\n');
    await fsp.writeFile(join(tree, 'secret'), 'no\n', { mode: 0o000 });
    for (const p of [dir, tree, join(tree, 'readable')]) await fsp.chown(p, NOBODY.uid, NOBODY.gid);
    expectOk(await runCairnAs(NOBODY, ['init'], c.env));
    for (const json of [false, true]) {
      const r = await runCairnAs(NOBODY, [...(json ? ['--json'] : []), 'backup', tree], c.env);
      expectError('SOURCE_PARTIAL', r, json, {
        level: 'warning',
        stdout: 'any',
        jsonStdout: 'result',
        before: /^cairn: warning: .*secret.*\(UNREADABLE\)$/,
      });
      if (json) expect(JSON.parse(r.stdout)).toMatchObject({ partial: true });
    }
  });

  it('disk full while backing up → DISK_FULL (41); the repository stays sound', async (ctx) => {
    const mnt = join(work, 'small-disk');
    await fsp.mkdir(mnt, { recursive: true });
    const why = mountTmpfs(mnt, 2 * MiB);
    if (why) return ctx.skip(why);
    try {
      const c = cliFor(join(work, 'small-disk-cli'), join(mnt, 'repo'));
      await fsp.mkdir(c.dir, { recursive: true });
      await c.json(['init']);
      const big = join(c.dir, 'big');
      await fsp.mkdir(big);
      await fsp.writeFile(join(big, 'ten-mib'), pseudoRandom(41, 10 * MiB));

      await expectCliError('DISK_FULL', ['backup', big], c.env);
      expect(await tempFilesBelow(c.repo)).toEqual([]);
      expect(await fsp.readdir(join(c.repo, 'locks'))).toEqual([]);
      expect(await c.json(['snapshots'])).toEqual([]);
      expectOk(await c.run(['check', '--read-data']));

      // With room again, the same backup goes through.
      remount(mnt, `size=${64 * MiB}`);
      expectOk(await c.run(['backup', big]));
      expectOk(await c.run(['check', '--read-data']));
      expect(await tempFilesBelow(c.repo)).toEqual([]);
    } finally {
      unmount(mnt);
    }
  });

  it('a read-only repository file system → IO_ERROR (42)', async (ctx) => {
    const mnt = join(work, 'ro-disk');
    await fsp.mkdir(mnt, { recursive: true });
    const why = mountTmpfs(mnt, 16 * MiB);
    if (why) return ctx.skip(why);
    try {
      const c = cliFor(join(work, 'ro-disk-cli'), join(mnt, 'repo'));
      await fsp.mkdir(c.dir, { recursive: true });
      await c.json(['init']);
      remount(mnt, 'ro');
      // Reading still works; writing is refused by the OS (EROFS).
      expect(await c.json(['snapshots'])).toEqual([]);
      const [backup] = await expectCliError('IO_ERROR', ['backup', join(src, 'sub')], c.env);
      expect(backup.stderr).toMatch(/read-only file system/);
      // init there, into a new directory at any depth or the mount itself, names the
      // read-only file system: Node's recursive mkdir said ENOENT.
      for (const repo of [join(mnt, 'new'), join(mnt, 'a', 'b', 'c'), mnt]) {
        const [plain] = await expectCliError('IO_ERROR', ['init', '-r', repo], c.env);
        expect(plain.stderr).toMatch(/read-only file system: .* in /);
        expect(plain.stderr).not.toMatch(/ENOENT/);
      }
    } finally {
      unmount(mnt);
    }
  });

  // Big enough that a worker has the file open for a while (~0.5 s warm): the SIGINT
  // test must catch the backup reading it, and with 64 MiB a fast run was sometimes over
  // before the poll saw the file open.
  describe('with a 192 MiB file', () => {
    let c: Cli;
    let bigSrc: string;
    beforeAll(async () => {
      c = await freshRepo('errors-big');
      bigSrc = join(c.dir, 'src');
      await fsp.mkdir(bigSrc);
      await fsp.writeFile(join(bigSrc, 'big.bin'), pseudoRandom(64, 192 * MiB));
      expectOk(await c.run(['backup', bigSrc]));
    });
    afterAll(() => fsp.rm(c.dir, { recursive: true, force: true }));

    it('SIGINT during a backup → CANCELLED (130), nothing committed, lock released', async () => {
      const file = join(bigSrc, 'big.bin');
      const job = spawnCairn(['backup', '--mode', 'full', bigSrc], c.env);
      const reading = await waitUntilReading(job.child.pid!, file, { isDone: () => job.exited });
      expect(reading, 'the backup finished before it could be interrupted').toBe(true);
      job.kill('SIGINT');
      const r = await job.done;
      expectError('CANCELLED', r, false, { before: /^(|cairn: interrupted, cleaning up.*)$/ });
      expect(await c.json(['snapshots'])).toHaveLength(1);
      expect(await fsp.readdir(join(c.repo, 'locks'))).toEqual([]);
    });

    it('restore --verify while another process scribbles into the target → VERIFY_FAILED (21)', async () => {
      const target = join(c.dir, 'restore-verify');
      const file = join(target, bigSrc, 'big.bin');
      const job = spawnCairn(['restore', 'latest', '--target', target, '--verify'], c.env);
      // Scribble until the process exits: restore writes a big file's pieces
      // concurrently, so one early scribble could be overwritten before --verify reads.
      let scribbled = false;
      while (!job.exited) {
        try {
          const st = await fsp.stat(file);
          if (st.size > 0) {
            const fh = await fsp.open(file, 'r+');
            await fh.write(Buffer.alloc(4096, 0xee), 0, 4096, 0);
            await fh.close();
            scribbled = true;
          }
        } catch {
          // not there yet
        }
        await new Promise((r) => setTimeout(r, 1));
      }
      const r = await job.done;
      expect(scribbled, 'the restore finished before the file could be changed').toBe(true);
      expectError('VERIFY_FAILED', r, false, { stdout: 'any', before: /^cairn: warning: restored file differs from the snapshot: .*big\.bin$/ });
      expect(r.stderr).toContain(`${bigSrc}/big.bin`);
    });
  });
});

// ---- PostgreSQL sources (issue #5) ---------------------------------------------------------

describe('postgres sources', () => {
  it('an unreachable server → SOURCE_UNREACHABLE (44)', async () => {
    const port = await closedPort();
    const [plain] = await expectCliError('SOURCE_UNREACHABLE', ['backup', `postgres://cairn@127.0.0.1:${port}/`], base.env);
    expect(plain.stderr).toMatch(/refused|connect/i);
  });

  it('missing PostgreSQL client binaries → SOURCE_CONFIG (45)', async () => {
    const [plain] = await expectCliError('SOURCE_CONFIG', ['backup', 'postgres://cairn@127.0.0.1:5999/'], withEnv(base.env, { CAIRN_PG_BIN: join(work, 'no-pg-bin') }));
    expect(plain.stderr).toContain('CAIRN_PG_BIN');
  });

  /** A repository with a crafted postgres base backup and WAL segments 2, 3 and 5 (4 is missing). */
  async function repoWithWalGap(segments = [2, 3, 5], dirName = 'pg-gap'): Promise<Cli> {
    const c = await copyOfBase(dirName);
    const repo = await Repository.open(openBackend(c.repo), c.env.CAIRN_PASSWORD!, { clock: systemClock, random: systemRandom, cacheDir: ':memory:', threads: 0 });
    const { storeSegments } = await import('../../src/sources/postgres/wal-catalog.js');
    const [snap] = await repo.listSnapshots();
    const seg = (n: number) => `00000001000000000000000${n}`;
    await repo.saveSnapshot({
      ...snap!.body,
      time: '2026-01-01T00:00:00.000Z',
      source: { type: 'postgres', name: 'db1' },
      paths: ['postgres://db1/'],
      sourceMeta: { kind: 'base', systemId: '42', timeline: 1, serverVersion: '15', segmentSize: 16777216, startLsn: '0/2000028', stopLsn: '0/2000100', startSegment: seg(2), stopSegment: seg(2), startTime: '', stopTime: '2026-01-01T00:00:01.000000Z', walIncluded: true },
    });
    for (const n of segments) {
      const t = `2026-01-01T00:0${n}:00.000000Z`;
      await storeSegments(repo, { name: 'db1', systemId: '42', segmentSize: 16777216 }, [{ name: seg(n), partial: false, bytes: Buffer.alloc(1024, n), firstCommit: t, lastCommit: t }]);
    }
    await repo.close();
    return c;
  }

  it('a gap in the WAL chain → WAL_GAP (22) from pitr (after its report) and from a restore past it', async () => {
    const c = await repoWithWalGap();
    const [plain] = await expectCliError('WAL_GAP', ['pitr', 'db1'], c.env, { stdout: 'any', jsonStdout: 'result' });
    expect(plain.stdout).toContain('GAP on timeline 1: 000000010000000000000004');
    await expectCliError('WAL_GAP', ['restore', '--source', 'db1', '--at', '2026-01-01T00:04:30Z', '--target', join(c.dir, 'never')], c.env);
    expect(existsSync(join(c.dir, 'never'))).toBe(false);
  });

  it.skipIf(pgUnavailable() !== null)('a replication slot retaining more WAL than --max-slot-lag → SLOT_LAG (23) from pitr --server, after its report', async () => {
    const c = await repoWithWalGap([2, 3], 'pg-slot'); // no gap: the slot is the only problem
    const pg = await startPgCluster();
    try {
      await pg.sql("SELECT pg_create_physical_replication_slot('held', true)");
      await pg.sql('CREATE TABLE x AS SELECT 1 AS a');
      await pg.sql('SELECT pg_switch_wal()');
      const [plain] = await expectCliError('SLOT_LAG', ['pitr', 'db1', '--server', pg.url, '--max-slot-lag', '1KiB'], c.env, { stdout: 'any', jsonStdout: 'result' });
      expect(plain.stdout).toMatch(/slot held: INACTIVE, retains .* — TOO MUCH/);
      expect(plain.stderr).toContain('replication slot held (');
    } finally {
      await pg.stop();
    }
  });

  it('a time outside every window → TIME_OUT_OF_RANGE (14), nothing written', async () => {
    const c = await repoWithWalGap();
    await expectCliError('TIME_OUT_OF_RANGE', ['restore', '--source', 'db1', '--at', '2025-12-31T23:00:00+01:00', '--target', join(c.dir, 'never')], c.env);
    expect(existsSync(join(c.dir, 'never'))).toBe(false);
  });
});

// ---- MariaDB sources (issue #6) --------------------------------------------------------------

describe('mariadb sources', () => {
  // The machine's shared MariaDB on 3306 has binary logging off (Debian's default); the
  // check only reads @@log_bin, so using it is read-only.
  it.skipIf(!existsSync('/usr/bin/mariadb'))('a server with binary logging off → BINLOG_DISABLED (45) naming the my.cnf lines', async () => {
    const [plain] = await expectCliError('BINLOG_DISABLED', ['backup', 'mariadb://root@127.0.0.1:3306/'], base.env);
    expect(plain.stderr).toContain('log_bin = mysql-bin, server_id = 1, binlog_format = ROW');
  });

  it('an unreachable mariadb server → SOURCE_UNREACHABLE (44)', async () => {
    const port = await closedPort();
    const [plain] = await expectCliError('SOURCE_UNREACHABLE', ['backup', `mariadb://root@127.0.0.1:${port}/`], base.env);
    expect(plain.stderr).toMatch(/connect/i);
  });
});

// ---- nothing slips by -------------------------------------------------------------------

describe('coverage of the code table', () => {
  const self = readFileSync(fileURLToPath(import.meta.url), 'utf8');
  const cased = new Set([...self.matchAll(/expect(?:Cli|Restore)?Error\(\s*'([A-Z_]+)'/g)].map((m) => m[1]!));

  it('every code is either exercised by a case above or listed as not reachable from the CLI', () => {
    const missing = Object.keys(ERROR_CODES).filter((c) => !cased.has(c) && !(c in NOT_REACHABLE_FROM_CLI));
    expect(missing, 'new error codes need a case in test/e2e/errors.test.ts or an entry in NOT_REACHABLE_FROM_CLI').toEqual([]);
  });

  it('the not-reachable list names real codes, none of which has a case', () => {
    for (const code of Object.keys(NOT_REACHABLE_FROM_CLI)) {
      expect(Object.keys(ERROR_CODES)).toContain(code);
      expect(cased.has(code), `${code} has a case; drop it from NOT_REACHABLE_FROM_CLI`).toBe(false);
    }
  });

  it('every code documented in docs/errors.md is in codes.ts and vice versa', () => {
    expect([...DOC_EXIT.keys()].sort()).toEqual(Object.keys(ERROR_CODES).sort());
  });

  it('the cases that ran produced only known codes', () => {
    for (const code of exercised) expect(Object.keys(ERROR_CODES)).toContain(code);
  });
});
