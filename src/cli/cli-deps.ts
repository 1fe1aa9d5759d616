import { homedir } from 'node:os';
import type { Clock } from '../core/clock.js';
import { systemClock } from '../core/clock.js';
import { CairnError } from '../core/errors/index.js';
import type { Engine } from '../engine/types.js';
import type { RetryInfo } from '../engine/create-engine.js';

/** The stream shape the CLI writes to: process.stdout/stderr or a test sink. */
export interface CliWritable {
  write(chunk: string | Uint8Array, cb?: (err?: Error | null) => void): boolean;
  isTTY?: boolean;
  columns?: number;
}

/** The stream shape password prompts read from: process.stdin or a test fake. */
export interface CliReadable {
  isTTY?: boolean;
  isRaw?: boolean;
  setRawMode?(mode: boolean): unknown;
  setEncoding?(encoding: BufferEncoding): unknown;
  on(event: 'data', listener: (chunk: string | Buffer) => void): unknown;
  off(event: 'data', listener: (chunk: string | Buffer) => void): unknown;
  resume(): unknown;
  pause(): unknown;
}

/**
 * Everything the CLI touches outside itself, injected so that commands run in-process
 * in tests: streams, environment, working directory, clock, cancellation and the engine.
 */
export interface CliDeps {
  /** Loaded lazily so that `--help` and usage errors never load the engine. */
  loadEngine(opts: { clock: Clock; env?: Record<string, string | undefined>; onRetry?: (info: RetryInfo) => void }): Promise<Engine>;
  stdout: CliWritable;
  stderr: CliWritable;
  stdin: CliReadable;
  env: Record<string, string | undefined>;
  cwd: string;
  homedir: string;
  clock: Clock;
  /** Aborted on SIGINT/SIGTERM; passed to every long-running engine call. */
  signal: AbortSignal;
}

/** Real process streams and environment; the engine loader must be supplied by the caller. */
export function defaultCliDeps(overrides: Partial<CliDeps> = {}): CliDeps {
  return {
    loadEngine: () =>
      Promise.reject(new CairnError('INTERNAL', 'no engine loader configured for this program')),
    stdout: process.stdout,
    stderr: process.stderr,
    stdin: process.stdin,
    env: process.env,
    cwd: process.cwd(),
    homedir: homedir(),
    clock: systemClock,
    signal: new AbortController().signal,
    ...overrides,
  };
}
