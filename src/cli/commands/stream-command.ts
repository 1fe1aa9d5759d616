import type { Command } from 'commander';
import { CliContext } from '../cli-context.js';
import type { CliDeps } from '../cli-deps.js';
import { durationToMs, parseDuration } from '../parse-duration.js';
import { usageError } from '../usage-error.js';
import { isRedisUrl, runRedisStream } from '../run-redis.js';
import { isSqliteUrl, runSqliteStream } from '../run-sqlite.js';
import { isMariadbUrl, runMariadbStream } from '../run-mariadb.js';

export interface StreamFlags {
  name?: string;
  slot?: string;
  flushInterval?: string;
  spoolDir?: string;
}

export function streamCommand(parent: Command, deps: CliDeps): Command {
  return parent
    .command('stream')
    .description('capture a database\'s changes continuously into the repository (runs until stopped): PostgreSQL WAL, MariaDB binlog, Redis commands, SQLite WAL frames')
    .argument('<url>', 'postgres://user@host:port/, mariadb://user@host:port/, redis://[user:password@]host:port or sqlite:///path/to.db')
    .option('--name <name>', 'source name (default: the system identifier); must match the base backups\' --name')
    .option('--slot <slot>', 'postgres: replication slot to stream through, created if missing (default: cairn_<name>)')
    .option('--flush-interval <duration>', 'store new WAL, the partial segment too, at least this often (default 10s)')
    .option('--spool-dir <dir>', 'postgres, mariadb: where the server\'s log is written before upload (default: under the cache directory)')
    .addHelpText(
      'after',
      `
For PostgreSQL it runs pg_receivewal through a replication slot (so the server keeps
WAL while the streamer is down) and stores every segment, and the growing partial one
every --flush-interval, in the repository. MariaDB's binlog, Redis's command stream
and SQLite's WAL frames are captured the same way (docs/sources/). Stop it with
SIGINT or SIGTERM: it stores what arrived and exits 0. Started again, it resumes
where it stopped. Flags that do not apply to a source are refused (USAGE).

Examples:
  cairn stream postgres://cairn@db1:5432/ --name db1
  cairn stream postgres://cairn@db1:5432/ --name db1 --flush-interval 5s --slot cairn_db1
  cairn stream mariadb://cairn@db2:3306/ --name shop-db
  cairn stream sqlite:///srv/app/data.db --name app`,
    )
    .action(async (url: string, flags: StreamFlags, c: Command) => {
      const ctx = CliContext.fromCommand(c, deps);
      if (isMariadbUrl(url)) {
        const ms = flags.flushInterval === undefined ? undefined : durationToMs(parseDuration(flags.flushInterval, '--flush-interval', ['h', 'min', 's']));
        if (ms !== undefined && ms < 1000) throw usageError('--flush-interval must be at least 1s');
        return runMariadbStream(ctx, url, flags, ms);
      }
      if (isSqliteUrl(url)) {
        const ms = flags.flushInterval === undefined ? undefined : durationToMs(parseDuration(flags.flushInterval, '--flush-interval', ['h', 'min', 's']));
        return runSqliteStream(ctx, url, flags, ms);
      }
      if (!/^postgres(ql)?:\/\//i.test(url) && !isRedisUrl(url)) throw usageError(`"${url}" is not a postgres://, mariadb://, redis:// or sqlite:// URL`, 'cairn stream postgres://cairn@db1:5432/ --name db1');
      const flushIntervalMs = flags.flushInterval === undefined ? undefined : durationToMs(parseDuration(flags.flushInterval, '--flush-interval', ['h', 'min', 's']));
      if (flushIntervalMs !== undefined && flushIntervalMs < 1000) throw usageError('--flush-interval must be at least 1s');
      if (isRedisUrl(url)) return runRedisStream(ctx, url, flags, flushIntervalMs);
      const result = await ctx.withSession((s) =>
        s.streamPostgres({
          url,
          ...(flags.name !== undefined ? { name: flags.name } : {}),
          ...(flags.slot !== undefined ? { slot: flags.slot } : {}),
          ...(flushIntervalMs !== undefined ? { flushIntervalMs } : {}),
          ...(flags.spoolDir !== undefined ? { spoolDir: ctx.resolvePath(flags.spoolDir) } : {}),
          signal: ctx.signal,
          onStarted: (i) => ctx.out.note(`streaming WAL of ${i.name} (system ${i.systemId}) through slot ${i.slot}; spool ${i.spoolDir}`),
          onFlush: (f) => {
            if (f.segments.length > 0) ctx.out.verbose(`stored ${f.segments.join(', ')}${f.partial ? ` (partial ${f.partial})` : ''}`);
          },
          onWarning: (m) => ctx.out.warn(m),
        }),
      );
      ctx.out.result(result, () =>
        ctx.out.info(`stopped: ${result.segmentsStored} segment versions stored in ${result.records} records over ${result.flushes} flushes`),
      );
    });
}
