import { CairnError } from '../core/errors/index.js';
import type { S3BackupOptions, S3BackupResult, S3RestoreOptions, S3RestoreResult } from '../engine/types.js';
import { formatBytes } from '../util/format-bytes.js';
import { formatDuration } from '../util/format-duration.js';
import type { CliContext } from './cli-context.js';
import { formatCount } from './format-count.js';
import { formatKeyValues } from './format-key-values.js';
import { formatTime } from './format-time.js';
import { backupWithProgress } from './backup-with-progress.js';
import { rejectFlags, snapshotFlags, walkFlags, type BackupFlags } from './backup-flags.js';
import { createProgressReporter } from './progress-reporter.js';
import { ReportedFailure } from './reported-failure.js';
import { parseSnapshotFilter, type RawFilterOptions } from './snapshot-filter-options.js';
import { usageError } from './usage-error.js';

/** An s3:// argument of `backup` is a source by context: the repository is always --repo. */
export function isS3Url(arg: string): boolean {
  return /^s3:\/\//i.test(arg);
}

/** `cairn backup s3://bucket/prefix`: one URL, and none of the files-only flags. */
export function toS3BackupOptions(paths: string[], flags: BackupFlags): S3BackupOptions {
  if (paths.length !== 1) throw usageError('back up one s3:// URL at a time, without other paths', 'cairn backup s3://bucket/prefix --name photos');
  // --parent and --dry-run apply to a bucket too.
  rejectFlags('an s3:// source', [...walkFlags(flags), ['--mirror', flags.mirror?.length], ['--logical', flags.logical]]);
  const opts: S3BackupOptions = { url: paths[0]! };
  if (flags.name !== undefined) {
    if (flags.name.trim() === '' || flags.name.length > 300) throw usageError('--name must be 1 to 300 characters');
    opts.name = flags.name;
  }
  Object.assign(opts, snapshotFlags(flags));
  if (flags.parent !== undefined) opts.parent = flags.parent;
  if (flags.dryRun) opts.dryRun = true;
  return opts;
}

export function formatS3BackupSummary(r: S3BackupResult, dryRun: boolean): string[] {
  const s = r.snapshot;
  const sum = s.summary;
  const pairs: [string, string][] = [
    ['source', `s3 ${r.name} (${s.paths.join(', ')})`],
    ['mode', s.parent ? `${s.mode} (parent ${s.parent.slice(0, 8)})` : s.mode],
    ['objects', `${formatCount(r.objects)} listed, ${formatCount(r.objectsRead)} read`],
  ];
  if (s.tags.length) pairs.push(['tags', s.tags.join(', ')]);
  if (sum) {
    pairs.push(
      ['files', `${formatCount(sum.filesNew)} new, ${formatCount(sum.filesChanged)} changed, ${formatCount(sum.filesUnchanged)} unchanged`],
      ['read', formatBytes(sum.bytesRead)],
      ['added', `${formatBytes(sum.bytesAdded)} (${formatBytes(sum.bytesAddedPacked)} stored)`],
      ['duration', formatDuration(sum.durationMs)],
    );
    if (sum.errors) pairs.push(['errors', formatCount(sum.errors)]);
  }
  const head = dryRun ? `dry run: nothing was written; snapshot ${s.shortId} would have been saved` : `snapshot ${s.shortId} saved`;
  return [head, ...formatKeyValues(pairs)];
}

export async function runS3Backup(ctx: CliContext, paths: string[], flags: BackupFlags): Promise<void> {
  const opts = toS3BackupOptions(paths, flags);
  const result = await backupWithProgress(ctx, { perFile: true, label: 'object' }, (session, live) => session.backupS3({ ...opts, ...live }));
  ctx.out.result(result, () => ctx.out.printLines(formatS3BackupSummary(result, opts.dryRun === true)));
  if (result.partial) {
    const n = result.warnings.filter((w) => w.code === 'UNREADABLE').length || result.warnings.length;
    throw new ReportedFailure(
      new CairnError('SOURCE_PARTIAL', `${n} object${n === 1 ? '' : 's'} could not be read; snapshot ${result.snapshot.shortId} was saved without ${n === 1 ? 'it' : 'them'}`, {
        hint: 'see the warnings above: the policy needs s3:GetObject on every object under the prefix',
      }),
      'warning',
    );
  }
}

export interface S3RestoreFlags extends RawFilterOptions {
  to?: string;
  target?: string;
  include?: string[];
  at?: string;
  source?: string;
  verify?: boolean;
  start?: boolean;
  port?: string;
}

/** `cairn restore [SNAP] --to s3://…` flags → engine options. */
export function toS3RestoreOptions(snapshot: string | undefined, flags: S3RestoreFlags, cwd: string): S3RestoreOptions {
  if (flags.target !== undefined) throw usageError('give either --to s3://… or --target DIR, not both');
  if (!flags.to || !isS3Url(flags.to)) throw usageError(`--to takes an s3:// URL, got "${flags.to ?? ''}"`, 'cairn restore latest --source photos --to s3://restored/photos; use --target DIR for a directory');
  if (flags.verify || flags.start || flags.port !== undefined) throw usageError('--verify, --start and --port do not apply to --to restores');
  if (snapshot !== undefined && flags.at !== undefined) throw usageError('give either a snapshot or --at, not both');
  if (snapshot === undefined && flags.at === undefined) throw usageError('missing snapshot', 'give a snapshot id, "latest", or --at TIME');
  const opts: S3RestoreOptions = { snapshot: snapshot ?? 'latest', to: flags.to };
  // `--at latest` as for every other source (restore --help): the newest snapshot.
  if (flags.at !== undefined && flags.at.trim() !== 'latest') {
    if (Number.isNaN(Date.parse(flags.at))) throw usageError(`invalid --at time "${flags.at}"`, 'use an ISO 8601 time such as 2026-03-01T12:00:00Z');
    opts.at = flags.at;
  }
  if (flags.source !== undefined) opts.source = flags.source;
  if (flags.include?.length) opts.include = [...flags.include];
  const filter = parseSnapshotFilter(flags, cwd);
  if (filter) opts.filter = filter;
  return opts;
}

export function formatS3RestoreSummary(r: S3RestoreResult, durationMs: number): string[] {
  const s = r.snapshot;
  return [
    `restored snapshot ${s.shortId} (${formatTime(s.time)}, ${s.source.type} ${s.source.name}) to ${r.to}`,
    ...formatKeyValues([
      ['objects', formatCount(r.objects)],
      ['data', formatBytes(r.bytes)],
      ['duration', formatDuration(durationMs)],
    ]),
  ];
}

export async function runS3Restore(ctx: CliContext, snapshot: string | undefined, flags: S3RestoreFlags): Promise<void> {
  const opts = toS3RestoreOptions(snapshot, flags, ctx.deps.cwd);
  const started = ctx.deps.clock.now().getTime();
  const result = await ctx.withSession(async (s) => {
    const progress = createProgressReporter(ctx, { perFile: true, label: 'object' });
    try {
      return await s.restoreS3({ ...opts, onProgress: (p) => progress.onProgress(p), signal: ctx.signal });
    } finally {
      progress.done();
    }
  });
  for (const w of result.warnings) ctx.out.warn(w);
  ctx.out.result(result, () => ctx.out.printLines(formatS3RestoreSummary(result, ctx.deps.clock.now().getTime() - started)));
}
