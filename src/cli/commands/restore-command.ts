import { resolve } from 'node:path';
import type { Command } from 'commander';
import { CairnError } from '../../core/errors/index.js';
import type { RestoreOptions, RestoreResult } from '../../engine/types.js';
import { formatBytes } from '../../util/format-bytes.js';
import { CliContext } from '../cli-context.js';
import type { CliDeps } from '../cli-deps.js';
import { collect } from '../collect.js';
import { formatCount } from '../format-count.js';
import { formatDuration } from '../../util/format-duration.js';
import { formatKeyValues } from '../format-key-values.js';
import { formatTime } from '../format-time.js';
import { createProgressReporter } from '../progress-reporter.js';
import { ReportedFailure } from '../reported-failure.js';
import { addSnapshotFilterOptions, parseSnapshotFilter, type RawFilterOptions } from '../snapshot-filter-options.js';
import { usageError } from '../usage-error.js';
import { runPostgresRestore } from '../run-postgres-restore.js';
import { runS3Restore } from '../run-s3.js';
import { isRedisUrl, runRedisRestore } from '../run-redis.js';
import { runSqliteRestore } from '../run-sqlite.js';
import { isMariadbUrl, runMariadbRestore } from '../run-mariadb.js';

export interface RestoreFlags extends RawFilterOptions {
  target?: string;
  include?: string[];
  exclude?: string[];
  at?: string;
  atPosition?: string;
  atGtid?: string;
  verify?: boolean;
  source?: string;
  start?: boolean;
  port?: string;
  to?: string;
  includeDb?: string[];
  includeTable?: string[];
}

/**
 * Flags → engine RestoreOptions. Exactly one of SNAPSHOT and --at; --at must parse as
 * a date; the target becomes absolute.
 */
export function toRestoreOptions(snapshot: string | undefined, flags: RestoreFlags, cwd: string): RestoreOptions {
  if (flags.target === undefined || flags.target === '') {
    throw usageError('missing --target', 'say where to restore to: --target DIR');
  }
  if (snapshot !== undefined && flags.at !== undefined) {
    throw usageError('give either a snapshot or --at, not both', 'cairn restore latest --target DIR, or cairn restore --at 2026-03-01T12:00 --target DIR');
  }
  if (snapshot === undefined && flags.at === undefined) {
    throw usageError('missing snapshot', 'give a snapshot id, "latest", or --at TIME');
  }
  const opts: RestoreOptions = { snapshot: snapshot ?? 'latest', target: resolve(cwd, flags.target) };
  if (flags.at !== undefined) {
    if (Number.isNaN(Date.parse(flags.at))) {
      throw usageError(`invalid --at time "${flags.at}"`, 'use an ISO 8601 time such as 2026-03-01T12:00 or 2026-03-01T12:00:00Z');
    }
    opts.at = flags.at;
  }
  if (flags.include?.length) opts.include = [...flags.include];
  if (flags.exclude?.length) opts.exclude = [...flags.exclude];
  if (flags.verify) opts.verify = true;
  const filter = parseSnapshotFilter(flags, cwd);
  if (filter) opts.filter = filter;
  return opts;
}

export function formatRestoreSummary(r: RestoreResult, target: string, durationMs: number): string[] {
  const s = r.snapshot;
  const pairs: [string, string][] = [
    ['files', formatCount(r.files)],
    ['dirs', formatCount(r.dirs)],
    ['data', formatBytes(r.bytes)],
  ];
  if (r.verified) {
    const ok = r.verified.mismatches.length === 0;
    pairs.push([
      'verified',
      `${formatCount(r.verified.files)} files, ${formatBytes(r.verified.bytes)}: ${ok ? 'all match' : `${r.verified.mismatches.length} differ`}`,
    ]);
  }
  pairs.push(['duration', formatDuration(durationMs)]);
  return [`restored snapshot ${s.shortId} (${formatTime(s.time)}, ${s.host}) to ${target}`, ...formatKeyValues(pairs)];
}

