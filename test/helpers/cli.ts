import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

/**
 * Spawns the built CLI (`bin/cairn.js` → `dist/bundle/`) as a real child process, for tests
 * that need real processes: signals, crashes, concurrency between two cairns. Build
 * first (`npm run build`; `npm test` does it).
 */

export const ROOT = fileURLToPath(new URL('../../', import.meta.url));
export const CAIRN_BIN = `${ROOT}bin/cairn.js`;
export const CAIRN_BUILT = existsSync(`${ROOT}dist/bundle/main.js`);

export interface CairnEnv {
  CAIRN_REPO: string;
  CAIRN_PASSWORD: string;
  CAIRN_CACHE_DIR: string;
  [name: string]: string;
}

/** A minimal, hermetic environment: cheap scrypt, no inherited CAIRN_* variables. */
export function cairnEnv(repo: string, cacheDir: string, password = 'crash test password'): CairnEnv {
  return {
    PATH: process.env.PATH ?? '/usr/bin:/bin',
    HOME: process.env.HOME ?? '/nonexistent',
    CAIRN_REPO: repo,
    CAIRN_PASSWORD: password,
    CAIRN_CACHE_DIR: cacheDir,
    CAIRN_KDF_N: '1024',
  };
}

export interface CairnRun {
  /** Exit code, or null when killed by a signal. */
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  /** Wall time from spawn to exit, in milliseconds. */
  ms: number;
}

/** A running cairn child: its process and a promise of how it ended. */
export interface CairnChild {
  child: ChildProcess;
  started: number;
  done: Promise<CairnRun>;
  /** True once the process has exited. */
  readonly exited: boolean;
  /** Sends a signal if still running; returns whether it was sent. */
  kill(signal?: NodeJS.Signals): boolean;
}

const live = new Set<ChildProcess>();

/** Starts `cairn ...args`; the child is tracked so that killAllCairns() can reap it. */
export function spawnCairn(args: string[], env: Record<string, string>, opts: { cwd?: string } = {}): CairnChild {
  const started = performance.now();
  const child = spawn(process.execPath, [CAIRN_BIN, ...args], {
    env,
    cwd: opts.cwd ?? ROOT,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  live.add(child);
  let exited = false;
  const out: Buffer[] = [];
  const err: Buffer[] = [];
  child.stdout!.on('data', (b: Buffer) => out.push(b));
  child.stderr!.on('data', (b: Buffer) => err.push(b));
  const done = new Promise<CairnRun>((resolve, reject) => {
    child.on('error', (e) => {
      live.delete(child);
      exited = true;
      reject(e);
    });
    // 'close' (not 'exit'): the stdio pipes are drained, so stdout is complete.
    child.on('close', (code, signal) => {
      live.delete(child);
      exited = true;
      resolve({
        code,
        signal,
        stdout: Buffer.concat(out).toString('utf8'),
        stderr: Buffer.concat(err).toString('utf8'),
        ms: performance.now() - started,
      });
    });
  });
  return {
    child,
    started,
    done,
    get exited() {
      return exited;
    },
    kill(signal: NodeJS.Signals = 'SIGKILL') {
      if (exited || child.exitCode !== null || child.signalCode !== null) return false;
      return child.kill(signal);
    },
  };
}

/** Runs `cairn ...args` to completion. */
export function runCairn(args: string[], env: Record<string, string>, opts: { cwd?: string } = {}): Promise<CairnRun> {
  return spawnCairn(args, env, opts).done;
}

/** Runs a `--json` command that must succeed (exit 0) and returns its parsed stdout. */
export async function cairnJson<T = unknown>(args: string[], env: Record<string, string>): Promise<T> {
  const r = await runCairn(['--json', ...args], env);
  if (r.code !== 0) {
    throw new Error(`cairn ${args.join(' ')} exited ${r.code ?? r.signal}\nstdout: ${r.stdout}\nstderr: ${r.stderr}`);
  }
  return JSON.parse(r.stdout) as T;
}

/** SIGKILLs every cairn child started by this module that is still running (afterAll). */
export function killAllCairns(): void {
  for (const c of live) {
    try {
      c.kill('SIGKILL');
    } catch {
      // already gone
    }
  }
  live.clear();
}
