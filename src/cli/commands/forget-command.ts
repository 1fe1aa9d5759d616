import type { Command } from 'commander';
import type { ForgetGroup, ForgetOptions, ForgetResult } from '../../engine/types.js';
import { CliContext } from '../cli-context.js';
import type { CliDeps } from '../cli-deps.js';
import { collect } from '../collect.js';
import { parseGroupBy } from '../parse-group-by.js';
import { parseKeepPolicy, type RawKeepOptions } from '../parse-keep-policy.js';
import { formatSnapshotTable } from '../snapshot-table.js';
import { addSnapshotFilterOptions, parseSnapshotFilter, type RawFilterOptions } from '../snapshot-filter-options.js';
import { usageError } from '../usage-error.js';
import { formatPruneSummary } from './prune-command.js';

export interface ForgetFlags extends RawKeepOptions, RawFilterOptions {
  groupBy?: string;
  dryRun?: boolean;
  prune?: boolean;
  source?: string;
}

/** Flags → engine ForgetOptions. Needs snapshot ids, a --keep-* policy, or both. */
export function toForgetOptions(ids: string[], flags: ForgetFlags, cwd: string): ForgetOptions {
  const policy = parseKeepPolicy(flags);
  if (!policy && ids.length === 0) {
    throw usageError(
      'nothing to forget: give snapshot ids or a --keep-* policy',
      'e.g. cairn forget --keep-daily 7 --keep-weekly 4, or cairn forget 1a2b3c4d',
    );
  }
  const opts: ForgetOptions = { groupBy: parseGroupBy(flags.groupBy) };
  if (policy) opts.policy = policy;
  if (ids.length) opts.ids = [...ids];
  const filter = parseSnapshotFilter(flags, cwd);
  if (filter) opts.filter = filter;
  if (flags.source !== undefined) opts.filter = { ...opts.filter, source: flags.source };
  if (flags.dryRun) opts.dryRun = true;
  if (flags.prune) opts.prune = true;
  return opts;
}

function groupTitle(g: ForgetGroup): string {
  const parts: string[] = [];
  if (g.key.host) parts.push(`host ${g.key.host}`);
  if (g.key.paths?.length) parts.push(`paths ${g.key.paths.join(', ')}`);
  return parts.length ? `snapshots of ${parts.join(', ')}` : 'all snapshots';
}

export function formatForgetReport(r: ForgetResult): string[] {
  const lines: string[] = [];
  for (const g of r.groups) {
    if (lines.length) lines.push('');
    lines.push(`${groupTitle(g)}:`);
    const reasons = new Map(g.keep.map((k) => [k.snapshot.id, k.reasons.join(', ')]));
    if (g.keep.length) {
      lines.push(`keep ${g.keep.length} snapshot${g.keep.length === 1 ? '' : 's'}:`);
      lines.push(
        ...formatSnapshotTable(
          g.keep.map((k) => k.snapshot),
          [{ header: 'Reasons', cell: (s) => reasons.get(s.id) ?? '' }],
        ),
      );
    }
    if (g.remove.length) {
      lines.push(`${r.dryRun ? 'would remove' : 'remove'} ${g.remove.length} snapshot${g.remove.length === 1 ? '' : 's'}:`);
      lines.push(...formatSnapshotTable(g.remove));
    }
  }
  const n = r.dryRun ? r.groups.reduce((sum, g) => sum + g.remove.length, 0) : r.removed.length;
  if (lines.length) lines.push('');
  lines.push(r.dryRun ? `dry run: would remove ${n} snapshot${n === 1 ? '' : 's'}` : `removed ${n} snapshot${n === 1 ? '' : 's'}`);
  for (const w of r.wal ?? []) {
    lines.push(`WAL of ${w.source}: ${r.dryRun ? 'would remove' : 'removed'} ${w.removed.length} record${w.removed.length === 1 ? '' : 's'}, kept ${w.kept}${w.keepFrom ? ` (needed from ${w.keepFrom})` : ''}`);
  }
  if (r.prune) lines.push('', ...formatPruneSummary(r.prune));
  return lines;
}

export function forgetCommand(parent: Command, deps: CliDeps): Command {
  const cmd = parent
    .command('forget')
    .description('remove snapshots, by id or by a retention policy')
    .argument('[snapshot...]', 'snapshot ids or prefixes to remove')
    .option('--keep-last <n>', 'keep the n newest snapshots (-1: all)')
    .option('--keep-hourly <n>', 'keep the newest snapshot of each of the last n hours (-1: unlimited)')
    .option('--keep-daily <n>', 'keep the newest snapshot of each of the last n days (-1: unlimited)')
    .option('--keep-weekly <n>', 'keep the newest snapshot of each of the last n weeks (-1: unlimited)')
    .option('--keep-monthly <n>', 'keep the newest snapshot of each of the last n months (-1: unlimited)')
    .option('--keep-yearly <n>', 'keep the newest snapshot of each of the last n years (-1: unlimited)')
    .option('--keep-within <duration>', 'keep every snapshot younger than this, e.g. 30d, 1y6m, 12h')
    .option('--keep-tag <tags>', 'keep every snapshot with these tags (repeatable)', collect)
    .option('--group-by <fields>', 'apply the policy per group of host, paths, tags (default: host,paths)')
    .option('--dry-run', 'show what would be removed; remove nothing')
    .option('--prune', 'run prune afterwards')
    .option('--source <name>', 'only snapshots of this source name (e.g. a postgres source; with --keep-within, PITR retention applies)');
  addSnapshotFilterOptions(cmd);
  return cmd
    .addHelpText(
      'after',
      `
Forget removes snapshot records only; the data they alone referenced is freed by
prune (or --prune). Each group's kept snapshots are listed with the rules that kept
them. Try a policy with --dry-run first.

On PostgreSQL sources, --keep-within D keeps every base backup and WAL segment
needed to restore to any point of the last D (measured from now), and removes WAL
only once no kept base backup needs it.

Examples:
  cairn forget --keep-daily 7 --keep-weekly 5 --keep-monthly 12 --dry-run
  cairn forget --source db1 --keep-within 30d --prune
  cairn forget --keep-within 30d --keep-tag release --prune
  cairn forget 1a2b3c4d 5e6f7a8b`,
    )
    .action(async (ids: string[], flags: ForgetFlags, c: Command) => {
      const ctx = CliContext.fromCommand(c, deps);
      const opts = toForgetOptions(ids, flags, deps.cwd);
      const result = await ctx.withSession((s) => s.forget(opts));
      ctx.out.result(result, () => ctx.out.printLines(formatForgetReport(result)));
    });
}
