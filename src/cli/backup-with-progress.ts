import type { Progress, RepositorySession, SourceWarning } from '../engine/types.js';
import type { CliContext } from './cli-context.js';
import { createProgressReporter, type ProgressReporter } from './progress-reporter.js';

/** What a backup call gets to report while it runs. */
export interface LiveBackupOptions {
  onProgress: (p: Progress) => void;
  onWarning: (w: SourceWarning) => void;
  signal: AbortSignal;
}

/**
 * Runs a backup (files or a source) in a session with a progress reporter, printing
 * each warning as it comes and, afterwards, those the result lists that were not
 * reported live — each once.
 */
export function backupWithProgress<R extends { warnings: SourceWarning[] }>(
  ctx: CliContext,
  reporter: { perFile?: boolean; label?: string },
  backup: (session: RepositorySession, live: LiveBackupOptions, progress: ProgressReporter) => Promise<R>,
): Promise<R> {
  return ctx.withSession(async (session) => {
    const progress = createProgressReporter(ctx, reporter);
    const printed = new Set<string>();
    try {
      const r = await backup(
        session,
        {
          onProgress: (p) => progress.onProgress(p),
          onWarning: (w) => {
            printed.add(warningText(w));
            ctx.out.warn(warningText(w));
          },
          signal: ctx.signal,
        },
        progress,
      );
      progress.done();
      for (const w of r.warnings) if (!printed.has(warningText(w))) ctx.out.warn(warningText(w));
      return r;
    } finally {
      progress.done();
    }
  });
}

function warningText(w: SourceWarning): string {
  return w.path ? `${w.path}: ${w.message} (${w.code})` : `${w.message} (${w.code})`;
}
