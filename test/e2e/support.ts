import { spawn, spawnSync } from 'node:child_process';
import { promises as fsp, readFileSync, readdirSync, readlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect } from 'vitest';
import { CAIRN_BIN, CAIRN_BUILT, ROOT, cairnEnv, runCairn, type CairnRun } from '../helpers/cli.js';

/**
 * Shared plumbing for the end-to-end tests: they drive the built `cairn` binary
 * (bin/cairn.js → dist/) exactly as an operator would. Build first: `npm run build`.
 */

export const MiB = 1024 * 1024;
export const NOBODY = { uid: 65534, gid: 65534 };

export function requireBuild(): void {
  if (!CAIRN_BUILT) throw new Error('the e2e tests spawn the built CLI: run `npm run build` first (npm test does it)');
}

/** A scratch directory that every user may enter (the CLI runs as `nobody` in some cases). */
export async function scratchDir(prefix: string): Promise<string> {
  const dir = await fsp.mkdtemp(join(tmpdir(), `cairn-e2e-${prefix}-`));
  await fsp.chmod(dir, 0o755);
  return dir;
}

export interface Cli {
  dir: string;
  repo: string;
  cache: string;
  env: Record<string, string>;
  /** Runs cairn with this repository's environment (plus overrides; undefined removes a variable). */
  run(args: string[], extraEnv?: Record<string, string | undefined>): Promise<CairnRun>;
  /** Runs `cairn --json ...args`, expects exit 0 (or `exit`), returns the parsed stdout. */
  json<T = any>(args: string[], exit?: number): Promise<T>;
}

export function withEnv(base: Record<string, string>, extra: Record<string, string | undefined> = {}): Record<string, string> {
  const env: Record<string, string> = { ...base };
  for (const [k, v] of Object.entries(extra)) {
    if (v === undefined) delete env[k];
    else env[k] = v;
  }
  return env;
}

function describeRun(args: string[], r: CairnRun): string {
  return `cairn ${args.join(' ')} exited ${r.code ?? r.signal}\n--- stdout\n${r.stdout}\n--- stderr\n${r.stderr}`;
}

export function cliFor(dir: string, repo = join(dir, 'repo'), cache = join(dir, 'cache')): Cli {
  const env = cairnEnv(repo, cache, 'e2e password');
  const cli: Cli = {
    dir,
    repo,
    cache,
    env,
    run: (args, extraEnv) => runCairn(args, withEnv(env, extraEnv)),
    async json(args, exit = 0) {
      const r = await runCairn(['--json', ...args], env);
      if (r.code !== exit) throw new Error(describeRun(args, r));
      return JSON.parse(r.stdout);
    },
  };
  return cli;
}

/** A fresh scratch directory with an initialised repository in `<dir>/repo`. */
export async function freshRepo(prefix: string): Promise<Cli> {
  const dir = await scratchDir(prefix);
  const cli = cliFor(dir);
  await cli.json(['init']);
  return cli;
}

/** Asserts exit 0, with the whole output in the failure message. */
export function expectOk(r: CairnRun, args: string[] = []): void {
  if (r.code !== 0) expect.fail(describeRun(args, r));
}

// ---- running as another user ------------------------------------------------------

