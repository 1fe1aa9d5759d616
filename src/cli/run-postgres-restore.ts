import type { PgRestoreResult } from '../engine/types.js';
import { formatBytes } from '../util/format-bytes.js';
import type { CliContext } from './cli-context.js';
import { formatKeyValues } from './format-key-values.js';
import { parsePitrTime } from './parse-pitr-time.js';
import { createProgressReporter } from './progress-reporter.js';
import { usageError } from './usage-error.js';

export interface PgRestoreFlags {
  source?: string;
  at?: string;
  target?: string;
  start?: boolean;
  port?: string;
  include?: string[];
  verify?: boolean;
}

export function formatPgRestoreSummary(r: PgRestoreResult): string[] {
  const pairs: [string, string][] = [
    ['base backup', `${r.snapshot.shortId} (${r.snapshot.time})`],
    ['recovers to', r.targetTime ? `${r.targetTime} (recovery_target_time)` : 'the end of the stored WAL'],
    ['window', `${r.window.from} .. ${r.window.to}`],
    ['WAL segments', `${r.segments} prefetched`],
    ['data', `${r.files} files, ${formatBytes(r.bytes)}`],
  ];
  if (r.started) pairs.push(['server', `started on port ${r.started.port}, recovered and promoted`]);
  return [`restored postgres data directory to ${r.target}`, ...formatKeyValues(pairs)];
}

/** `cairn restore --source NAME --at TIME --target DIR [--start --port P]`. */
export async function runPostgresRestore(ctx: CliContext, snapshot: string | undefined, flags: PgRestoreFlags): Promise<void> {
  if (snapshot !== undefined) throw usageError('give either a snapshot or --source, not both', 'cairn restore --source db1 --at latest --target DIR');
  if (!flags.target) throw usageError('missing --target', 'say where to build the data directory: --target DIR');
  if (flags.at === undefined) throw usageError('--source needs --at TIME or --at latest', 'cairn restore --source db1 --at 2026-11-27T10:00:00Z --target DIR');
  if (flags.include?.length || flags.verify) throw usageError('--include and --verify do not apply to --source restores');
  const at = parsePitrTime(flags.at);
  let port: number | undefined;
  if (flags.port !== undefined || flags.start) {
    if (!flags.start) throw usageError('--port needs --start');
    port = Number(flags.port ?? '5432');
    if (!Number.isInteger(port) || port < 1 || port > 65535) throw usageError(`--port ${flags.port}: expected 1..65535`);
  }
  const target = ctx.resolvePath(flags.target);
  const result = await ctx.withSession(async (s) => {
    const progress = createProgressReporter(ctx, { perFile: true });
    try {
      return await s.restorePostgres({
        source: flags.source!,
        at,
        target,
        ...(port !== undefined ? { start: { port } } : {}),
        onProgress: (p) => progress.onProgress(p),
        signal: ctx.signal,
      });
    } finally {
      progress.done();
    }
  });
  ctx.out.result(result, () => ctx.out.printLines(formatPgRestoreSummary(result)));
}
