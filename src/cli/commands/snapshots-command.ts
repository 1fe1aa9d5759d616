import type { Command } from 'commander';
import { CliContext } from '../cli-context.js';
import type { CliDeps } from '../cli-deps.js';
import { formatSnapshotTable } from '../snapshot-table.js';
import { addSnapshotFilterOptions, parseSnapshotFilter, type RawFilterOptions } from '../snapshot-filter-options.js';

export function snapshotsCommand(parent: Command, deps: CliDeps): Command {
  const cmd = parent.command('snapshots').description('list snapshots, oldest first');
  addSnapshotFilterOptions(cmd);
  return cmd
    .addHelpText(
      'after',
      `
With --json prints one array of snapshot objects (id, time, host, source, paths,
tags, mode, parent, tree, summary).

Examples:
  cairn snapshots
  cairn snapshots --host db1 --tag nightly --json`,
    )
    .action(async (flags: RawFilterOptions, c: Command) => {
      const ctx = CliContext.fromCommand(c, deps);
      const filter = parseSnapshotFilter(flags, deps.cwd);
      const list = await ctx.withSession((s) => s.snapshots(filter));
      ctx.out.result(list, () => {
        if (list.length === 0) {
          ctx.out.info('no snapshots');
          return;
        }
        ctx.out.printLines(formatSnapshotTable(list));
        ctx.out.info(`${list.length} snapshot${list.length === 1 ? '' : 's'}`);
      });
    });
}
