import type { Command } from 'commander';
import { CliContext } from '../cli-context.js';
import type { CliDeps } from '../cli-deps.js';
import { formatCount } from '../format-count.js';

/**
 * `unlock`: tidies locks/. Stale locks (not refreshed for 30 minutes, or naming a dead
 * process on this host) are already ignored by every command, so this is never needed
 * to get a backup going; it exists for operators used to restic, and --all clears
 * live locks after a crash of the whole host.
 */
export function unlockCommand(parent: Command, deps: CliDeps): Command {
  return parent
    .command('unlock')
    .description('delete stale lock files (they are ignored anyway); --all deletes every lock')
    .option('--all', 'also delete locks of processes that look alive (only when no cairn runs anywhere)')
    .addHelpText(
      'after',
      `
A lock whose process died is ignored at once on its own host and after 30 minutes
everywhere else, so backups never wait for it; unlock only removes the files.

Examples:
  cairn unlock
  cairn unlock --all     # after restoring a repository from a copy made while cairn ran`,
    )
    .action(async (flags: { all?: boolean }, c: Command) => {
      const ctx = CliContext.fromCommand(c, deps);
      const result = await ctx.withSession((s) => s.unlock({ all: flags.all === true }));
      ctx.out.result(result, () => {
        ctx.out.info(`removed ${formatCount(result.removed)} lock file${result.removed === 1 ? '' : 's'}`);
        for (const l of result.live) ctx.out.info(`still held: ${l.kind} lock by ${l.host} pid ${l.pid} since ${l.created}`);
      });
    });
}
