import type { Command } from 'commander';
import type { DiffEntry, DiffResult } from '../../engine/types.js';
import { CliContext } from '../cli-context.js';
import type { CliDeps } from '../cli-deps.js';

const MARK: Record<DiffEntry['change'], string> = {
  added: '+',
  removed: '-',
  modified: 'M',
  metadata: 'U',
  type: 'T',
};

export function formatDiff(d: DiffResult): string[] {
  const lines = d.entries.map((e) => `${MARK[e.change]}  ${e.path}`);
  const st = d.stats;
  lines.push('', `added ${st.added}, removed ${st.removed}, modified ${st.modified}, metadata only ${st.metadata}`);
  return lines;
}

export function diffCommand(parent: Command, deps: CliDeps): Command {
  return parent
    .command('diff')
    .description('show what changed between two snapshots')
    .argument('<snapshot-a>', 'the older snapshot (id, prefix or "latest")')
    .argument('<snapshot-b>', 'the newer snapshot')
    .addHelpText(
      'after',
      `
Each line starts with + (added), - (removed), M (content modified),
U (metadata only: mode, owner, times) or T (type changed, e.g. file → symlink).

Example:
  cairn diff 1a2b3c4d latest`,
    )
    .action(async (a: string, b: string, _flags: unknown, c: Command) => {
      const ctx = CliContext.fromCommand(c, deps);
      const result = await ctx.withSession((s) => s.diff(a, b));
      ctx.out.result(result, () => ctx.out.printLines(formatDiff(result)));
    });
}
