import type { Command } from 'commander';
import { CliContext } from '../cli-context.js';
import type { CliDeps } from '../cli-deps.js';
import { formatSnapshotTable } from '../snapshot-table.js';
import { latestPerSource } from '../../snapshot/select.js';
import { usageError } from '../usage-error.js';
import { addSnapshotFilterOptions, parseSnapshotFilter, type RawFilterOptions } from '../snapshot-filter-options.js';

interface SnapshotsFlags extends RawFilterOptions {
  latest?: string;
  source?: string;
}

export function snapshotsCommand(parent: Command, deps: CliDeps): Command {
  const cmd = parent
    .command('snapshots')
    .description('list snapshots, oldest first')
    .option('--latest <n>', 'only the newest n snapshots of each source (host, source)')
    .option('--source <name>', 'only snapshots of this source name (a database or bucket source\'s --name, or a files backup\'s paths)');
  addSnapshotFilterOptions(cmd);
  return cmd
    .addHelpText(
      'after',
      `
With --json prints one array of snapshot objects (id, time, host, source, paths,
tags, mode, parent, tree, summary).

Examples:
  cairn snapshots
  cairn snapshots --latest 1                # the newest snapshot of every source
  cairn snapshots --host db1 --tag nightly --json`,
    )
    .action(async (flags: SnapshotsFlags, c: Command) => {
      const ctx = CliContext.fromCommand(c, deps);
      let filter = parseSnapshotFilter(flags, deps.cwd);
      if (flags.source !== undefined) filter = { ...filter, source: flags.source };
      const latest = flags.latest === undefined ? undefined : parseLatest(flags.latest);
      const all = await ctx.withSession((s) => s.snapshots(filter));
      const list = latest === undefined ? all : latestPerSource(all, latest);
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

function parseLatest(text: string): number {
  const v = text.trim();
  if (!/^\d+$/.test(v) || Number(v) < 1 || !Number.isSafeInteger(Number(v))) {
    throw usageError(`invalid value for --latest: "${text}"`, '--latest takes a whole number of at least 1');
  }
  return Number(v);
}
