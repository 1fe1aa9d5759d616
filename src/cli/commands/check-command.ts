import type { Command } from 'commander';
import { CairnError } from '../../core/errors/index.js';
import type { CheckOptions, CheckResult } from '../../engine/types.js';
import { formatBytes } from '../../util/format-bytes.js';
import { CliContext } from '../cli-context.js';
import type { CliDeps } from '../cli-deps.js';
import { formatCount } from '../format-count.js';
import { formatSubset, parseSubset } from '../parse-subset.js';
import { createProgressReporter } from '../progress-reporter.js';
import { ReportedFailure } from '../reported-failure.js';

export interface CheckFlags {
  readData?: boolean;
  readDataSubset?: string;
}

/** --read-data-subset implies --read-data. */
export function toCheckOptions(flags: CheckFlags): CheckOptions {
  const opts: CheckOptions = {};
  if (flags.readDataSubset !== undefined) {
    opts.readData = true;
    opts.readDataSubset = formatSubset(parseSubset(flags.readDataSubset));
  } else if (flags.readData) {
    opts.readData = true;
  }
  return opts;
}

/** The check report: problems, every damaged pack, and what each one affects. */
export function formatCheckReport(r: CheckResult): string[] {
  const lines = [`checked ${formatCount(r.packsChecked)} packs, read ${formatBytes(r.bytesRead)}`];
  const n = r.unindexedPacks.length;
  if (n > 0) {
    lines.push(
      `${formatCount(n)} pack${n === 1 ? ' is' : 's are'} in the repository but in no index file (left by an interrupted backup or repair, or being stored by a backup running now): not damage; the next backup or prune indexes ${n === 1 ? 'it' : 'them'}`,
    );
  }
  if (r.ok && r.problems.length === 0) {
    lines.push('no errors were found');
    return lines;
  }
  lines.push('', `${r.problems.length} problem${r.problems.length === 1 ? '' : 's'}:`);
  for (const p of r.problems) lines.push(`  ${p.kind} ${p.id.slice(0, 16)}: ${p.message}`);
  if (r.damagedPacks.length) {
    lines.push('', 'damaged packs:');
    for (const id of r.damagedPacks) lines.push(`  ${id}`);
  }
  if (r.affected.length) {
    lines.push('', 'affected snapshots and files:');
    for (const a of r.affected) {
      lines.push(`  snapshot ${a.snapshot.slice(0, 8)}:`);
      for (const p of a.paths) lines.push(`    ${p}`);
    }
  }
  if (r.affectedWal?.length) {
    lines.push('', 'affected WAL segments (point-in-time recovery through them fails):');
    for (const a of r.affectedWal) {
      lines.push(`  source ${a.source}:`);
      for (const s of a.segments) lines.push(`    ${s}`);
    }
    lines.push("  (once 'cairn repair packs' took the damage out, 'cairn repair snapshots --forget' drops them from the catalog)");
  }
  return lines;
}

export function checkCommand(parent: Command, deps: CliDeps): Command {
  return parent
    .command('check')
    .description('verify the repository structure and, optionally, its data')
    .option('--read-data', 'also read and authenticate every pack (slow: reads the whole repository)')
    .option('--read-data-subset <subset>', 'read only part of the packs: "10%" (random) or "n/m" (slice n of m); implies --read-data')
    .addHelpText(
      'after',
      `
Without --read-data, check verifies the index, snapshots, trees and WAL records. With
it, every pack is downloaded and authenticated. When damage is found cairn prints each
damaged pack, the snapshots and files and the WAL segments whose data it holds, and
exits with CHECK_FAILED (20).

Examples:
  cairn check
  cairn check --read-data-subset 10%
  cairn check --read-data-subset 3/7     # slice 3 of 7: check a seventh per day`,
    )
    .action(async (flags: CheckFlags, c: Command) => {
      const ctx = CliContext.fromCommand(c, deps);
      const opts = toCheckOptions(flags);
      const result = await ctx.withSession(async (s) => {
        const progress = createProgressReporter(ctx);
        try {
          return await s.check({ ...opts, onProgress: (p) => progress.onProgress(p) });
        } finally {
          progress.done();
        }
      });
      // The report is what the operator asked for, so it prints even under --quiet.
      ctx.out.result(result, () => ctx.out.printLines(formatCheckReport(result)));
      if (!result.ok || result.problems.length > 0) {
        const n = result.problems.length;
        throw new ReportedFailure(
          new CairnError('CHECK_FAILED', `check found ${n} problem${n === 1 ? '' : 's'} (${result.damagedPacks.length} damaged pack${result.damagedPacks.length === 1 ? '' : 's'})`, {
            hint:
              result.damagedPacks.length > 0
                ? "'cairn repair packs <id>...' takes damaged packs out, keeping what still reads ('cairn repair index' drops missing ones); then back up the affected files again; 'cairn repair snapshots --forget' rewrites the snapshots that still miss data"
                : "if only the index is damaged run 'cairn repair index'; otherwise back up the affected files again; 'cairn repair snapshots --forget' rewrites the snapshots that still miss data",
          }),
        );
      }
    });
}
