import type { Command } from 'commander';
import { CliContext } from '../cli-context.js';
import type { CliDeps } from '../cli-deps.js';

export function walPushCommand(parent: Command, deps: CliDeps): Command {
  return parent
    .command('wal-push')
    .description('store one completed WAL segment (for PostgreSQL\'s archive_command)')
    .argument('<file>', 'the segment file (%p in archive_command)')
    .option('--name <name>', 'source name (default: the system identifier read from the segment)')
    .addHelpText(
      'after',
      `
For servers that prefer archive_command to streaming. Idempotent: the same segment
pushed again is accepted without storing it twice; a failure exits non-zero so that
PostgreSQL retries; other content under a stored segment name is refused (archive
mismatch, SOURCE_CONFIG). Timeline history files are accepted and not stored. Put
the repository, password file and cache dir in the command itself: the archiver runs
it as postgres in the server's environment (docs/sources/postgres.md).

Examples:
  cairn wal-push /var/lib/postgresql/15/main/pg_wal/000000010000000000000003 --name db1
  (postgresql.conf) archive_command = 'CAIRN_REPO=/srv/repo CAIRN_PASSWORD_FILE=/etc/cairn/pw CAIRN_CACHE_DIR=/var/lib/postgresql/.cache/cairn cairn wal-push %p --name db1'`,
    )
    .action(async (file: string, flags: { name?: string }, c: Command) => {
      const ctx = CliContext.fromCommand(c, deps);
      const result = await ctx.withSession((s) => s.walPush({ file: ctx.resolvePath(file), ...(flags.name !== undefined ? { name: flags.name } : {}) }));
      ctx.out.result(result, () => ctx.out.info(result.stored ? `stored ${result.segment} for ${result.name}` : `${result.segment}: already stored (or not a segment); nothing to do`));
    });
}
