import { homedir } from 'node:os';
import { join } from 'node:path';

/** --cache-dir, else CAIRN_CACHE_DIR, else $XDG_CACHE_HOME/cairn, else ~/.cache/cairn. */
export function defaultCacheDir(env: NodeJS.ProcessEnv = process.env): string {
  if (env.CAIRN_CACHE_DIR) return env.CAIRN_CACHE_DIR;
  if (env.XDG_CACHE_HOME) return join(env.XDG_CACHE_HOME, 'cairn');
  return join(homedir(), '.cache', 'cairn');
}
