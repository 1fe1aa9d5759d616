import type { Command } from 'commander';
import { CairnError } from '../../core/errors/index.js';
import type { FindOptions, ListedNode, SnapshotInfo } from '../../engine/types.js';
import { formatBytes } from '../../util/format-bytes.js';
import { CliContext } from '../cli-context.js';
import type { CliDeps } from '../cli-deps.js';
import { collect } from '../collect.js';
import { formatMode } from '../format-mode.js';
import { formatTime } from '../format-time.js';
import { addSnapshotFilterOptions, parseSnapshotFilter, type RawFilterOptions } from '../snapshot-filter-options.js';

interface FindFlags extends RawFilterOptions {
  snapshot?: string[];
}

/** One group of the --json output: a snapshot and the nodes found in it. */
export interface FindGroup {
  snapshot: SnapshotInfo;
  matches: ListedNode[];
}

export function toFindOptions(patterns: string[], flags: FindFlags, cwd: string): FindOptions {
  const opts: FindOptions = { patterns: [...patterns] };
  const filter = parseSnapshotFilter(flags, cwd);
  if (filter) opts.filter = filter;
  if (flags.snapshot?.length) opts.snapshots = [...flags.snapshot];
  return opts;
}

function matchLine(n: ListedNode): string {
  const size = n.type === 'file' ? formatBytes(n.size) : '';
  const link = n.linkTarget !== undefined ? ` -> ${n.linkTarget}` : '';
  return `  ${formatMode(n.type, n.mode)}  ${size.padStart(10)}  ${formatTime(n.mtime)}  ${n.path}${link}`;
}

export function findCommand(parent: Command, deps: CliDeps): Command {
  const cmd = parent
    .command('find')
    .description('find files by name across snapshots')
    .argument('<pattern...>', 'globs matched against the base name, or the whole path when they contain "/"')
    .option('--snapshot <id>', 'search only this snapshot (repeatable; default: all)', collect);
  addSnapshotFilterOptions(cmd);
  return cmd
    .addHelpText(
      'after',
      `
Examples:
  cairn find '*.sqlite' 'notes.txt'
  cairn find '/home/*/.ssh/*' --host laptop
  cairn find report.pdf --snapshot 1a2b3c4d --json`,
    )
    .action(async (patterns: string[], flags: FindFlags, c: Command) => {
      const ctx = CliContext.fromCommand(c, deps);
      const opts = toFindOptions(patterns, flags, deps.cwd);
      const groups: FindGroup[] = [];
      let total = 0;
      await ctx.withSession(async (s) => {
        for await (const m of s.find(opts)) {
          if (ctx.signal.aborted) throw new CairnError('CANCELLED', 'search interrupted');
          let g = groups.at(-1);
          if (!g || g.snapshot.id !== m.snapshot.id) {
            g = groups.find((x) => x.snapshot.id === m.snapshot.id);
            if (!g) {
              g = { snapshot: m.snapshot, matches: [] };
              groups.push(g);
              if (!ctx.globals.json) {
                if (groups.length > 1) ctx.out.print();
                ctx.out.print(`snapshot ${m.snapshot.shortId} from ${formatTime(m.snapshot.time)} (${m.snapshot.host}):`);
              }
            }
          }
          total++;
          if (ctx.globals.json) g.matches.push(m.node);
          else ctx.out.print(matchLine(m.node));
        }
      });
      if (ctx.globals.json) ctx.out.json(groups);
      else if (total === 0) ctx.out.info('no matches');
      else ctx.out.info(`\n${total} match${total === 1 ? '' : 'es'} in ${groups.length} snapshot${groups.length === 1 ? '' : 's'}`);
    });
}
