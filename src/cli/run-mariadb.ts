import { CairnError } from '../core/errors/index.js';
import type { MyPitrReport, MyRestoreResult } from '../engine/types.js';
import { formatBytes } from '../util/format-bytes.js';
import { formatDuration } from '../util/format-duration.js';
import type { CliContext } from './cli-context.js';
import { formatKeyValues } from './format-key-values.js';
import { parsePitrTime } from './parse-pitr-time.js';
import { parseTags } from './parse-tags.js';
import { createProgressReporter } from './progress-reporter.js';
import { ReportedFailure } from './reported-failure.js';
import { usageError } from './usage-error.js';
import { filesOnlyFlags, rejectFlags, type BackupFlags } from './backup-flags.js';

export function isMariadbUrl(s: string): boolean {
  return /^(mariadb|mysql):\/\//i.test(s);
}

/** `cairn backup mariadb://…`: a logical dump with binlog coordinates. */
export async function runMariadbBackup(ctx: CliContext, paths: string[], flags: BackupFlags): Promise<void> {
  if (paths.length !== 1) throw usageError('back up one mariadb:// URL at a time, without other paths', 'cairn backup mariadb://cairn@db1:3306/ --name db1');
  if (flags.logical) throw usageError('--logical does not apply to a mariadb:// source', 'choose the kind of base in the URL: ?method=logical, the default, or ?method=physical');
  rejectFlags('a mariadb:// source', filesOnlyFlags(flags));
  if (flags.name !== undefined && !/^[A-Za-z0-9_.-]{1,100}$/.test(flags.name)) throw usageError(`--name "${flags.name}": use letters, digits, ".", "_" and "-"`);
  const tags = parseTags(flags.tag);
  const result = await ctx.withSession(async (s) => {
    const progress = createProgressReporter(ctx, { perFile: true });
    try {
      return await s.backupMariadb({
        url: paths[0]!,
        ...(flags.name !== undefined ? { name: flags.name } : {}),
        ...(tags.length ? { tags } : {}),
        ...(flags.host !== undefined ? { host: flags.host } : {}),
        ...(flags.mode ? { mode: flags.mode } : {}),
        onProgress: (p) => progress.onProgress(p),
        onWarning: (w) => ctx.out.warn(w.message),
        signal: ctx.signal,
      });
    } finally {
      progress.done();
    }
  });
  ctx.out.result(result, () => {
    const s = result.snapshot;
    const m = (s.sourceMeta ?? {}) as Record<string, unknown>;
    const pairs: [string, string][] = [
      ['source', `mariadb ${result.name} (${s.paths.join(', ')})`],
      ['server', `${String(m.serverVersion ?? '?')}, server_id ${String(m.serverId ?? '?')}`],
      ['binlog', `${String(m.binlogFile)}:${String(m.binlogPos)}${m.gtid ? ` (GTID ${String(m.gtid)})` : ''}`],
    ];
    if (s.summary) pairs.push(['read', formatBytes(s.summary.bytesRead)], ['added', formatBytes(s.summary.bytesAdded)], ['duration', formatDuration(s.summary.durationMs)]);
    if (m.kind === 'physical') pairs.push(['copy', `${String(m.tool ?? 'mariadb-backup')}, prepared, of ${String(m.datadir)}`]);
    ctx.out.printLines([`snapshot ${s.shortId} saved (${m.kind === 'physical' ? 'physical copy, mariadb-backup' : 'logical dump'})`, ...formatKeyValues(pairs)]);
  });
}

export async function runMariadbStream(ctx: CliContext, url: string, flags: { name?: string; slot?: string; spoolDir?: string }, flushIntervalMs: number | undefined): Promise<void> {
  if (flags.slot !== undefined) throw usageError('--slot does not apply to a mariadb:// source (it follows the binlog, not a replication slot)');
  const result = await ctx.withSession((s) =>
    s.streamMariadb({
      url,
      ...(flags.name !== undefined ? { name: flags.name } : {}),
      ...(flushIntervalMs !== undefined ? { flushIntervalMs } : {}),
      ...(flags.spoolDir !== undefined ? { spoolDir: ctx.resolvePath(flags.spoolDir) } : {}),
      signal: ctx.signal,
      onStarted: (i) => ctx.out.note(`streaming the binlog of ${i.name} from ${i.file}; spool ${i.spoolDir}`),
      onFlush: (f) => {
        if (f.length > 0) ctx.out.verbose(`stored ${f.join(', ')}`);
      },
      onWarning: (m) => ctx.out.warn(m),
    }),
  );
  ctx.out.result(result, () => ctx.out.info(`stopped: ${result.filesStored} binlog file versions stored in ${result.records} records over ${result.flushes} flushes`));
}

