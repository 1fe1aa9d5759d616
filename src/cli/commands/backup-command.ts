import { resolve } from 'node:path';
import { Option, type Command } from 'commander';
import { CairnError } from '../../core/errors/index.js';
import { WalkAhead } from '../../archiver/walk-ahead.js';
import type { BackupOptions, BackupResult } from '../../engine/types.js';
import { formatBytes } from '../../util/format-bytes.js';
import { CliContext } from '../cli-context.js';
import type { CliDeps } from '../cli-deps.js';
import { collect } from '../collect.js';
import { formatCount } from '../format-count.js';
import { formatDuration } from '../../util/format-duration.js';
import { formatKeyValues } from '../format-key-values.js';
import { backupWithProgress } from '../backup-with-progress.js';
import { snapshotFlags, type BackupFlags } from '../backup-flags.js';
import { ReportedFailure } from '../reported-failure.js';
import { usageError } from '../usage-error.js';
import { parseSize } from '../parse-size.js';
import { runPostgresBackup } from '../run-postgres-backup.js';
import { isS3Url, runS3Backup } from '../run-s3.js';
import { isRedisUrl, runRedisBackup } from '../run-redis.js';
import { isSqliteUrl, runSqliteBackup } from '../run-sqlite.js';
import { isMariadbUrl, runMariadbBackup } from '../run-mariadb.js';

/** Flags → engine BackupOptions. Source paths and exclude files become absolute. */
export function toBackupOptions(paths: string[], flags: BackupFlags, cwd: string): BackupOptions {
  if (paths.length === 0) throw usageError('no path to back up', "give one or more paths: cairn backup /home /etc");
  // `cairn backup "$DIR"` with DIR unset must not back up the working directory.
  if (paths.some((p) => p === '')) throw usageError('an empty path to back up', 'a shell variable given as a path may be unset; use "." for the working directory');
  const opts: BackupOptions = { paths: paths.map((p) => resolve(cwd, p)), ...snapshotFlags(flags) };
  if (flags.exclude?.length) opts.excludes = [...flags.exclude];
  if (flags.excludeFile?.length) opts.excludeFiles = flags.excludeFile.map((p) => resolve(cwd, p));
  if (flags.oneFileSystem) opts.oneFileSystem = true;
  if (flags.excludeLargerThan !== undefined) opts.excludeLargerThan = parseSize(flags.excludeLargerThan, '--exclude-larger-than');
  if (flags.excludeIfPresent?.length) opts.excludeIfPresent = [...flags.excludeIfPresent];
  if (flags.excludeCaches) opts.excludeCaches = true;
  if (flags.atime) opts.atime = true;
  if (flags.parent !== undefined) opts.parent = flags.parent;
  if (flags.dryRun) opts.dryRun = true;
  if (flags.mirror?.length) {
    if (flags.mirror.some((m) => m.trim() === '')) throw usageError('--mirror must not be empty');
    opts.mirrors = [...new Set(flags.mirror)];
  }
  return opts;
}

/** CAIRN_MIRRORS: comma-separated mirror locations, used when no --mirror is given. */
export function mirrorsFromEnv(env: Record<string, string | undefined>): string[] {
  return (env.CAIRN_MIRRORS ?? '')
    .split(',')
    .map((m) => m.trim())
    .filter((m) => m !== '');
}

/** One line per mirror: how it fared. */
export function formatMirrorLines(r: BackupResult): string[] {
  return (r.mirrors ?? []).map((m) => {
    if (!m.ok) return `mirror ${m.location}: FAILED: ${m.error?.message ?? 'unknown error'} [${m.error?.code ?? 'INTERNAL'}]`;
    const caught = m.packsCopied > 0 ? ` (caught up ${formatCount(m.packsCopied)} pack${m.packsCopied === 1 ? '' : 's'}, ${formatBytes(m.bytesCopied)})` : '';
    return `mirror ${m.location}: ok${caught}`;
  });
}

