import type { Command } from 'commander';
import type { CopyOptions, CopyResult } from '../../engine/types.js';
import { formatBytes } from '../../util/format-bytes.js';
import { CliContext } from '../cli-context.js';
import type { CliDeps } from '../cli-deps.js';
import { formatCount } from '../format-count.js';
import { formatKeyValues } from '../format-key-values.js';
import { createProgressReporter } from '../progress-reporter.js';
import { resolvePassword } from '../resolve-password.js';
import { addSnapshotFilterOptions, parseSnapshotFilter, type RawFilterOptions } from '../snapshot-filter-options.js';
import { usageError } from '../usage-error.js';

export interface CopyFlags extends RawFilterOptions {
  from?: string;
  to?: string;
  fromPasswordFile?: string;
  source?: string;
  /** false with --no-wal. */
  wal?: boolean;
  dryRun?: boolean;
}

function nonEmpty(v: string | undefined): string | undefined {
  return v === undefined || v.trim() === '' ? undefined : v;
}

/** The human summary of a copy. */
export function formatCopySummary(r: CopyResult): string[] {
  const lines: string[] = [];
  const verb = r.dryRun ? 'would copy' : 'copied';
  for (const { source, copy } of r.copied) {
    lines.push(
      r.method === 'packs' || r.dryRun
        ? `${verb} snapshot ${source.shortId} (${source.time}, ${source.paths.join(', ')})`
        : `${verb} snapshot ${source.shortId} as ${copy.shortId} (${source.time}, ${source.paths.join(', ')})`,
    );
  }
  const w = r.wal;
  const walCopied = w?.recordsCopied ?? 0;
  const head = r.dryRun
    ? 'dry run: nothing was written'
    : r.copied.length === 0 && walCopied === 0
      ? 'nothing to copy'
      : [
          r.copied.length > 0 || walCopied === 0 ? `${r.copied.length} snapshot${r.copied.length === 1 ? '' : 's'} copied` : '',
          walCopied > 0 ? `${walCopied} WAL record${walCopied === 1 ? '' : 's'} copied (${w!.segmentsCopied} segment version${w!.segmentsCopied === 1 ? '' : 's'})` : '',
        ]
          .filter(Boolean)
          .join(', ');
  lines.push(
    head,
    ...formatKeyValues([
      ['method', r.method === 'packs' ? 'packs (same keys: whole pack files, byte for byte)' : 'blobs (different keys: re-encrypted)'],
      ['skipped', `${formatCount(r.skipped.length)} already in the destination`],
      ...(w && w.sources.length > 0
        ? ([
            [
              'WAL',
              `${w.sources.join(', ')}: ${formatCount(w.recordsCopied)} records ${r.dryRun ? 'to copy' : 'copied'}, ${formatCount(w.recordsSkipped)} already there, ${formatCount(w.recordsSuperseded)} superseded`,
            ],
          ] as [string, string][])
        : []),
      ['blobs', formatCount(r.blobsCopied)],
      ['packs', formatCount(r.packsCopied)],
      [r.dryRun ? 'would write' : 'written', formatBytes(r.bytesCopied)],
    ]),
  );
  return lines;
}

