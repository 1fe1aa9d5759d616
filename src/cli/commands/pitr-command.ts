import { parseSize } from '../parse-size.js';
import type { Command } from 'commander';
import { CairnError } from '../../core/errors/index.js';
import type { PitrReport } from '../../engine/types.js';
import { formatBytes } from '../../util/format-bytes.js';
import { CliContext } from '../cli-context.js';
import type { CliDeps } from '../cli-deps.js';
import { ReportedFailure } from '../reported-failure.js';
import { usageError } from '../usage-error.js';
import { formatRedisPitr, redisPitrOutcome } from '../run-redis.js';
import { formatSqlitePitr } from '../run-sqlite.js';
import { printMyPitr } from '../run-mariadb.js';

export function formatPitrReport(r: PitrReport): string[] {
  const lines = [`postgres source ${r.name}${r.systemId ? ` (system ${r.systemId})` : ''}: ${r.bases.length} base backup${r.bases.length === 1 ? '' : 's'}, ${r.segments} WAL segments`];
  lines.push(r.windows.length > 0 ? 'restorable windows (UTC):' : 'no restorable window');
  const timelines = new Set(r.windows.map((w) => w.timeline));
  for (const w of r.windows) lines.push(`  ${timelines.size > 1 ? `timeline ${w.timeline}: ` : ''}${w.from}  ..  ${w.to}`);
  for (const [i, a] of r.windows.entries()) {
    for (const b of r.windows.slice(i + 1)) {
      if (a.timeline === b.timeline || a.to < b.from || b.to < a.from) continue;
      const from = a.from > b.from ? a.from : b.from;
      const to = a.to < b.to ? a.to : b.to;
      lines.push(
        `NOTE: timelines ${Math.min(a.timeline, b.timeline)} and ${Math.max(a.timeline, b.timeline)} overlap (${from} .. ${to}): two histories under one name; a restore to a time both hold uses the newest base backup (docs/sources/postgres.md, "Timelines")`,
      );
    }
  }
  for (const g of r.gaps) {
    lines.push(`GAP on timeline ${g.timeline}: ${g.from === g.to ? g.from : `${g.from} .. ${g.to}`} ${g.reason === 'partial' ? 'stored only partially' : 'missing'} (restorable up to ${g.after})`);
  }
  for (const s of r.slots ?? []) {
    const lost = s.walStatus === 'lost' ? ', INVALIDATED (its WAL is gone: expect a gap)' : '';
    lines.push(`slot ${s.name}: ${s.active ? 'active' : 'INACTIVE'}, retains ${formatBytes(s.retainedBytes)} of WAL${lost}${s.tooMuch ? ' — TOO MUCH (see docs/sources/postgres.md, "Slots")' : ''}`);
  }
  return lines;
}

export function pitrCommand(parent: Command, deps: CliDeps): Command {
  return parent
    .command('pitr')
    .description('show the restorable windows and WAL gaps of a PostgreSQL source')
    .argument('<name>', 'source name (as given to backup/stream --name, or the system identifier)')
    .option('--server <url>', 'also ask this server how much WAL its replication slots retain')
    .option('--max-slot-lag <size>', 'with --server: report a slot retaining more than this (default 1GiB)')
    .addHelpText(
      'after',
      `
Continuity is verified from the repository's WAL catalog, never assumed. A gap in
the WAL chain after the newest base backup is an error: cairn exits with WAL_GAP (22)
after printing the report, so monitoring can alert on it. With --server, a slot that
retains more WAL than --max-slot-lag exits with SLOT_LAG (23) after the report.

Examples:
  cairn pitr db1
  cairn pitr db1 --json --server postgres://cairn@db1:5432/ --max-slot-lag 2GiB`,
    )
    .action(async (name: string, flags: { server?: string; maxSlotLag?: string }, c: Command) => {
      const ctx = CliContext.fromCommand(c, deps);
      const maxSlotLagBytes = flags.maxSlotLag === undefined ? undefined : parseSize(flags.maxSlotLag, '--max-slot-lag');
      // One session for finding the source's type and its report: every open of the
      // repository costs a key derivation (~0.5 s).
      const found = await ctx.withSession(async (s) => {
        const type = await s.sourceType(name);
        if (type === 'redis') return { type, report: await s.pitrRedis(name, flags.server ? { server: flags.server } : {}) } as const;
        if (type === 'mariadb' || type === 'sqlite') {
          if (flags.server !== undefined) throw usageError(`--server applies to postgres and redis sources; ${name} is a ${type} source`);
          if (type === 'mariadb') return { type, report: (await s.pitrMariadb(name))! } as const;
          return { type, report: (await s.pitrSqlite(name))! } as const;
        }
        const report = await s.pitr(name, { ...(flags.server ? { server: flags.server } : {}), ...(maxSlotLagBytes !== undefined ? { maxSlotLagBytes } : {}) });
        return { type: 'postgres', report } as const;
      });
      if (found.type === 'redis') {
        const redis = found.report;
        ctx.out.result(redis, () => ctx.out.printLines(formatRedisPitr(redis)));
        return redisPitrOutcome(name, redis);
      }
      if (found.type === 'mariadb') return printMyPitr(ctx, found.report);
      if (found.type === 'sqlite') {
        const sq = found.report;
        ctx.out.result(sq, () => ctx.out.printLines(formatSqlitePitr(sq)));
        if (sq.gapAfterNewestBase) throw new ReportedFailure(new CairnError('WAL_GAP', `the frame log of ${name} has a gap after its newest base`, { hint: 'check that `cairn stream sqlite://…` runs (docs/runbooks/sqlite-pitr.md)' }));
        return;
      }
      const report = found.report;
      ctx.out.result(report, () => ctx.out.printLines(formatPitrReport(report)));
      if (report.gapAfterNewestBase) {
        const g = report.gaps.at(-1)!;
        throw new ReportedFailure(
          new CairnError('WAL_GAP', `the WAL chain of ${name} has a gap at ${g.from}${g.to !== g.from ? `..${g.to}` : ''}; restores past ${g.after} are impossible`, {
            hint: 'take a new base backup now, and check that `cairn stream` runs (docs/runbooks/postgres-pitr.md)',
          }),
        );
      }
      const lagging = (report.slots ?? []).filter((s) => s.tooMuch);
      if (lagging.length > 0) {
        throw new ReportedFailure(
          new CairnError(
            'SLOT_LAG',
            `replication slot${lagging.length > 1 ? 's' : ''} ${lagging.map((s) => `${s.name} (${formatBytes(s.retainedBytes)})`).join(', ')} retain${lagging.length > 1 ? '' : 's'} more WAL than --max-slot-lag ${formatBytes(report.maxSlotLagBytes ?? 0)}`,
            {
              hint: 'start `cairn stream` again, or drop a slot no longer used; set max_slot_wal_keep_size (docs/sources/postgres.md, "Slots")',
              details: { slots: lagging },
            },
          ),
        );
      }
    });
}