/** The human summary printed after a backup. */
export function formatBackupSummary(r: BackupResult, dryRun: boolean): string[] {
  const s = r.snapshot;
  const sum = s.summary;
  const head = dryRun
    ? `dry run: nothing was written; snapshot ${s.shortId} would have been saved`
    : `snapshot ${s.shortId} saved`;
  const pairs: [string, string][] = [
    ['mode', s.parent ? `${s.mode} (parent ${s.parent.slice(0, 8)})` : s.mode],
    ['paths', s.paths.join(', ')],
  ];
  if (s.tags.length) pairs.push(['tags', s.tags.join(', ')]);
  if (sum) {
    pairs.push(
      ['files', `${formatCount(sum.filesNew)} new, ${formatCount(sum.filesChanged)} changed, ${formatCount(sum.filesUnchanged)} unchanged`],
      ['dirs', `${formatCount(sum.dirsNew)} new, ${formatCount(sum.dirsChanged)} changed, ${formatCount(sum.dirsUnchanged)} unchanged`],
      ['read', formatBytes(sum.bytesRead)],
      ['added', `${formatBytes(sum.bytesAdded)} (${formatBytes(sum.bytesAddedPacked)} stored)`],
      ['duration', formatDuration(sum.durationMs)],
    );
    if (sum.errors) pairs.push(['errors', formatCount(sum.errors)]);
  }
  return [head, ...formatKeyValues(pairs)];
}

