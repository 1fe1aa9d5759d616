import { execFile, execFileSync } from 'node:child_process';
import { chownSync, existsSync, promises as fsp } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from './free-port.js';

/**
 * A private PostgreSQL 15 cluster for tests: initdb as user postgres (PostgreSQL
 * refuses root) into a temp dir, a free TCP port on 127.0.0.1, the unix socket in the
 * temp dir, trust authentication and a `host replication all 127.0.0.1/32 trust` line.
 * wal_level=replica is PostgreSQL 15's default. fsync=off and synchronous_commit=off
 * make it fast; that is safe only because the cluster is thrown away (a crash of the
 * machine could corrupt it, which a test does not care about). Never touches the
 * machine's shared server.
 */
export const PG_BIN = ['/usr/lib/postgresql/15/bin', '/usr/lib/postgresql/16/bin', '/usr/lib/postgresql/17/bin'].find((d) => existsSync(join(d, 'initdb'))) ?? null;

export function pgUnavailable(): string | null {
  if (!PG_BIN) return 'PostgreSQL server binaries not installed';
  try {
    postgresUser();
  } catch {
    return 'no postgres system user';
  }
  return null;
}

export function postgresUser(): { uid: number; gid: number } {
  const uid = Number(execFileSync('id', ['-u', 'postgres'], { encoding: 'utf8' }).trim());
  const gid = Number(execFileSync('id', ['-g', 'postgres'], { encoding: 'utf8' }).trim());
  return { uid, gid };
}

export { freePort };

function run(bin: string, args: string[], opts: { asPostgres?: boolean; env?: Record<string, string> } = {}): Promise<string> {
  const as = opts.asPostgres ? postgresUser() : undefined;
  return new Promise((resolve, reject) => {
    execFile(join(PG_BIN!, bin), args, { ...(as ? { uid: as.uid, gid: as.gid } : {}), cwd: '/', encoding: 'utf8', maxBuffer: 64 * 1024 * 1024, env: { ...process.env, ...opts.env } }, (err, stdout, stderr) => {
      if (err) reject(new Error(`${bin} ${args.join(' ')} failed: ${stderr || err.message}`));
      else resolve(stdout);
    });
  });
}

export interface PgCluster {
  dir: string;
  dataDir: string;
  port: number;
  /** postgres://postgres@127.0.0.1:PORT/ */
  url: string;
  /** Runs SQL (psql -Atc) against database `postgres`; returns trimmed stdout. */
  sql(query: string): Promise<string>;
  stop(): Promise<void>;
}

/** A data directory someone else made (a restore): start it, query it, stop it. */
export async function psqlAt(port: number, query: string, host = '127.0.0.1'): Promise<string> {
  return (await run('psql', ['-X', '-A', '-t', '-h', host, '-p', String(port), '-U', 'postgres', '-d', 'postgres', '-c', query])).trim();
}

export async function stopDataDir(dataDir: string): Promise<void> {
  await run('pg_ctl', ['-D', dataDir, '-m', 'immediate', '-w', 'stop'], { asPostgres: true }).catch(() => undefined);
}

export async function startPgCluster(settings: Record<string, string> = {}): Promise<PgCluster> {
  const dir = await fsp.mkdtemp(join(tmpdir(), 'cairn-pg-'));
  const { uid, gid } = postgresUser();
  chownSync(dir, uid, gid);
  const dataDir = join(dir, 'data');
  await run('initdb', ['-D', dataDir, '-U', 'postgres', '-A', 'trust', '--no-sync'], { asPostgres: true, env: { TZ: 'UTC' } });
  const port = await freePort();
  const conf = {
    port: String(port),
    listen_addresses: "'127.0.0.1'",
    unix_socket_directories: `'${dir}'`,
    fsync: 'off',
    synchronous_commit: 'off',
    full_page_writes: 'on',
    timezone: "'UTC'",
    log_timezone: "'UTC'",
    ...settings,
  };
  await fsp.appendFile(join(dataDir, 'postgresql.conf'), Object.entries(conf).map(([k, v]) => `${k} = ${v}\n`).join(''));
  await fsp.appendFile(join(dataDir, 'pg_hba.conf'), 'host replication all 127.0.0.1/32 trust\n');
  await run('pg_ctl', ['-D', dataDir, '-l', join(dir, 'server.log'), '-w', 'start'], { asPostgres: true });
  return {
    dir,
    dataDir,
    port,
    url: `postgres://postgres@127.0.0.1:${port}/`,
    sql: (q) => psqlAt(port, q),
    async stop() {
      await stopDataDir(dataDir);
      await fsp.rm(dir, { recursive: true, force: true });
    },
  };
}
