import { execFile, spawn, type ChildProcess, type SpawnOptions } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { CairnError } from '../../core/errors/index.js';

/** Where the PostgreSQL client binaries are looked for when CAIRN_PG_BIN is not set. */
const DEFAULT_BIN_DIRS = ['/usr/lib/postgresql/17/bin', '/usr/lib/postgresql/16/bin', '/usr/lib/postgresql/15/bin', '/usr/pgsql-15/bin'];

export interface RunOptions {
  env?: Record<string, string | undefined>;
  timeoutMs?: number;
  /** Run as this user (pg_ctl refuses root). */
  uid?: number;
  gid?: number;
  /** Exit codes that are not failures (pg_waldump exits 1 at the end of valid WAL). */
  okCodes?: number[];
  cwd?: string;
}

/**
 * Runs the PostgreSQL client binaries (pg_basebackup, pg_receivewal, pg_waldump, psql,
 * pg_dump, pg_ctl) and maps their failures to CairnErrors with stable codes and one-line
 * messages: SOURCE_UNREACHABLE when the server cannot be reached (or the tool failed
 * talking to it), SOURCE_CONFIG when it refuses us for a reason the operator must fix
 * (pg_hba, role attributes, wal_level, slots) or a binary is missing.
 */
export class PgClient {
  readonly binDir: string | null;

  constructor(env: Record<string, string | undefined> = process.env) {
    const explicit = env.CAIRN_PG_BIN;
    this.binDir = explicit !== undefined && explicit !== '' ? explicit : (DEFAULT_BIN_DIRS.find((d) => existsSync(join(d, 'pg_basebackup'))) ?? null);
  }

  path(tool: string): string {
    return this.binDir ? join(this.binDir, tool) : tool;
  }

  private missing(tool: string): CairnError {
    return new CairnError('SOURCE_CONFIG', `${tool} not found${this.binDir ? ` in ${this.binDir}` : ' on PATH'}`, {
      hint: 'install the PostgreSQL client binaries (same major version as the server) or set CAIRN_PG_BIN to their directory',
    });
  }

  /** Runs a tool to completion; resolves with stdout. */
  run(tool: string, args: string[], opts: RunOptions = {}): Promise<{ stdout: string; stderr: string; code: number }> {
    const bin = this.path(tool);
    return new Promise((resolve, reject) => {
      execFile(
        bin,
        args,
        {
          env: { ...process.env, PGCONNECT_TIMEOUT: '10', ...opts.env } as NodeJS.ProcessEnv,
          maxBuffer: 256 * 1024 * 1024,
          timeout: opts.timeoutMs ?? 0,
          ...(opts.uid !== undefined ? { uid: opts.uid, gid: opts.gid } : {}),
          ...(opts.cwd ? { cwd: opts.cwd } : {}),
          encoding: 'utf8',
        },
        (err, stdout, stderr) => {
          if (!err) return resolve({ stdout, stderr, code: 0 });
          const e = err as NodeJS.ErrnoException & { code?: string | number };
          if (e.code === 'ENOENT') return reject(this.missing(tool));
          const code = typeof e.code === 'number' ? e.code : -1;
          if (opts.okCodes?.includes(code)) return resolve({ stdout, stderr, code });
          reject(pgToolError(tool, stderr || e.message));
        },
      );
    });
  }

  /** Starts a long-running tool (pg_receivewal). The caller supervises it. */
  spawn(tool: string, args: string[], opts: SpawnOptions & { env?: Record<string, string | undefined> } = {}): ChildProcess {
    const child = spawn(this.path(tool), args, {
      ...opts,
      env: { ...process.env, PGCONNECT_TIMEOUT: '10', ...opts.env } as NodeJS.ProcessEnv,
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    return child;
  }

  /** Whether `tool` exists (checked before starting a long-running process). */
  assertTool(tool: string): void {
    if (this.binDir && !existsSync(this.path(tool))) throw this.missing(tool);
  }
}

const CONFIG_PATTERNS: [RegExp, string][] = [
  [/no pg_hba\.conf entry/i, 'add a `host replication <user> <cairn host>/32 scram-sha-256` line to pg_hba.conf and reload (docs/sources/postgres.md)'],
  [/password authentication failed|authentication failed/i, 'check the user and password in the URL (or ~/.pgpass)'],
  [/must be superuser or replication role|permission denied|must have replication permission|role .* is not permitted/i, 'grant the REPLICATION attribute: ALTER ROLE <user> REPLICATION (docs/sources/postgres.md)'],
  [/wal_level/i, 'set wal_level = replica (or logical) in postgresql.conf and restart the server'],
  [/number of requested standby connections exceeds|max_wal_senders/i, 'raise max_wal_senders in postgresql.conf (cairn needs two: backup and stream)'],
  [/replication slot .* does not exist|max_replication_slots|all replication slots are in use/i, 'check max_replication_slots and the slot name (docs/sources/postgres.md, "Slots")'],
  [/database .* does not exist|role .* does not exist/i, 'check the user and database in the URL'],
];

const UNREACHABLE = /could not connect|connection refused|timeout expired|could not translate host name|Connection timed out|No route to host|server closed the connection|the database system is (starting up|shutting down)/i;

/** A tool's stderr → one CairnError with the first meaningful line. */
export function pgToolError(tool: string, stderr: string): CairnError {
  const line = firstErrorLine(stderr);
  for (const [re, hint] of CONFIG_PATTERNS) {
    if (re.test(stderr)) return new CairnError('SOURCE_CONFIG', `${tool}: ${line}`, { hint });
  }
  if (UNREACHABLE.test(stderr)) {
    return new CairnError('SOURCE_UNREACHABLE', `${tool}: ${line}`, {
      hint: 'check that the server runs and that host, port and firewall allow the connection',
    });
  }
  return new CairnError('SOURCE_UNREACHABLE', `${tool} failed: ${line}`, { hint: 'run with --verbose, and see the server log' });
}

function firstErrorLine(stderr: string): string {
  const lines = stderr
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l !== '');
  const pick = lines.find((l) => /error|fatal/i.test(l)) ?? lines[0] ?? 'failed';
  return pick
    .replace(/^(pg_\w+|psql|pg_dump): (error: )?/, '')
    .replace(/^FATAL:\s+/, '')
    .slice(0, 300);
}