export function backupCommand(parent: Command, deps: CliDeps): Command {
  return parent
    .command('backup')
    .description('back up files and directories, or one database or bucket by URL (postgres://, mariadb://, redis://, sqlite://, s3://), into a new snapshot')
    .argument('<path...>', 'files or directories to back up, or one postgres://, mariadb://, redis://, sqlite:// or s3:// URL')
    .addOption(
      new Option('--mode <mode>', 'full, differential (against the last full) or incremental (against the last snapshot)').choices([
        'full',
        'differential',
        'incremental',
      ]),
    )
    .option('--tag <tags>', 'tag the snapshot (repeatable, or comma-separated)', collect)
    .option('--host <name>', 'record this host name instead of the machine\'s')
    .option('--exclude <glob>', 'skip paths matching the glob (repeatable)', collect)
    .option('--exclude-file <file>', 'read exclude globs from a file, one per line (repeatable)', collect)
    .option('--one-file-system', 'do not cross file-system boundaries')
    .option('--exclude-larger-than <size>', 'skip files larger than this (e.g. 2G, 500M; binary units)')
    .option('--exclude-if-present <name[:header]>', 'keep only this file of a directory that holds it (and starts with header, if given); repeatable', collect)
    .option('--exclude-caches', 'keep only the CACHEDIR.TAG of directories it marks as caches')
    .option('--atime', 'also record access times (off by default: reading a file moves its access time, which would change its directory in every backup)')
    .option('--parent <snapshot>', 'compare against this snapshot instead of the one the mode picks')
    .option('--dry-run', 'read the sources and report, but write nothing to the repository')
    .option('--mirror <repo>', 'also write the backup to this mirror (made with init --mirror-of; repeatable; env CAIRN_MIRRORS, comma-separated)', collect)
    .option('--name <name>', 'postgres:// and s3:// only: the source name grouping its snapshots (default: the system identifier; bucket/prefix)')
    .option('--logical', 'postgres:// only: also store a pg_dump (custom format) of every database, as a second snapshot')
    .addHelpText(
      'after',
      `
Prints a summary: new/changed/unchanged files, bytes added, duration, snapshot id.
Unreadable files are reported as warnings; the snapshot is still saved and cairn
exits with code 3. --verbose lists every file on stderr.

With --mirror, every pack goes to each mirror as it is written and the snapshot
follows once it is saved in the primary; a mirror that missed earlier backups is
caught up. A mirror that fails never fails the primary: the summary names it and
cairn exits with code 5 (MIRROR_FAILED). A --mirror with other keys is refused
before anything is written (MIRROR_MISMATCH).

A postgres:// URL takes a base backup (pg_basebackup, with the WAL it needs) into
a snapshot of source type postgres; see docs/sources/postgres.md.

An s3://BUCKET[/PREFIX][?endpoint=URL&region=R&path-style=true] URL backs up the
objects under that prefix (a source, not a repository: the repository is --repo),
with content types and user metadata, streamed without staging on disk. Objects
whose ETag, size and LastModified match the last snapshot of the same source are
not downloaded again. Credentials come from the AWS environment or profile; see
docs/sources/s3.md.

Examples:
  cairn backup /home/alice --tag daily --exclude '*.tmp'
  cairn backup postgres://cairn@db1:5432/ --name db1 --tag nightly
  cairn backup s3://media-prod/photos --tag nightly
  cairn backup 's3://assets/site?endpoint=http://minio:9000' --name assets
  cairn backup /etc /var/www --mode incremental --tag web,nightly
  cairn backup /home --mirror /mnt/usb/mirror --mirror /srv/nas/mirror`,
    )
    .action(async (paths: string[], flags: BackupFlags, cmd: Command) => {
      const ctx = CliContext.fromCommand(cmd, deps);
      if (paths.some((p) => /^postgres(ql)?:\/\//i.test(p))) return runPostgresBackup(ctx, paths, flags);
      if (paths.some(isS3Url)) return runS3Backup(ctx, paths, flags);
      if (paths.some(isRedisUrl)) return runRedisBackup(ctx, paths, flags);
      if (paths.some(isSqliteUrl)) return runSqliteBackup(ctx, paths, flags);
      if (paths.some(isMariadbUrl)) return runMariadbBackup(ctx, paths, flags);
      if (flags.name !== undefined || flags.logical) throw usageError('--name and --logical apply to postgres:// and s3:// sources only');
      const opts = toBackupOptions(paths, flags, deps.cwd);
      if (!opts.mirrors) {
        const fromEnv = mirrorsFromEnv(deps.env);
        if (fromEnv.length > 0) opts.mirrors = [...new Set(fromEnv)];
      }
      // Walk while scrypt unlocks the key: it leaves the main thread idle for ~0.5 s.
      const walkAhead = new WalkAhead(opts, { clock: deps.clock });
      const result = await backupWithProgress(ctx, { perFile: true }, (session, live, progress) =>
        session.backup({ ...opts, walkAhead, ...live, estimateTotals: progress.wantsTotals }),
      ).finally(() => void walkAhead.close());
      ctx.out.result(result, () => {
        for (const line of formatBackupSummary(result, opts.dryRun === true)) ctx.out.info(line);
        // A failed mirror is printed even under --quiet: it is the news of this run.
        for (const line of formatMirrorLines(result)) (line.includes(': FAILED: ') ? ctx.out.print(line) : ctx.out.info(line));
      });
      const failed = (result.mirrors ?? []).filter((m) => !m.ok);
      if (failed.length > 0) {
        const total = result.mirrors!.length;
        throw new ReportedFailure(
          new CairnError(
            'MIRROR_FAILED',
            `${failed.length} of ${total} mirror${total === 1 ? '' : 's'} failed (${failed.map((m) => `${m.location}: ${m.error?.code ?? 'INTERNAL'}`).join('; ')}); snapshot ${result.snapshot.shortId} is saved in the primary${failed.length < total ? ` and ${total - failed.length} healthy mirror${total - failed.length === 1 ? '' : 's'}` : ''}`,
            { hint: 'the next backup with the same --mirror catches a mirror up, or run `cairn copy --from PRIMARY --to MIRROR` once it is reachable' },
          ),
        );
      }
      if (result.partial) {
        const n = result.warnings.filter((w) => w.code === 'UNREADABLE').length || result.warnings.length;
        throw new ReportedFailure(
          new CairnError(
            'SOURCE_PARTIAL',
            `${n} source item${n === 1 ? '' : 's'} could not be read; snapshot ${result.snapshot.shortId} was saved without ${n === 1 ? 'it' : 'them'}`,
            { hint: 'see the warnings above: fix permissions, or exclude the paths with --exclude' },
          ),
          'warning',
        );
      }
    });
}
