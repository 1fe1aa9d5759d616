import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';

/**
 * The pid file of a client tool a streamer supervises (pg_receivewal, mariadb-binlog),
 * kept in the spool. A streamer killed with SIGKILL leaves its child running (no Node API
 * makes a child die with its parent), and that orphan holds the replication slot or
 * keeps appending to the spool; the next start stops it first.
 */
export function recordChildPid(spoolDir: string, pidFile: string, pid: number | undefined): void {
  if (pid) void writeFile(join(spoolDir, pidFile), `${pid}\n`).catch(() => undefined);
}

/**
 * Stops the process named in the pid file if it is still `tool` writing to `spoolDir`
 * (checked in /proc, so a reused pid of another program is never signalled): `signal`
 * first (the tool's clean stop), SIGKILL after `graceMs`.
 */
export async function stopLeftoverChild(opts: {
  spoolDir: string;
  pidFile: string;
  tool: string;
  signal: NodeJS.Signals;
  graceMs: number;
  onWarning?: (message: string) => void;
}): Promise<void> {
  const pid = Number((await readFile(join(opts.spoolDir, opts.pidFile), 'utf8').catch(() => '')).trim());
  if (!Number.isInteger(pid) || pid <= 1) return;
  const cmdline = (pid: number) => readFile(`/proc/${pid}/cmdline`, 'utf8').catch(() => '');
  const seen = await cmdline(pid);
  if (!seen.includes(opts.tool) || !seen.includes(opts.spoolDir)) return;
  opts.onWarning?.(`stopping ${opts.tool} ${pid} left behind by a streamer that was killed`);
  try {
    process.kill(pid, opts.signal);
  } catch {
    return;
  }
  for (let waited = 0; waited < opts.graceMs; waited += 100) {
    if (!(await cmdline(pid))) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  try {
    process.kill(pid, 'SIGKILL');
  } catch {
    // gone meanwhile
  }
}
