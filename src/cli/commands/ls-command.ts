import type { Command } from 'commander';
import { CairnError } from '../../core/errors/index.js';
import type { ListedNode } from '../../engine/types.js';
import { formatBytes } from '../../util/format-bytes.js';
import { CliContext } from '../cli-context.js';
import type { CliDeps } from '../cli-deps.js';
import { formatMode } from '../format-mode.js';
import { formatTable } from '../format-table.js';
import { formatTime } from '../format-time.js';

interface LsFlags {
  recursive?: boolean;
  long?: boolean;
}

function nameOf(n: ListedNode): string {
  return n.linkTarget !== undefined ? `${n.path} -> ${n.linkTarget}` : n.path;
}

/** `ls -l` rows: mode, owner, group, size, mtime, path. */
export function formatLongListing(nodes: readonly ListedNode[]): string[] {
  const rows = nodes.map((n) => [
    formatMode(n.type, n.mode),
    n.user ?? String(n.uid),
    n.group ?? String(n.gid),
    n.type === 'file' ? formatBytes(n.size) : '',
    formatTime(n.mtime),
    nameOf(n),
  ]);
  // A listing, not a report: no header rule.
  return formatTable(['', '', '', { header: '', align: 'right' }, '', ''], rows).slice(2);
}

export function lsCommand(parent: Command, deps: CliDeps): Command {
  return parent
    .command('ls')
    .description('list files and directories in a snapshot')
    .argument('<snapshot>', 'snapshot id, unique prefix, or "latest"')
    .argument('[path]', 'directory or file inside the snapshot (default: /)')
    .option('-R, --recursive', 'list everything below the path, not just its entries')
    .option('-l, --long', 'long format: mode, owner, group, size, modification time')
    .addHelpText(
      'after',
      `
Examples:
  cairn ls latest
  cairn ls 1a2b3c4d /home/alice/projects -l
  cairn ls latest /etc --recursive --json`,
    )
    .action(async (snapshot: string, path: string | undefined, flags: LsFlags, c: Command) => {
      const ctx = CliContext.fromCommand(c, deps);
      const buffer = ctx.globals.json || flags.long === true;
      const nodes: ListedNode[] = [];
      await ctx.withSession(async (s) => {
        for await (const n of s.ls(snapshot, { path: path ?? '/', recursive: flags.recursive === true })) {
          if (ctx.signal.aborted) throw new CairnError('CANCELLED', 'listing interrupted');
          if (buffer) nodes.push(n);
          else ctx.out.print(nameOf(n));
        }
      });
      if (ctx.globals.json) ctx.out.json(nodes);
      else if (flags.long) ctx.out.printLines(formatLongListing(nodes));
    });
}