/** Runs cairn as another user (root bypasses permission checks, so tests drop to nobody). */
export function runCairnAs(
  user: { uid: number; gid: number },
  args: string[],
  env: Record<string, string>,
): Promise<CairnRun> {
  const started = performance.now();
  const child = spawn(process.execPath, [CAIRN_BIN, ...args], {
    env: { ...env, HOME: '/nonexistent' },
    cwd: '/',
    uid: user.uid,
    gid: user.gid,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const out: Buffer[] = [];
  const err: Buffer[] = [];
  child.stdout.on('data', (b: Buffer) => out.push(b));
  child.stderr.on('data', (b: Buffer) => err.push(b));
  return new Promise((resolve, reject) => {
    child.on('error', reject);
    child.on('close', (code, signal) =>
      resolve({
        code,
        signal,
        stdout: Buffer.concat(out).toString('utf8'),
        stderr: Buffer.concat(err).toString('utf8'),
        ms: performance.now() - started,
      }),
    );
  });
}

/** Whether `nobody` can run node and read the checkout (it must, to run the CLI). */
export function nobodyCanRunCli(): string | null {
  const r = spawnSync(process.execPath, ['-e', `require('fs').accessSync(${JSON.stringify(CAIRN_BIN)})`], {
    uid: NOBODY.uid,
    gid: NOBODY.gid,
    cwd: '/',
    encoding: 'utf8',
  });
  if (r.error) return `cannot spawn as nobody: ${r.error.message}`;
  if (r.status !== 0) return `nobody cannot read ${ROOT}: ${r.stderr.split('\n')[0]}`;
  return null;
}

// ---- mounts -------------------------------------------------------------------------

/** Mounts a tmpfs of `size` bytes on dir; returns null, or why it could not. */
export function mountTmpfs(dir: string, size: number): string | null {
  const r = spawnSync('mount', ['-t', 'tmpfs', '-o', `size=${size},mode=0755`, 'tmpfs', dir], { encoding: 'utf8' });
  if (r.error) return `mount not available: ${r.error.message}`;
  if (r.status !== 0) return `mount -t tmpfs failed: ${(r.stderr || r.stdout).trim()}`;
  return null;
}

export function remount(dir: string, options: string): void {
  const r = spawnSync('mount', ['-o', `remount,${options}`, dir], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`mount -o remount,${options} ${dir} failed: ${r.stderr}`);
}

/** Unmounts, lazily if busy; never throws (cleanup). */
export function unmount(dir: string): void {
  const r = spawnSync('umount', [dir], { encoding: 'utf8' });
  if (r.status !== 0) spawnSync('umount', ['-l', dir]);
}

// ---- watching a running process -------------------------------------------------------

/** File position of `path` as opened by process `pid`, or null when it has it not open. */
export function openPosition(pid: number, path: string): number | null {
  let fds: string[];
  try {
    fds = readdirSync(`/proc/${pid}/fd`);
  } catch {
    return null;
  }
  for (const fd of fds) {
    try {
      if (readlinkSync(`/proc/${pid}/fd/${fd}`) !== path) continue;
      const m = /^pos:\s+(\d+)/m.exec(readFileSync(`/proc/${pid}/fdinfo/${fd}`, 'utf8'));
      return m ? Number(m[1]) : 0;
    } catch {
      // the fd closed under us
    }
  }
  return null;
}

/**
 * Waits until process `pid` has `path` open with its file position at `minPos` or
 * beyond. Returns false if `isDone()` turns true first (the process finished) or after
 * the timeout.
 */
export async function waitUntilReading(
  pid: number,
  path: string,
  opts: { minPos?: number; isDone: () => boolean; timeoutMs?: number },
): Promise<boolean> {
  const deadline = performance.now() + (opts.timeoutMs ?? 30_000);
  while (performance.now() < deadline && !opts.isDone()) {
    const pos = openPosition(pid, path);
    if (pos !== null && pos >= (opts.minPos ?? 0)) return true;
    await new Promise((r) => setTimeout(r, 1));
  }
  return false;
}

/** Every file below dir whose name marks an unfinished write (`.tmp-*`). */
export async function tempFilesBelow(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const e of await fsp.readdir(dir, { recursive: true, withFileTypes: true })) {
    if (e.name.startsWith('.tmp') || e.name.includes('.tmp-')) out.push(join(e.parentPath, e.name));
  }
  return out;
}

/** Writes `data` to path in one go and sets a fixed mtime, so change detection never depends on clock ticks. */
export async function writeFileAt(path: string, data: Buffer | string, mtimeSec?: number): Promise<void> {
  await fsp.writeFile(path, data);
  if (mtimeSec !== undefined) await fsp.utimes(path, mtimeSec, mtimeSec);
}