export function restoreCommand(parent: Command, deps: CliDeps): Command {
  const cmd = parent
    .command('restore')
    .description('restore a snapshot (or part of it) into a directory, or into an S3 bucket with --to')
    .argument('[snapshot]', 'snapshot id, unique prefix, or "latest" (omit with --at)')
    .option('--target <dir>', 'directory to restore into (created if missing)')
    .option('--to <s3-url>', 'write the files as objects into s3://BUCKET[/PREFIX] (with their recorded metadata; nothing is deleted there)')
    .option('--include <path>', 'restore only this path inside the snapshot (repeatable)', collect)
    .option('--exclude <pattern>', 'leave out what matches (backup\'s --exclude syntax, on paths inside the snapshot; repeatable)', collect)
    .option('--at <time>', 'restore the newest snapshot taken at or before this time')
    .option('--verify', 'read the restored files back and compare them with the snapshot')
    .option('--source <name>', 'a PostgreSQL source: build a data directory recovering to --at (a time with offset, or latest); with --to: the S3 source to choose from')
    .option('--start', 'with --source: start the restored server and wait until it is promoted')
    .option('--port <port>', 'with --start: the port to start it on (default 5432)')
    .option('--include-db <db>', 'a mariadb source: restore only this database from the dump (and its binlog events; repeatable)', collect)
    .option('--include-table <db.table>', 'a mariadb source: restore only this table from the dump (and its row events; repeatable)', collect)
    .option('--at-position <file:pos>', 'a mariadb source: replay the binlog up to this position (exclusive; a transaction boundary), instead of --at')
    .option('--at-gtid <d-s-n>', 'a mariadb source: replay the binlog up to and including the transaction with this GTID, instead of --at');
  addSnapshotFilterOptions(cmd);
  return cmd
    .addHelpText(
      'after',
      `
The filters (--host, --tag, --path) narrow which snapshots "latest" and --at
choose from. With --verify a difference makes cairn exit with VERIFY_FAILED (21).

With --source NAME, --at is "latest" or ISO 8601 with an offset (2026-11-27T10:00:00Z):
the newest base backup before it is restored, the WAL needed is prefetched, and
recovery is configured to stop at that time and promote. A time outside every
window is refused before anything is written (TIME_OUT_OF_RANGE, or WAL_GAP).

With --to s3://BUCKET[/PREFIX], the snapshot's files are uploaded as objects under
that prefix with their recorded content type and metadata (an S3 source's, see
docs/sources/s3.md); "latest" and --at choose among S3 snapshots, narrowed with
--source NAME. Existing objects at the same keys are overwritten; nothing in the
target bucket is ever deleted.

Examples:
  cairn restore latest --target /tmp/restore
  cairn restore --source db1 --at 2026-11-27T10:00:00+01:00 --target /srv/pg-restore --start --port 5433
  cairn restore --source shop-db --at-gtid 0-1-4242 --to mariadb://root@127.0.0.1:3307/
  cairn restore 1a2b3c4d --target /srv/www --include /var/www/site --verify
  cairn restore latest --target /tmp/home --include /home/ann --exclude '*.iso' --exclude /home/ann/.cache
  cairn restore --source media-prod/photos --at 2026-03-01T12:00:00Z --to s3://media-restore/photos
  cairn restore --at 2026-03-01T12:00 --host db1 --target /tmp/yesterday`,
    )
    .action(async (snapshot: string | undefined, flags: RestoreFlags, c: Command) => {
      const ctx = CliContext.fromCommand(c, deps);
      if (flags.exclude?.length && (flags.to !== undefined || flags.source !== undefined)) {
        throw usageError('--exclude applies to restoring a snapshot\'s files into a directory (--target), not to --to or --source restores');
      }
      if (flags.to !== undefined && isMariadbUrl(flags.to)) return runMariadbRestore(ctx, snapshot, flags);
      if (flags.to !== undefined && isRedisUrl(flags.to)) return runRedisRestore(ctx, flags);
      // The source's type decides who restores it: one lookup (a second open of the
      // repository in this process reuses the derived key, see crypto/key-slot.ts).
      const type = flags.source !== undefined && snapshot === undefined && flags.to === undefined ? await ctx.withSession((s) => s.sourceType(flags.source!)) : null;
      if (type === 'mariadb') return runMariadbRestore(ctx, snapshot, flags);
      if (flags.includeDb?.length || flags.includeTable?.length || flags.atPosition !== undefined || flags.atGtid !== undefined) throw usageError('--include-db, --include-table, --at-position and --at-gtid apply to mariadb sources only (--source NAME with --to mariadb://… or --target DIR)');
      if (flags.to !== undefined) return runS3Restore(ctx, snapshot, flags);
      if (type === 'redis') return runRedisRestore(ctx, flags);
      if (type === 'sqlite') return runSqliteRestore(ctx, flags);
      if (flags.source !== undefined) return runPostgresRestore(ctx, snapshot, flags);
      if (flags.start || flags.port !== undefined) throw usageError('--start and --port apply to --source restores only');
      const opts = toRestoreOptions(snapshot, flags, deps.cwd);
      const started = deps.clock.now().getTime();
      const result = await ctx
        .withSession(async (s) => {
          const progress = createProgressReporter(ctx, { perFile: true });
          try {
            return await s.restore({
              ...opts,
              onProgress: (p) => progress.onProgress(p),
              estimateTotals: progress.wantsTotals,
              signal: ctx.signal,
            });
          } finally {
            progress.done();
          }
        })
        .catch((err: unknown) => {
          // Damaged data: everything else was restored; name each entry that was not.
          const details = err instanceof CairnError ? (err.details as { damaged?: { path: string; message: string }[]; refused?: { path: string; message: string }[] } | undefined) : undefined;
          for (const d of [...(details?.damaged ?? []), ...(details?.refused ?? [])]) ctx.out.warn(`not restored: ${d.path}: ${d.message}`);
          throw err;
        });
      for (const w of result.warnings) ctx.out.warn(w);
      const mismatches = result.verified?.mismatches ?? [];
      for (const m of mismatches) ctx.out.warn(`restored file differs from the snapshot: ${m}`);
      ctx.out.result(result, () => {
        const lines = formatRestoreSummary(result, opts.target, deps.clock.now().getTime() - started);
        for (const l of lines) ctx.out.info(l);
      });
      if (mismatches.length > 0) {
        throw new ReportedFailure(
          new CairnError('VERIFY_FAILED', `${mismatches.length} restored file${mismatches.length === 1 ? '' : 's'} differ from the snapshot`, {
            hint: 'check the target disk (free space, hardware errors) and run the restore again; then run cairn check --read-data',
          }),
        );
      }
    });
}
