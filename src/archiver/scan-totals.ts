import { walk } from '../fs/walker.js';
import { walkOptionsFor, type WalkFilters } from './select-files.js';

export interface Totals {
  files: number;
  bytes: number;
  done: boolean;
}

/**
 * Counts the files and bytes a backup will go through, by walking the same paths
 * with the same excludes (without xattrs), concurrently with the backup itself, as
 * restic's scanner does. Only used for percent and ETA on a terminal; errors are
 * ignored here because the backup reports them.
 */
export function scanTotals(
  paths: string[],
  opts: { filters?: WalkFilters; signal?: AbortSignal },
): Totals {
  const totals: Totals = { files: 0, bytes: 0, done: false };
  void (async () => {
    try {
      for (const p of paths) {
        for await (const ev of walk(Buffer.from(p), { ...walkOptionsFor(opts.filters ?? { oneFileSystem: false }), onError: () => undefined })) {
          if (opts.signal?.aborted) return;
          if (ev.kind === 'entry' && ev.meta.type === 'file') {
            totals.files++;
            totals.bytes += ev.meta.size;
          }
        }
      }
      totals.done = true;
    } catch {
      // no totals, no ETA: the backup itself reports real errors
    }
  })();
  return totals;
}
