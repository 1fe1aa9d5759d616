import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { createReadStream } from 'node:fs';
import { CairnError } from '../../core/errors/index.js';
import type { MyLocation } from './my-location.js';

/**
 * Runs the MariaDB client binaries (mariadb, mariadb-dump, mariadb-binlog) and maps
 * their failures to CairnErrors: SOURCE_UNREACHABLE when the server cannot be reached,
 * SOURCE_CONFIG when it refuses us (privileges, password) or a binary is missing.
 * The password travels in MYSQL_PWD, never on a command line.
 */
export class MyClient {
  /** `-h -P -u` (or the socket) for every tool. */
  connArgs(loc: MyLocation): string[] {
    const a = ['-h', loc.host, '-P', String(loc.port), '-u', loc.user];
    if (loc.socket) a.push(`--socket=${loc.socket}`);
    else if (loc.host !== 'localhost') a.push('--protocol=TCP');
    return a;
  }

  env(loc: MyLocation, extra: Record<string, string> = {}): NodeJS.ProcessEnv {
    const env: NodeJS.ProcessEnv = { ...process.env, ...extra };
    if (loc.password !== undefined) env.MYSQL_PWD = loc.password;
    return env;
  }

  run(tool: string, args: string[], loc: MyLocation, opts: { stdinFile?: string; timeoutMs?: number; env?: Record<string, string> } = {}): Promise<string> {
    return new Promise((resolve, reject) => {
      const child = execFile(tool, args, { env: this.env(loc, opts.env), maxBuffer: 256 * 1024 * 1024, timeout: opts.timeoutMs ?? 0, encoding: 'utf8' }, (err, stdout, stderr) => {
        if (!err) return resolve(stdout);
        const e = err as NodeJS.ErrnoException;
        if (e.code === 'ENOENT') return reject(missing(tool));
        reject(myToolError(tool, stderr || e.message));
      });
      if (opts.stdinFile) createReadStream(opts.stdinFile).pipe(child.stdin!);
    });
  }

  /** Rows of a query, tab-separated columns (batch mode, no column names). */
  async query(loc: MyLocation, sql: string): Promise<string[][]> {
    const out = await this.run('mariadb', [...this.connArgs(loc), '-N', '-B', '--connect-timeout=10', '-e', sql], loc, { timeoutMs: 60_000 });
    return out
      .split('\n')
      .filter((l) => l !== '')
      .map((l) => l.split('\t'));
  }

  spawn(tool: string, args: string[], loc: MyLocation, stdio: ('ignore' | 'pipe')[] = ['ignore', 'ignore', 'pipe'], env: Record<string, string> = {}): ChildProcess {
    return spawn(tool, args, { env: this.env(loc, env), stdio: stdio as ['ignore', 'ignore', 'pipe'] });
  }
}

export function missing(tool: string): CairnError {
  return new CairnError('SOURCE_CONFIG', `${tool} not found on PATH`, { hint: 'install the MariaDB client binaries (mariadb, mariadb-dump, mariadb-binlog), e.g. apt install mariadb-client' });
}

const UNREACHABLE = /Can't connect|Connection refused|Unknown (MySQL|MariaDB) server host|Lost connection|timed out|server has gone away/i;

export function myToolError(tool: string, stderr: string): CairnError {
  const line = (stderr.split('\n').map((l) => l.trim()).find((l) => /error/i.test(l)) ?? stderr.trim().split('\n')[0] ?? 'failed').slice(0, 300);
  if (/Access denied|command denied|privilege/i.test(stderr)) {
    return new CairnError('SOURCE_CONFIG', `${tool}: ${line}`, {
      hint: 'grant the backup user SELECT, RELOAD, LOCK TABLES, REPLICATION CLIENT, REPLICATION SLAVE, SHOW VIEW, EVENT, TRIGGER (docs/sources/mariadb.md)',
    });
  }
  if (UNREACHABLE.test(stderr)) {
    return new CairnError('SOURCE_UNREACHABLE', `${tool}: ${line}`, { hint: 'check that the server runs and that host, port and firewall allow the connection' });
  }
  return new CairnError('SOURCE_UNREACHABLE', `${tool} failed: ${line}`, { hint: 'run with --verbose, and see the server log' });
}

/** Server facts every operation checks first; refuses a server with binary logging off. */
export interface ServerInfo {
  serverId: number;
  version: string;
  hostname: string;
  port: number;
  binlogFormat: string;
}

export async function serverInfo(client: MyClient, loc: MyLocation): Promise<ServerInfo> {
  const [row] = await client.query(loc, 'SELECT @@log_bin, @@server_id, @@version, @@hostname, @@port, @@binlog_format');
  if (!row || row.length < 6) throw new CairnError('SOURCE_UNREACHABLE', `unexpected answer from ${loc.display}`);
  const [logBin, serverId, version, hostname, port, format] = row as [string, string, string, string, string, string];
  if (logBin !== '1' && logBin.toUpperCase() !== 'ON') {
    throw new CairnError('BINLOG_DISABLED', `binary logging is off on ${loc.display} (@@log_bin = 0): point-in-time recovery and consistent dump coordinates need it`, {
      hint: 'add to the [mariadbd] (MySQL: [mysqld]) section of my.cnf: log_bin = mysql-bin, server_id = 1, binlog_format = ROW; then restart the server (docs/sources/mariadb.md)',
    });
  }
  return { serverId: Number(serverId), version, hostname, port: Number(port), binlogFormat: format };
}
