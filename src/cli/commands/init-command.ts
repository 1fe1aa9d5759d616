import type { Command } from 'commander';
import { CairnError } from '../../core/errors/index.js';
import type { InitOptions } from '../../engine/types.js';
import { CliContext } from '../cli-context.js';
import { readPasswordFile } from '../read-password-file.js';
import { usageError } from '../usage-error.js';
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
    .option('--mirror-of <primary>', "create a mirror of this repository: same keys and chunking, own id and password")
    .option('--mirror-of-password-file <file>', "the primary's password, for --mirror-of (env CAIRN_MIRROR_OF_PASSWORD; default: the new repository's password)")
    .addHelpText(
      'after',
      `
Creates the repository at --repo (or CAIRN_REPO) and a first key slot for the
password. Without --password-file or CAIRN_PASSWORD you are asked twice on the
terminal. Keep the password safe: without it nothing can be restored.

With --mirror-of PRIMARY the new repository becomes a mirror: it wraps the primary's
master key in its own key slot (for the password you give) and copies its chunking,
so packs written to both are identical and the mirror restores on its own. Fill it
with \`cairn backup --mirror\` or \`cairn copy --from PRIMARY\`. The primary's password
comes from --mirror-of-password-file or CAIRN_MIRROR_OF_PASSWORD, else it is taken to
be the same as the new repository's.

Examples:
  cairn --repo /srv/backups/laptop init
  cairn --repo /mnt/usb/laptop init --mirror-of /srv/backups/laptop`,
    )
    .action(async (flags: { mirrorOf?: string; mirrorOfPasswordFile?: string }, cmd: Command) => {
      const ctx = CliContext.fromCommand(cmd, deps);
      const repo = ctx.requireRepo();
      const kdf = kdfFromEnv(deps.env);
      if (flags.mirrorOf !== undefined && flags.mirrorOf.trim() === '') throw usageError('--mirror-of must not be empty');
      if (flags.mirrorOfPasswordFile !== undefined && flags.mirrorOf === undefined) {
        throw usageError('--mirror-of-password-file needs --mirror-of', 'cairn init --mirror-of PRIMARY --mirror-of-password-file FILE');
      }
      const password = await ctx.password({ confirm: true, prompt: 'enter a password for the new repository: ' });
      let mirrorOf: InitOptions['mirrorOf'];
      if (flags.mirrorOf !== undefined) {
        const envPw = deps.env.CAIRN_MIRROR_OF_PASSWORD;
        const primaryPassword =
          flags.mirrorOfPasswordFile !== undefined
            ? await readPasswordFile(ctx.resolvePath(flags.mirrorOfPasswordFile), '--mirror-of-password-file')
            : envPw !== undefined && envPw !== ''
              ? envPw
              : password;
        mirrorOf = { repo: flags.mirrorOf, password: primaryPassword };
      }
      const engine = await ctx.engine();
      const result = await engine.init({
        repo,
        password,
        cacheDir: ctx.globals.cacheDir,
        ...(kdf ? { kdf } : {}),
        ...(mirrorOf ? { mirrorOf } : {}),
      });
      ctx.out.result(mirrorOf ? { ...result, mirrorOf: mirrorOf.repo } : result, () => {
        ctx.out.info(`created cairn ${mirrorOf ? 'mirror ' : ''}repository ${result.id.slice(0, 8)} at ${result.location}`);
        if (mirrorOf) ctx.out.info(`it shares the keys of ${mirrorOf.repo}; fill it with \`cairn backup --mirror\` or \`cairn copy\``);
        ctx.out.info(`key slot ${result.keyId.slice(0, 8)} opens it with the password you gave`);
        ctx.out.info('keep the password safe: without it the backups cannot be restored');
      });
    });
}
