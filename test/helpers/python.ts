import { execFile } from 'node:child_process';
import { promisify } from 'node:util';

const run = promisify(execFile);
let exe: Promise<string> | undefined;

/**
 * The real python3 interpreter. `python3` on PATH may be a version-manager shim (pyenv)
 * costing ~0.3 s per start; asking it once for sys.executable keeps the tests fast.
 */
export function python(): Promise<string> {
  exe ??= run('python3', ['-S', '-c', 'import sys; print(sys.executable)']).then(
    ({ stdout }) => stdout.trim() || 'python3',
    () => 'python3',
  );
  return exe;
}

/** Runs python (no site packages: the helpers use the standard library only). */
export async function runPython(args: string[], maxBuffer = 256 * 1024 * 1024): Promise<string> {
  const { stdout } = await run(await python(), ['-S', ...args], { maxBuffer });
  return stdout;
}
