import { resolve } from 'node:path';
import type { Command } from 'commander';
import type { SnapshotFilter } from '../engine/types.js';
import { collect } from './collect.js';
import { parseTagFilter } from './parse-tags.js';

export interface RawFilterOptions {
  host?: string[];
  tag?: string[];
  path?: string[];
}

/** Adds the shared snapshot filters --host, --tag, --path (all repeatable). */
export function addSnapshotFilterOptions(cmd: Command): Command {
  return cmd
    .option('--host <host>', 'only snapshots from this host (repeatable)', collect)
    .option('--tag <tags>', 'only snapshots with all of these comma-separated tags (repeatable: any entry matches)', collect)
    .option('--path <path>', 'only snapshots that include this backed-up path (repeatable)', collect);
}

/** The engine filter, or undefined when no filter flag was given. Paths become absolute. */
export function parseSnapshotFilter(opts: RawFilterOptions, cwd: string): SnapshotFilter | undefined {
  const f: SnapshotFilter = {};
  if (opts.host?.length) f.host = [...opts.host];
  if (opts.tag?.length) f.tags = parseTagFilter(opts.tag);
  if (opts.path?.length) f.paths = opts.path.map((p) => resolve(cwd, p));
  return Object.keys(f).length ? f : undefined;
}
