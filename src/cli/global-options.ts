import { join } from 'node:path';
import { CairnError } from '../core/errors/index.js';

/** The global flags as commander parses them (from optsWithGlobals()). */
export interface RawGlobalOptions {
  repo?: string;
  passwordFile?: string;
  cacheDir?: string;
  json?: boolean;
  quiet?: boolean;
  verbose?: boolean;
  /** `--no-progress` sets this to false. */
  progress?: boolean;
  threads?: string;
}

export interface GlobalOptions {
  repo: string | undefined;
  /** --password-file, else CAIRN_PASSWORD_FILE. */
  passwordFile: string | undefined;
  /** CAIRN_PASSWORD (empty counts as unset). */
  password: string | undefined;
  cacheDir: string;
  /** True when the cache dir came from --cache-dir or CAIRN_CACHE_DIR, not the default. */
  cacheDirExplicit: boolean;
  json: boolean;
  quiet: boolean;
  verbose: boolean;
  progress: boolean;
  /** Worker threads for compression, encryption and verification; undefined = one per core. */
  threads: number | undefined;
}

function nonEmpty(v: string | undefined): string | undefined {
  return v === undefined || v === '' ? undefined : v;
}

/** `$XDG_CACHE_HOME/cairn`, else `~/.cache/cairn`. */
export function defaultCacheDir(env: Record<string, string | undefined>, home: string): string {
  const xdg = nonEmpty(env.XDG_CACHE_HOME);
  return join(xdg ?? join(home, '.cache'), 'cairn');
}

/** Flags beat environment variables, which beat defaults. */
export function resolveGlobalOptions(
  raw: RawGlobalOptions,
  env: Record<string, string | undefined>,
  home: string,
): GlobalOptions {
  const explicitCache = nonEmpty(raw.cacheDir) ?? nonEmpty(env.CAIRN_CACHE_DIR);
  return {
    repo: nonEmpty(raw.repo) ?? nonEmpty(env.CAIRN_REPO),
    passwordFile: nonEmpty(raw.passwordFile) ?? nonEmpty(env.CAIRN_PASSWORD_FILE),
    password: nonEmpty(env.CAIRN_PASSWORD),
    cacheDir: explicitCache ?? defaultCacheDir(env, home),
    cacheDirExplicit: explicitCache !== undefined,
    json: raw.json === true,
    quiet: raw.quiet === true,
    verbose: raw.verbose === true,
    progress: raw.progress !== false,
    threads: parseThreads(nonEmpty(raw.threads) ?? nonEmpty(env.CAIRN_THREADS)),
  };
}

function parseThreads(v: string | undefined): number | undefined {
  if (v === undefined) return undefined;
  const n = /^\d+$/.test(v) ? Number(v) : NaN; // decimal digits only: not "0x10", "1e1", " 2"
  if (!Number.isInteger(n) || n < 0 || n > 256) {
    throw new CairnError('USAGE', `--threads ${v}: expected a whole number from 0 to 256`, {
      hint: '0 does all work on the main thread; the default is one worker per core',
    });
  }
  return n;
}
