import { CairnError } from '../core/errors/index.js';
import type { RedisPitrReport } from '../engine/types.js';
import { formatBytes } from '../util/format-bytes.js';
import type { CliContext } from './cli-context.js';
import { formatKeyValues } from './format-key-values.js';
import { parsePitrTime } from './parse-pitr-time.js';
import { parseTags } from './parse-tags.js';
import { ReportedFailure } from './reported-failure.js';
import { usageError } from './usage-error.js';
import { filesOnlyFlags, rejectFlags, type BackupFlags } from './backup-flags.js';

export function isRedisUrl(s: string): boolean {
  return /^rediss?:\/\//i.test(s);
}

function checkName(name: string | undefined): string | undefined {
  if (name !== undefined && !/^[A-Za-z0-9_.-]{1,100}$/.test(name)) throw usageError(`--name "${name}": use letters, digits, ".", "_" and "-"`);
  return name;
}

/** `cairn backup redis://…`: an RDB through PSYNC (nothing on the server's disk). */
export async function runRedisBackup(ctx: CliContext, paths: string[], flags: BackupFlags): Promise<void> {
  if (paths.length !== 1) throw usageError('back up one redis:// URL at a time, without other paths', 'cairn backup redis://cairn:secret@cache1:6379 --name cache1');
  rejectFlags('a redis:// source', [
    ['--mode', flags.mode],
    ...filesOnlyFlags(flags),
    ['--logical', flags.logical],
  ]);
  const name = checkName(flags.name);
  const tags = parseTags(flags.tag);
  const r = await ctx.withSession((s) =>
    s.backupRedis({ url: paths[0]!, ...(name ? { name } : {}), ...(tags.length ? { tags } : {}), ...(flags.host ? { host: flags.host } : {}), signal: ctx.signal }),
  );
  ctx.out.result(r, () => {
    const m = (r.snapshot.sourceMeta ?? {}) as Record<string, unknown>;
    ctx.out.printLines([
      `snapshot ${r.snapshot.shortId} saved (redis RDB)`,
      ...formatKeyValues([
        ['source', `redis ${r.name} (${r.snapshot.paths.join(', ')})`],
        ['server', `Redis ${String(m.serverVersion ?? '?')}, replid ${String(m.replid ?? '?')} offset ${String(m.offset ?? '?')}`],
        ['RDB', formatBytes(Number(m.rdbBytes ?? 0))],
      ]),
    ]);
  });
}

/** `cairn stream redis://…`. */
export async function runRedisStream(ctx: CliContext, url: string, flags: { name?: string; slot?: string; spoolDir?: string }, flushIntervalMs: number | undefined): Promise<void> {
  if (flags.slot !== undefined || flags.spoolDir !== undefined) throw usageError('--slot and --spool-dir apply to postgres:// only');
  const name = checkName(flags.name);
  const r = await ctx.withSession((s) =>
    s.streamRedis({
      url,
      ...(name ? { name } : {}),
      ...(flushIntervalMs !== undefined ? { flushIntervalMs } : {}),
      signal: ctx.signal,
      onStarted: (i) => ctx.out.note(`streaming redis ${i.name} as a replica: ${i.resumed ? 'continued' : 'full resync, new base'} at ${i.replid}:${i.offset}`),
      onFlush: (f) => {
        if (f.commands > 0) ctx.out.verbose(`stored ${f.commands} commands up to offset ${f.offset}`);
      },
      onWarning: (m) => ctx.out.warn(m),
    }),
  );
  ctx.out.result(r, () => ctx.out.info(`stopped: ${r.commands} commands in ${r.records} records over ${r.flushes} flushes, ${r.bases} new bases, ${r.reconnects} reconnects; offset ${r.offset}`));
}

export function formatRedisPitr(r: RedisPitrReport): string[] {
  const lines = [`redis source ${r.name}: ${r.bases.length} base${r.bases.length === 1 ? '' : 's'}, ${r.records} log records`];
  lines.push(r.windows.length > 0 ? 'restorable windows (UTC):' : 'no restorable window');
  for (const w of r.windows) lines.push(`  ${w.from}  ..  ${w.to}`);
  for (const g of r.gaps) {
    lines.push(
      g.reason === 'new-base'
        ? `GAP ${g.from} .. ${g.to}: the stream was interrupted and resumed with a full resync (new base)`
        : `GAP after ${g.from}: stream offsets ${g.fromOffset} .. ${g.toOffset} missing`,
    );
  }
  if (r.server) {
    const s = r.server;
    lines.push(`server: master_repl_offset ${s.masterReplOffset}; stored log ${s.lagBytes === null ? 'is of another replication id' : `${formatBytes(s.lagBytes)} behind (offset ${s.storedOffset})`}`);
    for (const x of s.replicas) lines.push(`  replica ${x.addr}: ${formatBytes(x.lagBytes)} behind`);
  }
  return lines;
}

export function redisPitrOutcome(name: string, r: RedisPitrReport): void {
  if (r.gapAfterNewestBase) {
    const g = r.gaps.filter((x) => x.reason === 'missing').at(-1)!;
    throw new ReportedFailure(
      new CairnError('WAL_GAP', `the command log of ${name} has a gap at offsets ${g.fromOffset}..${g.toOffset}; restores past ${g.from} are impossible`, {
        hint: 'restart `cairn stream` (it takes a new base) (docs/runbooks/redis-pitr.md)',
      }),
    );
  }
}

/** `cairn restore --source NAME --at TIME (--target DIR | --to redis://…)` for a redis source. */
export async function runRedisRestore(ctx: CliContext, flags: { source?: string; at?: string; target?: string; to?: string; start?: boolean; port?: string; include?: string[]; verify?: boolean }): Promise<void> {
  if (flags.at === undefined) throw usageError('--source needs --at TIME or --at latest');
  if (!flags.target === !flags.to) throw usageError('give --target DIR (writes dump.rdb) or --to redis://… (writes into a running server)');
  if (flags.start || flags.port !== undefined || flags.include?.length || flags.verify) throw usageError('--start, --port, --include and --verify do not apply to redis restores');
  const at = flags.at === 'latest' ? 'latest' : parsePitrTime(flags.at);
  const target = flags.target ? ctx.resolvePath(flags.target) : undefined;
  const r = await ctx.withSession((s) => s.restoreRedis({ source: flags.source!, at, ...(target ? { target } : {}), ...(flags.to ? { to: flags.to } : {}), signal: ctx.signal }));
  ctx.out.result(r, () =>
    ctx.out.printLines([
      r.target ? `restored redis dump.rdb to ${r.target}` : `restored ${r.keys ?? 0} keys into ${r.to}`,
      ...formatKeyValues([
        ['base', `${r.snapshot.shortId} (${r.snapshot.time})`],
        ['recovers to', r.targetTime ?? 'the end of the stored log'],
        ['last command', r.lastApplied ?? '(none after the base)'],
        ['window', `${r.window.from} .. ${r.window.to}`],
        ['replayed', `${r.commands} commands${r.errors ? `, ${r.errors} answered with an error` : ''}`],
      ]),
    ]),
  );
}
