import { usageError } from './usage-error.js';

function splitTags(entry: string, flag: string): string[] {
  const tags = entry.split(',').map((t) => t.trim());
  if (tags.some((t) => t === '')) {
    throw usageError(`empty tag in ${flag} "${entry}"`, 'tags are comma separated, e.g. --tag daily,db');
  }
  return tags;
}

/**
 * Tags to set on a snapshot: `--tag a --tag b,c` → ['a', 'b', 'c'], in order, without
 * duplicates. An empty tag is a USAGE error.
 */
export function parseTags(values: string[] | undefined, flag = '--tag'): string[] {
  const out: string[] = [];
  for (const v of values ?? []) {
    for (const t of splitTags(v, flag)) if (!out.includes(t)) out.push(t);
  }
  return out;
}

/**
 * Tags to filter by: each `--tag` entry is one group whose comma-separated tags must all
 * be present (AND); the entries are alternatives (OR). Entries are normalised ("a, b" →
 * "a,b") and passed as the engine's SnapshotFilter.tags expects.
 */
export function parseTagFilter(values: string[] | undefined, flag = '--tag'): string[] {
  return (values ?? []).map((v) => splitTags(v, flag).join(','));
}
