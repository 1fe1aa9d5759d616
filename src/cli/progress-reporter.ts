import type { Progress } from '../engine/types.js';
import { ProgressBar } from '../util/progress-bar.js';
import type { CliContext } from './cli-context.js';

export interface ProgressReporter {
  /** True when a bar is drawn: only then is it worth computing totals for percent and ETA. */
  readonly wantsTotals: boolean;
  onProgress(p: Progress): void;
  /** Clears the bar (or prints finalLine in its place). Safe to call twice. */
  done(finalLine?: string): void;
}

/**
 * A progress bar on stderr when it is a terminal and neither --quiet, --json nor
 * --no-progress is set. With perFile and --verbose, each new file path is printed on
 * stderr instead (a bar would be torn by the interleaved lines).
 */
export function createProgressReporter(ctx: CliContext, opts: { perFile?: boolean; label?: string } = {}): ProgressReporter {
  const g = ctx.globals;
  const perFileLines = opts.perFile === true && g.verbose;
  const enabled = ctx.deps.stderr.isTTY === true && !g.quiet && !g.json && g.progress && !perFileLines;
  const bar = new ProgressBar({ stream: ctx.deps.stderr, enabled, clock: ctx.deps.clock });
  let lastPath: string | undefined;
  let finished = false;
  return {
    wantsTotals: enabled,
    onProgress(p: Progress): void {
      if (perFileLines && p.currentPath !== undefined && p.currentPath !== lastPath) {
        lastPath = p.currentPath;
        ctx.out.verbose(`${opts.label ?? p.phase} ${p.currentPath}`);
      }
      if (enabled) bar.update(p);
    },
    done(finalLine?: string): void {
      if (finished) return;
      finished = true;
      bar.done(finalLine);
    },
  };
}
