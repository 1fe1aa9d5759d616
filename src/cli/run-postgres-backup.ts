import type { PgBackupOptions, PgBackupResult } from '../engine/types.js';
import { formatBytes } from '../util/format-bytes.js';
import { formatDuration } from '../util/format-duration.js';
import type { CliContext } from './cli-context.js';
import { formatKeyValues } from './format-key-values.js';
import { filesOnlyFlags, rejectFlags, type BackupFlags } from './backup-flags.js';
import { parseTags } from './parse-tags.js';
import { createProgressReporter } from './progress-reporter.js';
import { usageError } from './usage-error.js';

/** `cairn backup postgres://…`: one URL, and none of the files-only flags. */
export function toPgBackupOptions(paths: string[], flags: BackupFlags): PgBackupOptions {
  if (paths.length !== 1) throw usageError('back up one postgres:// URL at a time, without other paths', 'cairn backup postgres://cairn@db1:5432/ --name db1');
  rejectFlags('a postgres:// source', filesOnlyFlags(flags));
  const opts: PgBackupOptions = { url: paths[0]! };
  if (flags.name !== undefined) {
    if (!/^[A-Za-z0-9_.-]{1,100}$/.test(flags.name)) throw usageError(`--name "${flags.name}": use letters, digits, ".", "_" and "-"`);
    opts.name = flags.name;
  }
  if (flags.mode) opts.mode = flags.mode;
  const tags = parseTags(flags.tag);
  if (tags.length) opts.tags = tags;
  if (flags.host !== undefined) opts.host = flags.host;
  if (flags.logical) opts.logical = true;
  return opts;
}

export function formatPgBackupSummary(r: PgBackupResult): string[] {
  const s = r.snapshot;
  const meta = (s.sourceMeta ?? {}) as Record<string, unknown>;
  const pairs: [string, string][] = [
    ['source', `postgres ${r.name} (${s.paths.join(', ')})`],
    ['server', `PostgreSQL ${String(meta.serverVersion ?? '?')}, system ${String(meta.systemId ?? '?')}, timeline ${String(meta.timeline ?? '?')}`],
    ['WAL', `${String(meta.startLsn ?? '?')} .. ${String(meta.stopLsn ?? '?')} (${String(meta.startSegment ?? '')})`],
  ];
  if (s.summary) {
    pairs.push(
      ['read', formatBytes(s.summary.bytesRead)],
      ['added', `${formatBytes(s.summary.bytesAdded)} (${formatBytes(s.summary.bytesAddedPacked)} stored)`],
      ['duration', formatDuration(s.summary.durationMs)],
    );
  }
  if (r.logical) pairs.push(['logical', `snapshot ${r.logical.shortId}`]);
  return [`snapshot ${s.shortId} saved (base backup)`, ...formatKeyValues(pairs)];
}

export async function runPostgresBackup(ctx: CliContext, paths: string[], flags: BackupFlags): Promise<void> {
  const opts = toPgBackupOptions(paths, flags);
  const result = await ctx.withSession(async (session) => {
    const progress = createProgressReporter(ctx, { perFile: true });
    try {
      return await session.backupPostgres({
        ...opts,
        onProgress: (p) => progress.onProgress(p),
        onWarning: (w) => ctx.out.warn(w.path ? `${w.path}: ${w.message}` : w.message),
        signal: ctx.signal,
      });
    } finally {
      progress.done();
    }
  });
  ctx.out.result(result, () => ctx.out.printLines(formatPgBackupSummary(result)));
}
