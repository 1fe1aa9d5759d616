import type { Command } from 'commander';
import { CairnError } from '../../core/errors/index.js';
import type { InitOptions } from '../../engine/types.js';
import { CliContext } from '../cli-context.js';
import type { CliDeps } from '../cli-deps.js';

/**
 * scrypt parameters from CAIRN_KDF_N, a test-only knob (deliberately not a flag): a low
 * N makes `init` and `open` fast in test suites and makes a real repository weak.
 */
export function kdfFromEnv(env: Record<string, string | undefined>): InitOptions['kdf'] | undefined {
  const raw = env.CAIRN_KDF_N;
  if (raw === undefined || raw === '') return undefined;
  const n = Number(raw);
  if (!/^\d+$/.test(raw) || n < 2 || !Number.isSafeInteger(n) || (n & (n - 1)) !== 0) {
    throw new CairnError('CONFIG_INVALID', `CAIRN_KDF_N must be a power of two ≥ 2, got "${raw}"`, {
      hint: 'unset CAIRN_KDF_N; it is meant for test suites only',
    });
  }
  return { N: n, r: 8, p: 1 };
}

export function initCommand(parent: Command, deps: CliDeps): Command {
  return parent
    .command('init')
    .description('create a new, empty repository')
    .addHelpText(
      'after',
      `
Creates the repository at --repo (or CAIRN_REPO) and a first key slot for the
password. Without --password-file or CAIRN_PASSWORD you are asked twice on the
terminal. Keep the password safe: without it nothing can be restored.

Example:
  cairn --repo /srv/backups/laptop init`,
    )
    .action(async (_opts: unknown, cmd: Command) => {
      const ctx = CliContext.fromCommand(cmd, deps);
      const repo = ctx.requireRepo();
      const kdf = kdfFromEnv(deps.env);
      const password = await ctx.password({ confirm: true, prompt: 'enter a password for the new repository: ' });
      const engine = await ctx.engine();
      const result = await engine.init({
        repo,
        password,
        cacheDir: ctx.globals.cacheDir,
        ...(kdf ? { kdf } : {}),
      });
      ctx.out.result(result, () => {
        ctx.out.info(`created cairn repository ${result.id.slice(0, 8)} at ${result.location}`);
        ctx.out.info(`key slot ${result.keyId.slice(0, 8)} opens it with the password you gave`);
        ctx.out.info('keep the password safe: without it the backups cannot be restored');
      });
    });
}
