import type { ForgetOptions } from '../engine/types.js';
import { usageError } from './usage-error.js';

export type GroupBy = NonNullable<ForgetOptions['groupBy']>;

/**
 * "host,paths" (the default), any subset of host, paths, tags; "" or "none" puts all
 * snapshots in one group. Unknown words are USAGE.
 */
export function parseGroupBy(text: string | undefined): GroupBy {
  const g: GroupBy = { host: false, paths: false, tags: false };
  const s = (text ?? 'host,paths').trim();
  if (s === '' || s === 'none') return g;
  for (const raw of s.split(',')) {
    const w = raw.trim();
    if (w === 'host' || w === 'hosts') g.host = true;
    else if (w === 'paths' || w === 'path') g.paths = true;
    else if (w === 'tags' || w === 'tag') g.tags = true;
    else {
      throw usageError(
        `invalid --group-by "${text}": unknown field "${w}"`,
        'use a comma-separated list of host, paths, tags (or "none")',
      );
    }
  }
  return g;
}
