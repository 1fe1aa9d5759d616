// Running and measuring commands: wall time, peak RSS (GNU time -v), page-cache drops, du.
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

export const GNU_TIME = '/usr/bin/time';

/**
 * Run `cmd args` to completion. With `rssFile`, it runs under `/usr/bin/time -v -o
 * rssFile` and the result carries `rssKiB` ("Maximum resident set size"). Returns
 * { code, signal, seconds, stdout, stderr, rssKiB }; never throws for a failing exit.
 */
export function run(cmd, args, { env, cwd, rssFile, input } = {}) {
  const useTime = rssFile && existsSync(GNU_TIME);
  const file = useTime ? GNU_TIME : cmd;
  const argv = useTime ? ['-v', '-o', rssFile, cmd, ...args] : args;
  return new Promise((resolveRun) => {
    const t0 = process.hrtime.bigint();
    const child = spawn(file, argv, { env, cwd, stdio: ['pipe', 'pipe', 'pipe'] });
    const out = [];
    const err = [];
    child.stdout.on('data', (b) => out.push(b));
    child.stderr.on('data', (b) => err.push(b));
    child.on('error', (e) => err.push(Buffer.from(String(e))));
    child.stdin.end(input ?? '');
    child.on('close', (code, signal) => {
      const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
      let rssKiB = null;
      if (useTime && existsSync(rssFile)) {
        const text = readFileSync(rssFile, 'utf8');
        const m = /Maximum resident set size \(kbytes\): (\d+)/.exec(text);
        if (m) rssKiB = Number(m[1]);
        // GNU time reports "Command exited with non-zero status N" as its own exit code too.
        rmSync(rssFile, { force: true });
      }
      resolveRun({
        code, signal, seconds, rssKiB,
        stdout: Buffer.concat(out).toString('utf8'),
        stderr: Buffer.concat(err).toString('utf8'),
      });
    });
  });
}

/** Synchronous helper for short informational commands: stdout trimmed, or null on failure. */
export function capture(cmd, args, opts = {}) {
  const r = spawnSync(cmd, args, { encoding: 'utf8', ...opts });
  return r.status === 0 ? r.stdout.trim() : null;
}

export function commandExists(name) {
  return spawnSync('sh', ['-c', `command -v "$1"`, 'sh', name], { encoding: 'utf8' }).status === 0;
}

function cachedKiB() {
  try {
    const m = /^Cached:\s+(\d+) kB/m.exec(readFileSync('/proc/meminfo', 'utf8'));
    return m ? Number(m[1]) : null;
  } catch {
    return null;
  }
}

/**
 * `sync; echo 3 > /proc/sys/vm/drop_caches`. Returns { ok, note }: ok when the write
 * succeeded (the kernel's page cache really shrank is checked via /proc/meminfo and
 * mentioned in the note). Failure (not root, read-only /proc in a container) is not an
 * error: the step then runs with warm caches, and the report says so.
 */
export function dropCaches() {
  spawnSync('sync');
  const before = cachedKiB();
  try {
    writeFileSync('/proc/sys/vm/drop_caches', '3\n');
  } catch (e) {
    return { ok: false, note: `cannot drop page caches (${e.code ?? e.message}): figures are warm-cache` };
  }
  const after = cachedKiB();
  return { ok: true, note: before != null && after != null ? `page cache ${Math.round(before / 1024)} -> ${Math.round(after / 1024)} MiB` : 'dropped' };
}

/** `du -sb dir` in bytes (apparent size, like the reference figures), or null. */
export function duBytes(dir) {
  const out = capture('du', ['-sb', dir]);
  return out ? Number(out.split(/\s/)[0]) : null;
}

export function tail(text, lines = 8) {
  return text.trimEnd().split('\n').slice(-lines).join('\n');
}

export { join };