export function copyCommand(parent: Command, deps: CliDeps): Command {
  const cmd = parent
    .command('copy')
    .description('copy snapshots from another repository, moving only what the destination lacks')
    .argument('[snapshot...]', 'snapshot ids, prefixes or "latest" in the source (default: all, after filters)')
    .option('--from <repo>', 'source repository (env CAIRN_FROM_REPO)')
    .option('--to <repo>', 'destination repository (default: --repo / CAIRN_REPO)')
    .option('--from-password-file <file>', "read the source's password from this file (env CAIRN_FROM_PASSWORD_FILE; or CAIRN_FROM_PASSWORD)");
  addSnapshotFilterOptions(cmd);
  return cmd
    .option('--source <name>', 'only snapshots of this source name, and its WAL records (e.g. a postgres source)')
    .option('--no-wal', 'copy snapshots only, not the WAL records of database sources')
    .option('--dry-run', 'report what would be copied; write nothing')
    .addHelpText(
      'after',
      `
The destination's password comes the usual way (--password-file, CAIRN_PASSWORD_FILE,
CAIRN_PASSWORD, prompt); the source's from --from-password-file,
CAIRN_FROM_PASSWORD_FILE, CAIRN_FROM_PASSWORD or a prompt.

When the destination shares the source's keys (a mirror made with init --mirror-of),
missing pack files are copied byte for byte; otherwise each missing chunk is
re-encrypted for the destination. Snapshots the destination already holds are
skipped, so running copy again is cheap and finishes an interrupted copy.

The WAL records of database sources (cairn stream, wal-push) are copied too: of every
source when no snapshot and no filter is given, else of the postgres sources of the
selected snapshots, or of --source. Run copy on a schedule to keep an offsite copy of
a database restorable to a point in time; --no-wal leaves the WAL out.

Examples:
  cairn copy --from /srv/backups/laptop --to /mnt/usb/laptop
  CAIRN_FROM_PASSWORD_FILE=/root/.pw-a cairn --repo /mnt/usb/laptop copy --from /srv/backups/laptop latest
  cairn copy --from /srv/backups/laptop --to /mnt/mirror --host db1 --tag nightly --dry-run
  cairn copy --from /srv/backups/db --to s3://offsite/db --source db1`,
    )
    .action(async (refs: string[], flags: CopyFlags, c: Command) => {
      const ctx = CliContext.fromCommand(c, deps);
      const from = nonEmpty(flags.from) ?? nonEmpty(deps.env.CAIRN_FROM_REPO);
      if (from === undefined) throw usageError('no source repository given', 'pass --from REPO or set CAIRN_FROM_REPO');
      const to = nonEmpty(flags.to) ?? ctx.globals.repo;
      if (to === undefined) throw usageError('no destination repository given', 'pass --to REPO, --repo REPO or set CAIRN_REPO');
      if (from === to) throw usageError('--from and --to name the same repository', 'copy needs two different repositories');
      const fromFile = nonEmpty(flags.fromPasswordFile) ?? nonEmpty(deps.env.CAIRN_FROM_PASSWORD_FILE);
      const io = { stdin: deps.stdin, stderr: deps.stderr, signal: ctx.signal };
      const fromPassword = await resolvePassword(
        { file: fromFile === undefined ? undefined : ctx.resolvePath(fromFile), value: nonEmpty(deps.env.CAIRN_FROM_PASSWORD) },
        io,
        { prompt: 'enter the password of the source repository: ', fileFlag: '--from-password-file', fileEnv: 'CAIRN_FROM_PASSWORD_FILE', valueEnv: 'CAIRN_FROM_PASSWORD' },
      );
      const toPassword = await ctx.password({ prompt: 'enter the password of the destination repository: ' });
      const parsed = parseSnapshotFilter(flags, deps.cwd);
      const filter = flags.source !== undefined ? { ...parsed, source: flags.source } : parsed;
      const common = { cacheDir: ctx.globals.cacheDir, ...(ctx.globals.threads !== undefined ? { threads: ctx.globals.threads } : {}) };
      const engine = await ctx.engine();
      const progress = createProgressReporter(ctx);
      const opts: CopyOptions = {
        from: { repo: from, password: fromPassword, ...common },
        to: { repo: to, password: toPassword, ...common },
        ...(refs.length > 0 ? { snapshots: refs } : {}),
        ...(filter ? { filter } : {}),
        ...(flags.wal === false ? { wal: false } : {}),
        ...(flags.dryRun ? { dryRun: true } : {}),
        onProgress: (p) => progress.onProgress(p),
        signal: ctx.signal,
      };
      let result: CopyResult;
      try {
        result = await engine.copy(opts);
      } finally {
        progress.done();
      }
      ctx.out.result(result, () => ctx.out.printLines(formatCopySummary(result)));
    });
}
