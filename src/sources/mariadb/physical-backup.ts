import { execFile } from 'node:child_process';
import { constants, existsSync } from 'node:fs';
import { access, readdir, readFile } from 'node:fs/promises';
import { hostname as osHostname } from 'node:os';
import { join } from 'node:path';
import { CairnError } from '../../core/errors/index.js';
import type { MyClient } from './my-client.js';
import type { MyLocation } from './my-location.js';

export const BACKUP_TOOL = 'mariadb-backup';

/** mariadb-backup on PATH (Debian ships it in its own package, not with the server). */
export function findBackupTool(purpose = 'physical backups (?method=physical) need it'): string {
  for (const d of (process.env.PATH ?? '').split(':')) {
    if (d && existsSync(join(d, BACKUP_TOOL))) return join(d, BACKUP_TOOL);
  }
  throw new CairnError('SOURCE_CONFIG', `${BACKUP_TOOL} not found on PATH: ${purpose}`, {
    hint: 'install it on the database host, the same version as the server: apt-get install mariadb-backup (or omit ?method=physical for a logical dump)',
  });
}

/**
 * mariadb-backup copies the server's files, so cairn must run on the server's host with
 * read access to its data directory. The server's @@hostname must be this host's, and
 * @@datadir must exist here and be readable.
 */
export async function checkLocalDatadir(datadir: string, serverHost: string, display: string, localHost = osHostname()): Promise<void> {
  const hint = 'run cairn backup on the database host as root (or the server\'s user), or omit ?method=physical for a logical dump over the network';
  if (serverHost !== localHost) {
    throw new CairnError('SOURCE_CONFIG', `physical backup of ${display}: the server runs on host "${serverHost}", not on this one ("${localHost}"); mariadb-backup needs its data directory locally`, { hint });
  }
  try {
    await access(datadir, constants.R_OK | constants.X_OK);
    await readdir(datadir);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    const why = code === 'ENOENT' ? 'does not exist on this host' : code === 'EACCES' || code === 'EPERM' ? `is not readable by uid ${process.getuid?.() ?? '?'}` : `cannot be read (${code ?? String(err)})`;
    throw new CairnError('SOURCE_CONFIG', `physical backup of ${display}: its data directory ${datadir} ${why}`, { hint });
  }
}

export interface PhysicalCopy {
  datadir: string;
  binlogFile: string;
  binlogPos: number;
  gtid: string | null;
  /** `mariadb-backup --version`, first line: a restore needs the same server version. */
  tool: string;
}

/**
 * `mariadb-backup --backup --target-dir=DIR`, then `--prepare` right away: the copy
 * stored is a consistent data directory that a restore only has to move into place.
 * Preparing here rather than at restore time uses the very mariadb-backup that took
 * the copy (prepare must match its version), finds a broken copy when the backup is
 * taken instead of during a recovery, and keeps restores short. The binlog coordinates
 * come from the file mariadb-backup writes under its BACKUP STAGE BLOCK_COMMIT lock
 * (xtrabackup_binlog_info; mariadb_backup_binlog_info in 11.x): replay starts there.
 */
export async function takePhysicalCopy(client: MyClient, loc: MyLocation, dir: string, info: { hostname: string }): Promise<PhysicalCopy> {
  const tool = findBackupTool();
  const [row] = await client.query(loc, 'SELECT @@datadir');
  const datadir = (row?.[0] ?? '').replace(/\/+$/, '') || '/';
  await checkLocalDatadir(datadir, info.hostname, loc.display);
  // The admin's option files apply (the server's [mysqld] settings describe its InnoDB
  // files); the data directory is the running server's, whatever they say.
  await client.run(tool, ['--backup', `--datadir=${datadir}`, `--target-dir=${dir}`, ...client.connArgs(loc)], loc);
  await client.run(tool, ['--prepare', `--target-dir=${dir}`], loc);
  const text = await readFile(join(dir, 'mariadb_backup_binlog_info'), 'utf8').catch(() => readFile(join(dir, 'xtrabackup_binlog_info'), 'utf8').catch(() => ''));
  const [file, pos, gtid] = text.trim().split(/\s+/);
  if (!file || !/^\d+$/.test(pos ?? '')) {
    throw new CairnError('SOURCE_UNREACHABLE', `${BACKUP_TOOL} recorded no binlog coordinates (xtrabackup_binlog_info)`, { hint: 'check that binary logging is on; see the mariadb-backup output with --verbose' });
  }
  // It prints its version on stderr.
  const version = await new Promise<string>((r) => execFile(tool, ['--version'], { encoding: 'utf8' }, (_e, out, err) => r(`${out}${err}`.trim().split('\n')[0] ?? '')));
  return { datadir, binlogFile: file, binlogPos: Number(pos), gtid: gtid || null, tool: version || BACKUP_TOOL };
}