export function formatMyPitrReport(r: MyPitrReport): string[] {
  const lines = [`mariadb source ${r.name}${r.serverId ? ` (server_id ${r.serverId})` : ''}: ${r.bases.length} dump${r.bases.length === 1 ? '' : 's'}, ${r.files} binlog files`];
  lines.push(r.windows.length > 0 ? 'restorable windows (UTC, binlog times have one-second resolution):' : 'no restorable window');
  for (const w of r.windows) lines.push(`  ${w.from}  ..  ${w.to}`);
  if (r.bases.length > 0) lines.push('bases (binlog coordinates and GTID position replay starts from; stored binlog up to):');
  for (const b of r.bases) lines.push(`  ${b.snapshot.slice(0, 8)} ${b.kind}  ${b.binlogFile}:${b.binlogPos}  GTID ${b.gtid ?? '?'}  ..  ${b.end ?? `${b.binlogFile}:${b.binlogPos}`}`);
  for (const g of r.gaps) lines.push(`GAP: ${g.from === g.to ? g.from : `${g.from} .. ${g.to}`} ${g.reason === 'partial' ? 'stored only partially' : 'missing'} (restorable up to ${g.after})`);
  return lines;
}

/** Prints the report; exits WAL_GAP after it when the newest dump's chain has a gap. */
export function printMyPitr(ctx: CliContext, r: MyPitrReport): void {
  ctx.out.result(r, () => ctx.out.printLines(formatMyPitrReport(r)));
  if (r.gapAfterNewestBase) {
    const g = r.gaps.at(-1)!;
    throw new ReportedFailure(
      new CairnError('WAL_GAP', `the binlog chain of ${r.name} has a gap at ${g.from}${g.to !== g.from ? `..${g.to}` : ''}; restores past ${g.after} are impossible`, {
        hint: 'take a new dump now, and check that `cairn stream` runs (docs/runbooks/mariadb-pitr.md)',
      }),
    );
  }
}

/** `cairn restore --source NAME --at TIME | --at-position FILE:POS | --at-gtid D-S-N --to mariadb://… | --target DIR` [--include-db DB]. */
export async function runMariadbRestore(ctx: CliContext, snapshot: string | undefined, flags: { source?: string; at?: string; atPosition?: string; atGtid?: string; to?: string; target?: string; includeDb?: string[]; includeTable?: string[]; include?: string[]; verify?: boolean; start?: boolean; port?: string }): Promise<void> {
  if (snapshot !== undefined) throw usageError('give either a snapshot or --source, not both');
  if (!flags.source) throw usageError('--to mariadb://… needs --source NAME', 'cairn restore --source db1 --at 2026-11-27T10:00:00Z --to mariadb://root@127.0.0.1:3307/');
  const stops = [flags.at, flags.atPosition, flags.atGtid].filter((x) => x !== undefined).length;
  if (stops !== 1) throw usageError(stops === 0 ? '--source needs --at TIME (or latest), --at-position FILE:POS or --at-gtid D-S-N' : 'give only one of --at, --at-position and --at-gtid');
  if ((flags.target === undefined) === (flags.to === undefined)) throw usageError('a mariadb source restores into a server (--to mariadb://…) or a new data directory (--target DIR): give one');
  if (flags.include?.length || flags.verify || flags.start || flags.port !== undefined) throw usageError('--include, --verify, --start and --port do not apply to a mariadb source (use --include-db)');
  const stop = flags.at !== undefined ? { at: parsePitrTime(flags.at) } : flags.atPosition !== undefined ? { atPosition: flags.atPosition } : { atGtid: flags.atGtid! };
  const dest = flags.target !== undefined ? { target: ctx.resolvePath(flags.target) } : { to: flags.to! };
  const result = await ctx.withSession((s) =>
    s.restoreMariadb({ source: flags.source!, ...stop, ...dest, ...(flags.includeDb?.length ? { includeDb: flags.includeDb } : {}), ...(flags.includeTable?.length ? { includeTable: flags.includeTable } : {}), signal: ctx.signal }),
  );
  ctx.out.result(result, () => ctx.out.printLines(formatMyRestore(result)));
}

function formatMyRestore(r: MyRestoreResult): string[] {
  return [
    r.target ? `restored mariadb source into a new data directory ${r.target} (start it with mariadbd --datadir=${r.target})` : `restored mariadb source into ${r.to}`,
    ...formatKeyValues([
      [r.kind === 'physical' ? 'base' : 'dump', `${r.snapshot.shortId} (${r.snapshot.time}${r.kind === 'physical' ? ', physical' : ''})`],
      [
        'replayed to',
        r.targetTime
          ? `${r.targetTime} (binlog event times, one-second resolution)`
          : r.targetPosition
            ? `before ${r.targetPosition.file}:${r.targetPosition.position}`
            : r.targetGtid
              ? `GTID ${r.targetGtid} (included)`
              : 'the end of the stored binlog',
      ],
      ['stopped at', r.stop ? `${r.stop.file}:${r.stop.position}` : 'the dump (no binlog needed)'],
      ['GTID', r.gtid ?? '?'],
      ['binlog files', String(r.binlogFiles)],
      ['databases', r.databases.join(', ') || '(none)'],
    ]),
  ];
}
