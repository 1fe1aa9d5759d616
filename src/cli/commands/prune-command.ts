import { Option, type Command } from 'commander';
import type { PruneOptions, PruneResult } from '../../engine/types.js';
import { formatBytes } from '../../util/format-bytes.js';
import { CliContext } from '../cli-context.js';
import type { CliDeps } from '../cli-deps.js';
import { formatCount } from '../format-count.js';
import { formatKeyValues } from '../format-key-values.js';
import { durationToMs, parseDuration } from '../parse-duration.js';
import { createProgressReporter } from '../progress-reporter.js';
import { usageError } from '../usage-error.js';

export interface PruneFlags {
  dryRun?: boolean;
  gcDelay?: string;
  maxUnused?: string;
}

/** "30%", "0", "0%", "unlimited" → the share of dead bytes a pack may hold before it is repacked. */
export function parseMaxUnused(text: string): number {
  const v = text.trim().toLowerCase();
  if (v === 'unlimited') return 1;
  const m = /^(\d+(?:\.\d+)?)%?$/.exec(v);
  const pct = m ? Number(m[1]) : NaN;
  if (!m || !(pct >= 0 && pct <= 100) || (pct > 0 && !v.endsWith('%'))) {
    throw usageError(`invalid value for --max-unused: "${text}"`, 'give a percentage such as 5%, 0 to repack every pack with unused data, or unlimited');
  }
  return pct / 100;
}

export function toPruneOptions(flags: PruneFlags): PruneOptions {
  const opts: PruneOptions = {};
  if (flags.dryRun) opts.dryRun = true;
  if (flags.gcDelay !== undefined) opts.gcDelayMs = durationToMs(parseDuration(flags.gcDelay, '--gc-delay'));
  if (flags.maxUnused !== undefined) opts.maxUnused = parseMaxUnused(flags.maxUnused);
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
    .option('--max-unused <limit>', 'repack packs with more unused data than this (default 30%; 0: every pack with any, e.g. to erase what rewrite left out; unlimited: never)')
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
  cairn prune --dry-run
  cairn prune --max-unused 0       # after rewrite: no unused blob stays in a kept pack`,
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
