import { Option, type Command } from 'commander';
import type { PruneOptions, PruneResult } from '../../engine/types.js';
import { formatBytes } from '../../util/format-bytes.js';
import { CliContext } from '../cli-context.js';
import type { CliDeps } from '../cli-deps.js';
import { formatCount } from '../format-count.js';
import { formatKeyValues } from '../format-key-values.js';
import { durationToMs, parseDuration } from '../parse-duration.js';
import { createProgressReporter } from '../progress-reporter.js';

export interface PruneFlags {
  dryRun?: boolean;
  gcDelay?: string;
}

export function toPruneOptions(flags: PruneFlags): PruneOptions {
  const opts: PruneOptions = {};
  if (flags.dryRun) opts.dryRun = true;
  if (flags.gcDelay !== undefined) opts.gcDelayMs = durationToMs(parseDuration(flags.gcDelay, '--gc-delay'));
  return opts;
}

export function formatPruneSummary(r: PruneResult): string[] {
  const would = r.dryRun ? 'would be ' : '';
  const head = r.dryRun ? 'prune (dry run: nothing was changed)' : 'prune';
  return [
    head,
    ...formatKeyValues([
      ['marked', `${formatCount(r.marked.packs)} packs (${formatBytes(r.marked.bytes)}) ${would}marked unused; a later prune deletes them after the gc delay`],
      ['deleted', `${formatCount(r.swept.packs)} packs (${formatBytes(r.swept.bytes)}) ${would}deleted, marked by an earlier prune`],
      ['repacked', `${formatCount(r.repacked.packs)} packs (${formatCount(r.repacked.blobs)} blobs still in use ${would}rewritten)`],
      ['deferred', `${formatCount(r.deferred)} marks not yet old enough, or held back by a running backup`],
    ]),
  ];
}

export function pruneCommand(parent: Command, deps: CliDeps): Command {
  return parent
    .command('prune')
    .description('delete data no snapshot references any more (two-phase, safe next to running backups)')
    .option('--dry-run', 'report what would be marked, deleted and repacked; change nothing')
    .addOption(
      new Option('--gc-delay <duration>', 'minimum age of a mark before its packs are deleted (default 1h; e.g. 30min, 6h, 2d)').hideHelp(),
    )
    .addHelpText(
      'after',
      `
Prune works in two phases so that it never deletes data a concurrent backup is about
to reference: unused packs are first marked, and only a later prune, once the mark is
older than the gc delay, deletes them. Run it regularly (e.g. after forget).

Examples:
  cairn prune
  cairn prune --dry-run`,
    )
    .action(async (flags: PruneFlags, c: Command) => {
      const ctx = CliContext.fromCommand(c, deps);
      const opts = toPruneOptions(flags);
      const result = await ctx.withSession(async (s) => {
        const progress = createProgressReporter(ctx);
        try {
          return await s.prune({ ...opts, onProgress: (p) => progress.onProgress(p) });
        } finally {
          progress.done();
        }
      });
      ctx.out.result(result, () => {
        for (const l of formatPruneSummary(result)) ctx.out.info(l);
      });
    });
}
