import type { Command } from 'commander';
import type { TagChange, TagSnapshotsResult } from '../../engine/types.js';
import { CliContext } from '../cli-context.js';
import type { CliDeps } from '../cli-deps.js';
import { collect } from '../collect.js';
import { formatCount } from '../format-count.js';
import { parseTags } from '../parse-tags.js';
import { addSnapshotFilterOptions, parseSnapshotFilter, type RawFilterOptions } from '../snapshot-filter-options.js';
import { usageError } from '../usage-error.js';

export interface TagFlags extends RawFilterOptions {
  add?: string[];
  remove?: string[];
  set?: string[];
  dryRun?: boolean;
}

/** --add/--remove/--set → the engine's TagChange; `--set ""` is "no tags at all". */
export function toTagChange(flags: TagFlags): TagChange {
  if (flags.set !== undefined && (flags.add !== undefined || flags.remove !== undefined)) {
    throw usageError('--set replaces all tags: give it alone, or use --add and --remove');
  }
  if (flags.set !== undefined) return { set: flags.set.every((v) => v.trim() === '') ? [] : parseTags(flags.set, '--set') };
  if (flags.add === undefined && flags.remove === undefined) {
    throw usageError('nothing to change', 'give --add TAGS, --remove TAGS or --set TAGS (--set "" removes every tag)');
  }
  const change: TagChange = {};
  if (flags.add !== undefined) change.add = parseTags(flags.add, '--add');
  if (flags.remove !== undefined) change.remove = parseTags(flags.remove, '--remove');
  return change;
}

const list = (tags: readonly string[]): string => (tags.length ? tags.join(',') : '(none)');

export function formatTagReport(r: TagSnapshotsResult): string[] {
  const lines = r.changed.map(
    (c) => `snapshot ${c.snapshot.slice(0, 8)}: ${list(c.tags)} -> ${list(c.newTags)}${c.taggedAs ? ` (now ${c.taggedAs.slice(0, 8)})` : ''}`,
  );
  const n = r.changed.length;
  const total = n + r.unchanged;
  lines.push(
    total === 0
      ? 'no snapshot matches'
      : `${formatCount(n)} of ${formatCount(total)} snapshot${total === 1 ? '' : 's'} ${r.dryRun ? 'would change' : 'changed'}${r.unchanged ? `; ${formatCount(r.unchanged)} already had these tags` : ''}`,
  );
  if (r.dryRun) lines.push('dry run: nothing was changed');
  return lines;
}

export function tagCommand(parent: Command, deps: CliDeps): Command {
  const cmd = parent
    .command('tag')
    .description('add, remove or set the tags of snapshots')
    .argument('[snapshot...]', 'snapshot ids, prefixes or "latest" (default: every snapshot the filters match)')
    .option('--add <tags>', 'add these comma-separated tags (repeatable)', collect)
    .option('--remove <tags>', 'remove these tags (repeatable)', collect)
    .option('--set <tags>', 'replace all tags with these (repeatable; --set "" removes every tag)', collect)
    .option('--dry-run', 'show what would change; change nothing');
  addSnapshotFilterOptions(cmd);
  return cmd
    .addHelpText(
      'after',
      `
Snapshot files are immutable: a snapshot whose tags change is stored again with the
new tags (same tree, time, host, paths and source) and the old file is removed, so
its id changes. Without snapshot ids, every snapshot matching --host/--tag/--path is
changed (all of them when no filter is given). Removing the old file needs a full
key: an append-only key may only preview with --dry-run.

Examples:
  cairn tag --add keep 1a2b3c4d            # then: cairn forget --keep-tag keep ...
  cairn tag --remove keep --tag keep
  cairn tag --set weekly,db latest --host db1`,
    )
    .action(async (ids: string[], flags: TagFlags, c: Command) => {
      const ctx = CliContext.fromCommand(c, deps);
      const change = toTagChange(flags);
      const filter = parseSnapshotFilter(flags, deps.cwd);
      const result = await ctx.withSession((s) => s.tag(ids, change, { ...(filter ? { filter } : {}), dryRun: !!flags.dryRun }));
      ctx.out.result(result, () => ctx.out.printLines(formatTagReport(result)));
    });
}
