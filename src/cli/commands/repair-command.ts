import type { Command } from 'commander';
import { CairnError } from '../../core/errors/index.js';
import type { RepairResult } from '../../engine/types.js';
import { CliContext } from '../cli-context.js';
import type { CliDeps } from '../cli-deps.js';
import { formatCount } from '../format-count.js';
import { formatKeyValues } from '../format-key-values.js';
import { createProgressReporter } from '../progress-reporter.js';
import { ReportedFailure } from '../reported-failure.js';

export function formatRepairSummary(r: RepairResult): string[] {
  return [
    'index rebuilt from the packs',
    ...formatKeyValues([
      ['packs read', formatCount(r.packsRead)],
      ['blobs', formatCount(r.blobs)],
      ['index files', `${formatCount(r.indexFilesWritten)} written, ${formatCount(r.indexFilesRemoved)} old ones removed`],
      ['damaged packs', formatCount(r.damagedPacks.length)],
    ]),
  ];
}

/** `repair index`: rebuild the index from the packs' own headers. */
export function repairCommand(parent: Command, deps: CliDeps): Command {
  const repair = parent
    .command('repair')
    .description('rebuild damaged repository metadata')
    .addHelpText('after', '\nExample:\n  cairn repair index');

  repair
    .command('index')
    .description('rebuild the index from the pack files (every pack describes its own blobs)')
    .addHelpText(
      'after',
      `
Reads every pack's header and writes a fresh index, then removes the old index files.
Packs that cannot be read are left out and listed; cairn then exits with PACK_CORRUPT (20).

Example:
  cairn repair index`,
    )
    .action(async (_flags: unknown, c: Command) => {
      const ctx = CliContext.fromCommand(c, deps);
      const result = await ctx.withSession(async (s) => {
        const progress = createProgressReporter(ctx);
        try {
          return await s.repairIndex({ onProgress: (p) => progress.onProgress(p) });
        } finally {
          progress.done();
        }
      });
      for (const id of result.damagedPacks) ctx.out.warn(`damaged pack left out of the index: ${id}`);
      ctx.out.result(result, () => {
        for (const l of formatRepairSummary(result)) ctx.out.info(l);
      });
      if (result.damagedPacks.length > 0) {
        const n = result.damagedPacks.length;
        throw new ReportedFailure(
          new CairnError('PACK_CORRUPT', `${n} pack${n === 1 ? '' : 's'} could not be read and ${n === 1 ? 'was' : 'were'} left out of the index`, {
            hint: "run 'cairn check' to see which snapshots and files are affected",
          }),
        );
      }
    });
  return repair;
}
