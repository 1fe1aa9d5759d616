import { resolve } from 'node:path';
import type { Command } from 'commander';
import type { RewriteSnapshotsResult } from '../../engine/types.js';
import { readExcludeFile } from '../../fs/exclude-matcher.js';
import { CliContext } from '../cli-context.js';
import type { CliDeps } from '../cli-deps.js';
import { collect } from '../collect.js';
import { formatCount } from '../format-count.js';
import { createProgressReporter } from '../progress-reporter.js';
import { addSnapshotFilterOptions, parseSnapshotFilter, type RawFilterOptions } from '../snapshot-filter-options.js';
import { usageError } from '../usage-error.js';

interface RewriteFlags extends RawFilterOptions {
  exclude?: string[];
  excludeFile?: string[];
  forget?: boolean;
  dryRun?: boolean;
}

export function formatRewriteSummary(r: RewriteSnapshotsResult): string[] {
  const lines: string[] = [];
  for (const s of r.rewritten) {
    const into = s.rewrittenAs ? ` -> snapshot ${s.rewrittenAs.slice(0, 8)}${s.forgotten ? ' (original forgotten)' : ''}` : ' (dry run)';
    lines.push(`snapshot ${s.snapshot.slice(0, 8)}: ${formatCount(s.removed.length)} entr${s.removed.length === 1 ? 'y' : 'ies'} left out${into}`);
    for (const p of s.removed) lines.push(`  left out: ${p}`);
  }
  const n = r.rewritten.length;
  lines.push(
    n === 0
      ? `${formatCount(r.checked)} snapshot${r.checked === 1 ? '' : 's'} checked: the patterns match nothing in ${r.checked === 1 ? 'it' : 'them'}`
      : `${formatCount(n)} of ${formatCount(r.checked)} snapshots ${r.dryRun ? 'would be' : 'were'} rewritten`,
  );
  if (r.dryRun) lines.push('dry run: nothing was changed');
  return lines;
}

export function rewriteCommand(parent: Command, deps: CliDeps): Command {
  const cmd = parent
    .command('rewrite')
    .description('store snapshots again without the files and directories that exclude patterns match')
    .argument('[snapshot...]', 'snapshot ids, prefixes or "latest" (default: every snapshot the filters match)')
    .option('--exclude <pattern>', 'leave out what matches (backup\'s --exclude syntax, on paths inside the snapshot; repeatable)', collect)
    .option('--exclude-file <file>', 'read exclude patterns from a file, one per line (repeatable)', collect)
    .option('--forget', 'remove each original once its rewrite is stored')
    .option('--dry-run', 'report what would be left out; change nothing');
  addSnapshotFilterOptions(cmd);
  return cmd
    .addHelpText(
      'after',
      `
For data that should never have been backed up (a secret, a huge file): each snapshot
that holds a match is stored again without it, keeping its time, host, paths and tags
plus the tag "rewritten". Without --forget the original stays. The data itself leaves
the repository only with prune: 'cairn prune --max-unused 0' takes it out of packs that
also hold data still in use (after the gc delay). Exclude it from future backups too,
or the next backup stores it again.

Examples:
  cairn rewrite --exclude /home/ann/.ssh/id_ed25519 --dry-run
  cairn rewrite --exclude '*.iso' --forget && cairn prune --max-unused 0`,
    )
    .action(async (ids: string[], flags: RewriteFlags, c: Command) => {
      const ctx = CliContext.fromCommand(c, deps);
      const excludes = [...(flags.exclude ?? [])];
      for (const f of flags.excludeFile ?? []) excludes.push(...(await readExcludeFile(resolve(deps.cwd, f))));
      if (excludes.filter((p) => p !== '').length === 0) throw usageError('nothing to leave out', 'give --exclude PATTERN or --exclude-file FILE');
      const filter = parseSnapshotFilter(flags, deps.cwd);
      const result = await ctx.withSession(async (s) => {
        const progress = createProgressReporter(ctx);
        try {
          return await s.rewrite(ids, {
            excludes,
            ...(filter ? { filter } : {}),
            forget: !!flags.forget,
            dryRun: !!flags.dryRun,
            onProgress: (p) => progress.onProgress(p),
          });
        } finally {
          progress.done();
        }
      });
      ctx.out.result(result, () => ctx.out.printLines(formatRewriteSummary(result)));
    });
}
