import { execFile, execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { existsSync, promises as fsp } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from './free-port.js';

/**
 * A private MariaDB server for tests (docs: /work/shared/notes/data-stores.md): a data
 * directory in a temp dir, a free port on 127.0.0.1, root without password, binlog on
 * (ROW) unless `binlog: false`. Never touches the machine's shared server.
 */
export function mariadbUnavailable(): string | null {
  for (const b of ['mariadbd', 'mariadb-install-db', 'mariadb', 'mariadb-dump', 'mariadb-binlog']) {
    try {
      execFileSync('sh', ['-c', `command -v ${b} || test -x /usr/sbin/${b}`]);
    } catch {
      return `${b} not installed`;
    }
  }
  return null;
}

const MARIADBD = existsSync('/usr/sbin/mariadbd') ? '/usr/sbin/mariadbd' : 'mariadbd';

export interface MariadbServer {
  dir: string;
  port: number;
  url: string;
  sql(q: string): Promise<string>;
  restart(): Promise<void>;
  stop(): Promise<void>;
}

/** With `dataDir`: start on an existing data directory (a restored one) instead of a new one. */
export async function startMariadb(opts: { binlog?: boolean; dataDir?: string } = {}): Promise<MariadbServer> {
  const dir = await fsp.mkdtemp(join(tmpdir(), 'cairn-mariadb-test-'));
  const data = opts.dataDir ?? join(dir, 'data');
  const install = ['--no-defaults', `--datadir=${data}`, '--user=root', '--auth-root-authentication-method=normal', '--skip-test-db'];
  for (let attempt = 1; !opts.dataDir; attempt++) {
    try {
      execFileSync('mariadb-install-db', install, { stdio: ['ignore', 'ignore', 'pipe'] });
      break;
    } catch (err) {
      if (attempt >= 3) throw new Error(`mariadb-install-db failed: ${String((err as { stderr?: Buffer }).stderr ?? err)}`);
      await fsp.rm(data, { recursive: true, force: true });
    }
  }
  const port = await freePort();
  let child: ChildProcess | null = null;
  const args = [
    '--no-defaults',
    `--datadir=${data}`,
    `--port=${port}`,
    '--bind-address=127.0.0.1',
    `--socket=${join(dir, 's.sock')}`,
    '--user=root',
    '--server-id=1',
    '--innodb-flush-log-at-trx-commit=2',
    '--skip-name-resolve',
    ...(opts.binlog === false ? [] : [`--log-bin=${join(data, 'binlog')}`, '--binlog-format=ROW']),
  ];
  const sql = (q: string): Promise<string> =>
    new Promise((resolve, reject) =>
      execFile('mariadb', ['-h', '127.0.0.1', '-P', String(port), '-u', 'root', '--protocol=TCP', '-N', '-B', '-e', q], { encoding: 'utf8' }, (err, out, errOut) => (err ? reject(new Error(errOut || err.message)) : resolve(out))),
    );
  const start = async (): Promise<void> => {
    child = spawn(MARIADBD, args, { stdio: 'ignore' });
    for (let i = 0; i < 200; i++) {
      try {
        await sql('SELECT 1');
        return;
      } catch {
        await new Promise((r) => setTimeout(r, 100));
      }
    }
    throw new Error('mariadbd did not start');
  };
  const stopServer = async (): Promise<void> => {
    const c = child;
    child = null;
    if (!c || c.exitCode !== null) return;
    const done = new Promise((r) => c.once('exit', r));
    c.kill('SIGTERM');
    await done;
  };
  await start();
  return {
    dir,
    port,
    url: `mariadb://root@127.0.0.1:${port}/`,
    sql,
    restart: async () => {
      await stopServer();
      await start();
    },
    stop: async () => {
      await stopServer();
      await fsp.rm(dir, { recursive: true, force: true });
    },
  };
}
