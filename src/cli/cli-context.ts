import { resolve } from 'node:path';
import type { Command } from 'commander';
import type { Engine, RepositorySession } from '../engine/types.js';
import type { CliDeps } from './cli-deps.js';
import { type GlobalOptions, type RawGlobalOptions, resolveGlobalOptions } from './global-options.js';
import { Output } from './output.js';
import { resolvePassword } from './resolve-password.js';
import { usageError } from './usage-error.js';

/** What one command invocation needs: resolved global options, output, engine, session. */
export class CliContext {
  readonly out: Output;
  private enginePromise: Promise<Engine> | undefined;

  constructor(
    readonly deps: CliDeps,
    readonly globals: GlobalOptions,
  ) {
    this.out = new Output(deps.stdout, deps.stderr, globals);
  }

  static fromCommand(cmd: Command, deps: CliDeps): CliContext {
    const raw = cmd.optsWithGlobals() as RawGlobalOptions;
    return new CliContext(deps, resolveGlobalOptions(raw, deps.env, deps.homedir));
  }

  get signal(): AbortSignal {
    return this.deps.signal;
  }

  /** A path from the command line, made absolute against the working directory. */
  resolvePath(p: string): string {
    return resolve(this.deps.cwd, p);
  }

  requireRepo(): string {
    if (this.globals.repo === undefined) {
      throw usageError('no repository given', 'pass --repo PATH or set CAIRN_REPO');
    }
    return this.globals.repo;
  }

  /** The repository password (see resolvePassword for the order of sources). */
  password(opts: { confirm?: boolean; prompt?: string } = {}): Promise<string> {
    return resolvePassword(
      {
        file: this.globals.passwordFile === undefined ? undefined : this.resolvePath(this.globals.passwordFile),
        value: this.globals.password,
      },
      { stdin: this.deps.stdin, stderr: this.deps.stderr, signal: this.signal },
      opts,
    );
  }

  engine(): Promise<Engine> {
    this.enginePromise ??= this.deps.loadEngine({
      clock: this.deps.clock,
      env: this.deps.env,
      // A retried backend call is not an error, but an operator chasing slowness wants to see it.
      onRetry: (r) => {
        if (!this.globals.verbose) return;
        const why = r.error instanceof Error ? r.error.message.split('\n')[0] : String(r.error);
        this.out.warn(`retrying ${r.op} ${r.name} in ${(r.delayMs / 1000).toFixed(1)} s (attempt ${r.attempt} failed: ${why})`);
      },
    });
    return this.enginePromise;
  }

  /**
   * Opens the repository, runs fn, and always closes the session (which releases any
   * lock) — also when fn fails or is cancelled. fn's error wins over a close error.
   */
  async withSession<T>(fn: (session: RepositorySession) => Promise<T>): Promise<T> {
    const repo = this.requireRepo();
    const password = await this.password();
    const engine = await this.engine();
    const session = await engine.open({
      repo,
      password,
      cacheDir: this.globals.cacheDir,
      ...(this.globals.threads !== undefined ? { threads: this.globals.threads } : {}),
    });
    let result: T;
    try {
      result = await fn(session);
    } catch (err) {
      await session.close().catch(() => undefined);
      throw err;
    }
    await session.close();
    return result;
  }
}
