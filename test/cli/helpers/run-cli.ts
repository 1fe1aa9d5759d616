import { main, type MainOptions } from '../../../src/cli/main.js';
import type { CliReadable, CliWritable } from '../../../src/cli/cli-deps.js';
import { FakeClock } from '../../../src/core/clock.js';
import type { Engine } from '../../../src/engine/types.js';

export class Sink implements CliWritable {
  chunks: (string | Uint8Array)[] = [];
  isTTY = false;
  write(chunk: string | Uint8Array, cb?: (err?: Error | null) => void): boolean {
    this.chunks.push(chunk);
    cb?.();
    return true;
  }
  text(): string {
    return this.chunks.map((c) => (typeof c === 'string' ? c : Buffer.from(c).toString('latin1'))).join('');
  }
  bytes(): Buffer {
    return Buffer.concat(this.chunks.map((c) => (typeof c === 'string' ? Buffer.from(c) : Buffer.from(c))));
  }
}

/** A stdin that is not a terminal (or is, with scripted keystrokes). */
export function fakeStdin(opts: { tty?: boolean; keys?: string[] } = {}): CliReadable {
  const listeners = new Set<(c: string | Buffer) => void>();
  const keys = [...(opts.keys ?? [])];
  return {
    isTTY: opts.tty ?? false,
    isRaw: false,
    setRawMode() {},
    setEncoding() {},
    on(_e: 'data', l: (c: string | Buffer) => void) {
      listeners.add(l);
    },
    off(_e: 'data', l: (c: string | Buffer) => void) {
      listeners.delete(l);
    },
    resume() {
      const k = keys.shift();
      if (k !== undefined) queueMicrotask(() => listeners.forEach((l) => l(k)));
    },
    pause() {},
  };
}

export interface CliRun {
  code: number;
  stdout: string;
  stderr: string;
  stdoutBytes: Buffer;
}

/** Runs main() in-process with these options and captures its output and exit code. */
export async function captureMain(args: string[], options: Omit<MainOptions, 'stdout' | 'stderr' | 'exit'>): Promise<CliRun> {
  const stdout = new Sink();
  const stderr = new Sink();
  let code = -1;
  await main(['node', 'cairn', ...args], {
    stdin: fakeStdin(),
    signal: new AbortController().signal,
    ...options,
    stdout,
    stderr,
    exit: (c) => {
      code = c;
    },
  });
  return { code, stdout: stdout.text(), stderr: stderr.text(), stdoutBytes: stdout.bytes() };
}

/** Runs main() in-process against an injected engine and captures everything. */
export async function runCli(
  args: string[],
  opts: { engine?: Engine; env?: Record<string, string | undefined>; stdin?: CliReadable; signal?: AbortSignal; cwd?: string } = {},
): Promise<CliRun> {
  return captureMain(args, {
    ...(opts.stdin ? { stdin: opts.stdin } : {}),
    ...(opts.signal ? { signal: opts.signal } : {}),
    env: opts.env ?? { CAIRN_REPO: '/repo', CAIRN_PASSWORD: 'secret', HOME: '/home/t' },
    cwd: opts.cwd ?? '/work',
    homedir: '/home/t',
    clock: new FakeClock('2026-01-05T00:00:00Z'),
    loadEngine: async () => {
      if (!opts.engine) throw new Error('test engine not supplied');
      return opts.engine;
    },
  });
}
