import type { Command } from 'commander';
import type { StatsResult } from '../../engine/types.js';
import { formatBytes } from '../../util/format-bytes.js';
import { CliContext } from '../cli-context.js';
import type { CliDeps } from '../cli-deps.js';
import { formatCount } from '../format-count.js';
import { formatKeyValues } from '../format-key-values.js';

export function formatStats(r: StatsResult, snapshot?: string): string[] {
  const pairs: [string, string][] = [
    ['snapshots', formatCount(r.snapshots)],
    ['packs', formatCount(r.packs)],
    ['blobs', formatCount(r.blobs)],
    ['stored size', formatBytes(r.storedBytes)],
    ['raw size', formatBytes(r.rawBytes)],
    ['compression', `${r.compressionRatio.toFixed(2)}x`],
  ];
  if (r.restoreSize !== undefined) pairs.push(['restore size', formatBytes(r.restoreSize)]);
  return [snapshot ? `statistics for snapshot ${snapshot}` : 'repository statistics', ...formatKeyValues(pairs)];
}

export function statsCommand(parent: Command, deps: CliDeps): Command {
  return parent
    .command('stats')
    .description('show repository size, deduplication and compression figures')
    .argument('[snapshot]', 'also show how much restoring this snapshot would write')
    .addHelpText(
      'after',
      `
Examples:
  cairn stats
  cairn stats latest --json`,
    )
    .action(async (snapshot: string | undefined, _flags: unknown, c: Command) => {
      const ctx = CliContext.fromCommand(c, deps);
      const result = await ctx.withSession((s) => s.stats(snapshot));
      ctx.out.result(result, () => ctx.out.printLines(formatStats(result, snapshot)));
    });
}
