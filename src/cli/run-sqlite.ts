import type { SqlitePitrReport } from '../engine/types.js';
import { formatBytes } from '../util/format-bytes.js';
import type { CliContext } from './cli-context.js';
import { formatKeyValues } from './format-key-values.js';
import { parsePitrTime } from './parse-pitr-time.js';
import { parseTags } from './parse-tags.js';
import { usageError } from './usage-error.js';
import { filesOnlyFlags, rejectFlags, type BackupFlags } from './backup-flags.js';
import type { StreamFlags } from './commands/stream-command.js';

export const isSqliteUrl = (p: string): boolean => /^sqlite:\/\//i.test(p);

function pathOf(url: string): string {
  const m = /^sqlite:\/\/(\/.+)$/i.exec(url);
  if (!m) throw usageError(`"${url}" is not a sqlite:///absolute/path URL`, 'cairn backup sqlite:///srv/app/data.db');
  return decodeURIComponent(m[1]!);
}

function checkName(name: string | undefined): void {
  if (name !== undefined && !/^[A-Za-z0-9_.-]{1,100}$/.test(name)) throw usageError(`--name "${name}": use letters, digits, ".", "_" and "-"`);
}

/** `cairn backup sqlite:///path.db`. */
export async function runSqliteBackup(ctx: CliContext, paths: string[], flags: BackupFlags): Promise<void> {
  if (paths.length !== 1) throw usageError('back up one sqlite:// URL at a time, without other paths');
  rejectFlags('a sqlite:// source', [
    ['--mode', flags.mode],
    ...filesOnlyFlags(flags),
    ['--logical', flags.logical],
  ]);
  checkName(flags.name);
  const tags = parseTags(flags.tag);
  const r = await ctx.withSession((s) =>
    s.backupSqlite({ path: pathOf(paths[0]!), ...(flags.name ? { name: flags.name } : {}), ...(tags.length ? { tags } : {}), ...(flags.host ? { host: flags.host } : {}), signal: ctx.signal }),
  );
  ctx.out.result(r, () => {
    ctx.out.printLines([`snapshot ${r.snapshot.shortId} saved (sqlite base of ${r.name})`, ...formatKeyValues([['journal mode', r.journalMode + (r.journalMode === 'wal' ? '' : ' (no continuous capture: restorable to snapshot times only)')]])]);
  });
}

/** `cairn stream sqlite:///path.db`. */
export async function runSqliteStream(ctx: CliContext, url: string, flags: StreamFlags, flushIntervalMs: number | undefined): Promise<void> {
  rejectFlags('a sqlite:// source', [
    ['--slot', flags.slot !== undefined],
    ['--spool-dir', flags.spoolDir !== undefined],
  ]);
  checkName(flags.name);
  const r = await ctx.withSession((s) =>
    s.streamSqlite({
      path: pathOf(url),
      ...(flags.name ? { name: flags.name } : {}),
      ...(flushIntervalMs !== undefined ? { flushIntervalMs } : {}),
      signal: ctx.signal,
      onStarted: (i) => ctx.out.note(`capturing WAL frames of ${i.name}${i.resumed ? ' (resumed)' : ` (new base ${i.base?.slice(0, 8) ?? ''})`}`),
      onFlush: (f) => {
        if (f.commits > 0) ctx.out.verbose(`stored ${f.frames} frames, ${f.commits} commits`);
      },
      onWarning: (m) => ctx.out.warn(m),
    }),
  );
  ctx.out.result(r, () => ctx.out.info(`stopped: ${r.commits} commits (${r.frames} frames) in ${r.records} records; ${r.bases.length} base(s) taken; frame loss detected ${r.lostFrames} time(s); commit times late by at most ${r.maxReadGapMs} ms`));
}

export function formatSqlitePitr(r: SqlitePitrReport): string[] {
  const lines = [`sqlite source ${r.name}: ${r.bases.length} base${r.bases.length === 1 ? '' : 's'}, ${r.commits} captured commits`];
  if (!r.continuous) lines.push('no continuous capture (journal mode is not WAL): restorable to these snapshot times only:');
  else lines.push(r.windows.length > 0 ? 'restorable windows (UTC):' : 'no restorable window');
  for (const w of r.windows) lines.push(r.continuous ? `  ${w.from}  ..  ${w.to}` : `  ${w.from}`);
  for (const g of r.gaps) lines.push(`GAP: ${g.from} .. ${g.to} (frames lost; a new base starts after it)`);
  return lines;
}

/** `cairn restore --source NAME --at TIME --target FILE` for a sqlite source. */
export async function runSqliteRestore(
  ctx: CliContext,
  flags: { source?: string; at?: string; target?: string; include?: string[]; verify?: boolean; start?: boolean; port?: string },
): Promise<void> {
  rejectFlags('a sqlite source', [
    ['--include', flags.include?.length],
    ['--verify', flags.verify],
    ['--start', flags.start],
    ['--port', flags.port !== undefined],
  ]);
  if (!flags.target) throw usageError('missing --target', 'the database file to write: --target /tmp/restored.db');
  if (flags.at === undefined) throw usageError('--source needs --at TIME or --at latest');
  const at = parsePitrTime(flags.at);
  const r = await ctx.withSession((s) => s.restoreSqlite({ source: flags.source!, at, target: ctx.resolvePath(flags.target!), signal: ctx.signal }));
  ctx.out.result(r, () =>
    ctx.out.printLines([
      `restored sqlite database to ${r.target}`,
      ...formatKeyValues([
        ['base', `${r.snapshot.shortId} (${r.window.from})`],
        ['restored to', `${r.restoredTo} (${r.commits} commits applied)`],
        ['window', `${r.window.from} .. ${r.window.to}`],
        ['size', formatBytes(r.bytes)],
        ['integrity_check', r.integrity],
      ]),
    ]),
  );
}
