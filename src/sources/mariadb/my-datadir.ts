import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { chown, mkdir, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { CairnError } from '../../core/errors/index.js';
import { lookupUser } from '../postgres/pg-restore.js';
import { missing } from './my-client.js';
import { parseMyLocation, type MyLocation } from './my-location.js';

/** Where mariadbd is looked for (it is usually in /usr/sbin, not on a user's PATH). */
export function findServerBinary(): string {
  for (const d of [...(process.env.PATH ?? '').split(':'), '/usr/sbin', '/usr/libexec', '/usr/local/sbin']) {
    if (d && existsSync(join(d, 'mariadbd'))) return join(d, 'mariadbd');
  }
  throw missing('mariadbd');
}

/** The directory must not exist or be empty: cairn never writes over a data directory. */
export async function assertEmptyDir(dir: string): Promise<void> {
  try {
    if ((await readdir(dir)).length > 0) throw new CairnError('USAGE', `--target ${dir} is not empty`, { hint: 'restore a data directory into a new or empty directory' });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
}

export interface TempServer {
  loc: MyLocation;
  stop(): Promise<void>;
}

/**
 * A fresh data directory (mariadb-install-db) and a private mariadbd on it for loading:
 * no networking (a socket inside the directory), no grant checks, no binlog. Stopped
 * cleanly afterwards; the directory is then handed to user `mysql` when run as root.
 * With `existing`, the directory already holds a data directory (a physical base moved
 * into place): no install, and the server reads only `defaultsFile` (the InnoDB
 * settings mariadb-backup recorded in backup-my.cnf, which the files must be opened with).
 */
export async function startTempServer(dir: string, existing?: { defaultsFile: string }): Promise<TempServer> {
  const mariadbd = findServerBinary();
  await mkdir(dir, { recursive: true, mode: 0o750 });
  const asRoot = process.getuid?.() === 0;
  const user = asRoot ? ['--user=root'] : [];
  if (!existing) await run('mariadb-install-db', ['--no-defaults', `--datadir=${dir}`, ...user, '--auth-root-authentication-method=normal', '--skip-test-db']);
  const socket = join(dir, 'cairn-restore.sock');
  const child: ChildProcess = spawn(
    mariadbd,
    [existing ? `--defaults-file=${existing.defaultsFile}` : '--no-defaults', `--datadir=${dir}`, '--skip-networking', `--socket=${socket}`, `--pid-file=${join(dir, 'cairn-restore.pid')}`, '--skip-grant-tables', '--skip-log-bin', ...user],
    { stdio: ['ignore', 'ignore', 'pipe'] },
  );
  let log = '';
  child.stderr!.on('data', (d: Buffer) => (log = (log + d.toString()).slice(-4000)));
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  const loc = parseMyLocation(`mariadb://root@localhost/?socket=${encodeURIComponent(socket)}`);
  for (let i = 0; ; i++) {
    if (child.exitCode !== null) throw new CairnError('SOURCE_UNREACHABLE', `mariadbd on ${dir} exited at start: ${log.split('\n').filter((l) => /ERROR/.test(l))[0] ?? log.slice(-300)}`);
    if (existsSync(socket)) break;
    if (i > 600) throw new CairnError('SOURCE_UNREACHABLE', `mariadbd on ${dir} did not start within 60 s`);
    await new Promise((r) => setTimeout(r, 100));
  }
  return {
    loc,
    async stop() {
      if (child.exitCode === null) {
        child.kill('SIGTERM');
        await exited;
      }
      const owner = asRoot ? lookupUser('mysql') : null;
      if (owner) await chownTree(dir, owner.uid, owner.gid);
    },
  };
}

async function chownTree(dir: string, uid: number, gid: number): Promise<void> {
  await chown(dir, uid, gid);
  for (const e of await readdir(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) await chownTree(p, uid, gid);
    else await chown(p, uid, gid);
  }
}

export function run(tool: string, args: string[]): Promise<void> {
  return new Promise((resolve, reject) =>
    execFile(tool, args, { encoding: 'utf8' }, (err, _out, stderr) => {
      if (!err) return resolve();
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return reject(missing(tool));
      reject(new CairnError('SOURCE_UNREACHABLE', `${tool} failed: ${(stderr || err.message).trim().split('\n').slice(-1)[0]}`));
    }),
  );
}
